"""`bpp apikey …` and `bpp keys …`: organisations' API keys and signing keys."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from backend.admin import open_admin
from backend.kit.errors import DomainError
from backend.orgs.apikeys import parse_api_key
from backend.orgs.roles import CREDENTIAL_ISSUERS, Role
from backend.orgs.service import (
    create_api_key,
    get_or_create_organisation,
    revoke_api_key,
    validate_slug,
)
from backend.platform import PlatformIdentity
from backend.settings import DEFAULT_PORT, Settings
from credentials.errors import CredentialError
from credentials.keys import parse_algorithm

apikey_app = typer.Typer(help="API keys of organisations' machine clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Organisations' signing keys (the key store).", no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organisation slug, e.g. acme-cells.")]


def _settings() -> Settings:
    from backend.cli import load_settings

    return load_settings()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[Role, typer.Option("--role", help="The key's role.")],
    org: OrgOption,
    name: Annotated[str | None, typer.Option("--name", help="Organisation display name.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="What the key is for.")] = None,
) -> None:
    """Create an API key (and the organisation, with its DID and key, if needed).

    The key is printed once, on the last line; only a keyed hash of it is stored.
    """
    settings = _settings()

    async def run() -> tuple[str, str, str]:
        async with open_admin(settings) as admin:
            async with admin.db.unit_of_work() as session:
                organisation = await get_or_create_organisation(session, org, name)
                _, plaintext = await create_api_key(
                    session, organisation, role, settings.secret_key.get_secret_value(), label
                )
            did = (
                admin.platform.did
                if role is Role.PLATFORM
                else admin.platform.organisation_did(org)
            )
            if role in CREDENTIAL_ISSUERS:
                admin.platform.ensure_key(did)
            return organisation.slug, did, plaintext

    try:
        slug, did, plaintext = asyncio.run(run())
    except DomainError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"organisation: {slug}")
    typer.echo(f"role: {role.value}")
    typer.echo(f"did: {did}")
    typer.echo(plaintext)


@apikey_app.command("revoke")
def apikey_revoke(
    key: Annotated[str, typer.Argument(help="The key itself, or its 8-character prefix.")],
) -> None:
    """Revoke an API key: it stops working at once."""
    prefix = parse_api_key(key) or key
    settings = _settings()

    async def run() -> None:
        async with open_admin(settings) as admin, admin.db.unit_of_work() as session:
            await revoke_api_key(session, prefix)

    try:
        asyncio.run(run())
    except DomainError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"revoked API key {prefix}")


def _platform(settings: Settings) -> PlatformIdentity:
    return PlatformIdentity.load(settings, settings.public_base_url_for(DEFAULT_PORT))


def _org_did(org: str, settings: Settings) -> str:
    try:
        validate_slug(org)
    except DomainError as exc:
        raise _fail(exc.message) from None
    platform = _platform(settings)
    return platform.did if org == "platform" else platform.organisation_did(org)


def _print_keys(did: str, settings: Settings, as_json: bool) -> None:
    platform = _platform(settings)
    records = platform.keystore.list(did)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "key_id": r.key_id,
                        "algorithm": r.algorithm.value,
                        "public_multikey": r.public_multikey,
                        "created": r.created,
                        "retired": r.retired,
                    }
                    for r in records
                ],
                indent=2,
            )
        )
        return
    for r in records:
        state = f"retired {r.retired}" if r.retired else "active"
        typer.echo(f"{r.key_id}  {r.algorithm.value}  {state}")


@keys_app.command("create")
def keys_create(
    org: OrgOption,
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="P-256, P-384 or Ed25519.")
    ] = "P-256",
) -> None:
    """Create a signing key for an organisation's DID (`platform` = the platform's own DID)."""
    settings = _settings()
    did = _org_did(org, settings)
    platform = _platform(settings)
    try:
        record = platform.keystore.create(did, parse_algorithm(algorithm))
    except CredentialError as exc:
        raise _fail(exc.message) from None
    typer.echo(record.key_id)


@keys_app.command("list")
def keys_list(
    org: OrgOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List an organisation's keys, retired ones included."""
    settings = _settings()
    _print_keys(_org_did(org, settings), settings, as_json)


@keys_app.command("rotate")
def keys_rotate(
    org: OrgOption,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", help="Default: as before.")
    ] = None,
) -> None:
    """Retire the organisation's active key and create a new one.

    The retired key stays in the DID document, so credentials it signed still verify.
    """
    settings = _settings()
    did = _org_did(org, settings)
    platform = _platform(settings)
    try:
        record = platform.keystore.rotate(did, parse_algorithm(algorithm) if algorithm else None)
    except CredentialError as exc:
        raise _fail(exc.message) from None
    typer.echo(record.key_id)
