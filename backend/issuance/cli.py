"""`bpp credentials …`: verify (offline with a snapshot), take a snapshot, issue."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from backend.issuance.service import CredentialFormat
from backend.kit.errors import DomainError
from credentials.dataintegrity import Cryptosuite, parse_cryptosuite
from credentials.errors import CredentialError
from credentials.issuance import assign_issuer
from credentials.limits import parse_json_bounded
from credentials.snapshot import AccreditationRecord, Snapshot, write_snapshot
from credentials.verifier import (
    PLATFORM_POLICY,
    VC_API_POLICY,
    CheckStatus,
    VerificationResult,
    Verifier,
)

credentials_app = typer.Typer(help="Issue and verify credentials.", no_args_is_help=True)

EXIT_VERIFIED, EXIT_FAILED, EXIT_USAGE, EXIT_UNDETERMINED = 0, 1, 2, 3
POLICIES = {"vc-api": VC_API_POLICY, "platform": PLATFORM_POLICY}


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _read_document(source: str) -> Any:
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise _usage_error(f"cannot read {source}: {exc.strerror}") from None
    try:
        return parse_json_bounded(raw)
    except CredentialError as exc:
        raise _usage_error(f"{source}: {exc.message}") from None


async def _http_fetch(url: str) -> Any:
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            reply = await client.get(
                url, headers={"Accept": "application/json, application/statuslist+jwt"}
            )
    except httpx.HTTPError as exc:
        raise CredentialError(f"cannot fetch {url}: {type(exc).__name__}") from None
    if reply.status_code != 200:
        raise CredentialError(f"{url} answered {reply.status_code}")
    if reply.headers.get("content-type", "").startswith("application/statuslist+jwt"):
        return reply.text.strip()  # a Token Status List: the verifier parses the JWT
    return parse_json_bounded(reply.content)


async def _offline_fetch(url: str) -> Any:
    raise CredentialError(f"{url} is outside data: give --snapshot DIR or --online")


def exit_code(result: VerificationResult) -> int:
    if result.verified:
        return EXIT_VERIFIED
    if any(check.status is CheckStatus.FAIL for check in result.checks):
        return EXIT_FAILED
    return EXIT_UNDETERMINED


@credentials_app.command("verify")
def verify(
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="A credential or presentation.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the verifier's JSON result.")
    ] = False,
    snapshot: Annotated[
        Path | None, typer.Option("--snapshot", help="Verify offline from this snapshot.")
    ] = None,
    online: Annotated[
        bool, typer.Option("--online", help="Fetch DID documents and status lists over HTTP.")
    ] = False,
    challenge: Annotated[str | None, typer.Option("--challenge")] = None,
    domain: Annotated[str | None, typer.Option("--domain")] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="vc-api (schema, signature, validity, status) or platform (also issuer "
            "accreditation, as the platform's services require).",
        ),
    ] = "vc-api",
) -> None:
    """Verify a credential or presentation: exit 0 verified, 1 failed, 3 undetermined.

    Without --snapshot or --online nothing outside the file is consulted, so a required check
    that needs outside data (a did:web key, a status list) is `unknown`.
    """
    if snapshot is not None and online:
        raise _usage_error("--snapshot and --online exclude each other")
    if policy not in POLICIES:
        raise _usage_error(f"--policy is one of {', '.join(POLICIES)}")
    document = _read_document(source)
    if snapshot is not None:
        try:
            snap = Snapshot(snapshot)
        except CredentialError as exc:
            raise _usage_error(exc.message) from None
        verifier = Verifier(fetcher=snap, accreditation=snap, snapshot=snap)
    else:
        verifier = Verifier(fetcher=_http_fetch if online else _offline_fetch)
    result = asyncio.run(
        verifier.verify(document, challenge=challenge, domain=domain, policy=POLICIES[policy])
    )
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        typer.echo("verified" if result.verified else "NOT verified")
        for check in result.checks:
            typer.echo(f"  {check.status.value:<8} {check.name}: {check.reason}")
    raise typer.Exit(exit_code(result))


@credentials_app.command("snapshot")
def snapshot(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the snapshot to.")],
    server: Annotated[
        str | None, typer.Option("--server", help="Platform URL (default: this data dir's).")
    ] = None,
) -> None:
    """Take a snapshot (status lists and DID documents) for offline verification."""
    from backend.cli import load_settings
    from backend.settings import DEFAULT_PORT

    base = (server or load_settings().public_base_url_for(DEFAULT_PORT)).rstrip("/")

    async def take() -> tuple[dict[str, Any], list[AccreditationRecord] | None]:
        index = await _http_fetch(f"{base}/snapshot/index.json")
        urls = index.get("documents") if isinstance(index, dict) else None
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise CredentialError(f"{base}/snapshot/index.json is not a snapshot index")
        documents = await asyncio.gather(*(_http_fetch(url) for url in urls))
        issuers = index.get("issuers")
        records = None
        if isinstance(issuers, list):
            try:
                records = [
                    AccreditationRecord(
                        issuer=str(item["issuer"]),
                        credential_types=tuple(item["credential_types"]),
                        valid_from=item.get("valid_from"),
                        valid_until=item.get("valid_until"),
                    )
                    for item in issuers
                ]
            except (KeyError, TypeError):
                raise CredentialError("the snapshot index has malformed issuer records") from None
        return dict(zip(urls, documents, strict=True)), records

    taken_at = datetime.now(UTC)
    try:
        documents, issuers = asyncio.run(take())
        write_snapshot(out, documents, taken_at=taken_at, issuers=issuers)
    except CredentialError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    accredited = "" if issuers is None else f" and {len(issuers)} issuer registry entries"
    typer.echo(f"snapshot of {len(documents)} documents{accredited} written to {out}")


@credentials_app.command("issue")
def issue(
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="An unsigned credential.")],
    org: Annotated[str, typer.Option("--org", help="Sign as this organisation (slug).")],
    cryptosuite: Annotated[
        str, typer.Option("--cryptosuite", help="Data Integrity cryptosuite.")
    ] = Cryptosuite.ECDSA_RDFC_2019.value,
    credential_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="data-integrity (a proof, default), vc+jwt or dc+sd-jwt (printed as an "
            "EnvelopedVerifiableCredential).",
        ),
    ] = CredentialFormat.DATA_INTEGRITY.value,
    holder_jwk: Annotated[
        Path | None,
        typer.Option("--holder-jwk", help="dc+sd-jwt: the holder's public JWK (JSON file)."),
    ] = None,
) -> None:
    """Sign a credential as an organisation and print it (JSON)."""
    from backend.admin import open_admin
    from backend.cli import load_settings

    document = _read_document(source)
    if not isinstance(document, dict):
        raise _usage_error("a credential is a JSON object")
    try:
        suite = parse_cryptosuite(cryptosuite)
        chosen = CredentialFormat(credential_format)
    except CredentialError as exc:
        raise _usage_error(exc.message) from None
    except ValueError:
        known = "|".join(f.value for f in CredentialFormat)
        raise _usage_error(f"--format is one of {known}") from None
    if chosen is not CredentialFormat.DATA_INTEGRITY and cryptosuite != Cryptosuite.ECDSA_RDFC_2019:
        raise _usage_error("--cryptosuite is for --format data-integrity only")
    jwk = None
    if holder_jwk is not None:
        jwk = _read_document(str(holder_jwk))
        if not isinstance(jwk, dict):
            raise _usage_error("--holder-jwk is a JWK object")
    settings = load_settings()

    async def run() -> dict[str, Any]:
        async with open_admin(settings) as admin:
            did = admin.platform.did if org == "platform" else admin.platform.organisation_did(org)
            unsigned = assign_issuer(document, did)
            async with admin.db.unit_of_work() as session:
                row = await admin.issuance.issue_credential(
                    session,
                    unsigned,
                    cryptosuite=suite,
                    credential_format=chosen,
                    holder_jwk=jwk,
                )
            return row.document

    try:
        signed = asyncio.run(run())
    except (CredentialError, DomainError) as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(signed, indent=2))
