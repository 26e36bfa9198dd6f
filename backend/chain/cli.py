"""`bpp chain …`: deployments and status list checks against the chain.

Exit codes: 0 done / lists match, 1 lists differ, 2 refused (wrong chain id, bad settings,
unknown issuer or list), 3 undetermined (a publish is still pending), 4 node unreachable.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from backend.chain.errors import ChainError, ChainErrorCode, NodeUnavailableError, WrongChainError

chain_app = typer.Typer(help="On-chain registries: deploy, inspect, rebuild.", no_args_is_help=True)

EXIT_MISMATCH = 1
EXIT_REFUSED = 2
EXIT_PENDING = 3
EXIT_UNREACHABLE = 4


def _fail(exc: ChainError) -> typer.Exit:
    typer.echo(f"error: {exc.chain_code}: {exc.message}", err=True)
    return typer.Exit(EXIT_UNREACHABLE if isinstance(exc, NodeUnavailableError) else EXIT_REFUSED)


@chain_app.command("deploy")
def deploy() -> None:
    """Deploy the registries this chain has no record of and record where they landed.

    Refuses (exit 2) when the node's chain id is not BPP_CHAIN_ID. The IssuerRegistry root is
    BPP_CHAIN_CITY_ROOT, or the `city-root` account of the chain key store.
    """
    from backend.cli import load_settings

    settings = load_settings()

    async def _run() -> dict[str, str]:
        from backend.chain.service import connect_chain
        from backend.kit.db import Database
        from backend.kit.migrations import upgrade_database

        settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        try:
            if settings.is_development or db.is_sqlite:
                await upgrade_database(db.engine)
            chain, _ = await connect_chain(settings)
            try:
                if chain.embedded:
                    raise WrongChainError(
                        "the embedded EVM is deployed at every start; set BPP_CHAIN_RPC_URL"
                    )
                async with db.unit_of_work() as session:
                    new = await chain.deploy_missing(session)
                typer.echo(
                    json.dumps(
                        {"chain_id": chain.chain_id, "deployed": new, "contracts": chain.addresses},
                        indent=2,
                    )
                )
                return new
            finally:
                await chain.close()
        finally:
            await db.dispose()

    try:
        asyncio.run(_run())
    except ChainError as exc:
        raise _fail(exc) from exc


@chain_app.command("rebuild-status-list")
def rebuild_status_list(
    issuer: Annotated[str, typer.Argument(help="Organisation slug, DID or chain address.")],
    list_id: Annotated[str, typer.Argument(metavar="LIST", help="List id (as in the status URL).")],
) -> None:
    """Rebuild a status list from chain events only and compare it with the served list."""
    from backend.cli import load_settings

    settings = load_settings()

    async def _run() -> int:
        from backend.chain.errors import UnknownListError
        from backend.chain.issuers import IssuerAccounts, resolve_issuer
        from backend.chain.rebuild import Outcome, compare_with_served
        from backend.chain.service import connect_chain
        from backend.kit.db import Database
        from backend.platform import PLATFORM_SLUG, PlatformIdentity
        from backend.settings import DEFAULT_PORT

        if settings.uses_embedded_chain:
            raise WrongChainError(
                "the embedded EVM lives inside the server process; set BPP_CHAIN_RPC_URL"
            )
        db = Database(settings.effective_database_url)
        try:
            chain, store = await connect_chain(settings, fund=False)
            try:
                async with db.read_only() as session:
                    await chain.load_deployments(session)
                    start = await chain.deployment_block(session, "StatusListRegistry")
                platform = PlatformIdentity.load(
                    settings, settings.public_base_url_for(DEFAULT_PORT)
                )
                address = await resolve_issuer(
                    issuer,
                    accounts=IssuerAccounts(db, chain, store),
                    organisation_did=None
                    if issuer.startswith(("did:", "0x"))
                    else platform.did
                    if issuer == PLATFORM_SLUG
                    else platform.organisation_did(issuer),
                    platform_did=platform.did,
                )
                try:
                    report = await compare_with_served(
                        db, chain, address, list_id, from_block=start
                    )
                except UnknownListError:
                    # Lists the platform created before it had its own issuer account live
                    # under the relayer.
                    platform_named = issuer in (PLATFORM_SLUG, platform.did)
                    if not platform_named or address == chain.relayer.address:
                        raise
                    report = await compare_with_served(
                        db, chain, chain.relayer.address, list_id, from_block=start
                    )
            finally:
                await chain.close()
        finally:
            await db.dispose()
        typer.echo(json.dumps(report.to_json(), indent=2))
        return {
            Outcome.MATCH: 0,
            Outcome.MISMATCH: EXIT_MISMATCH,
            Outcome.PENDING: EXIT_PENDING,
        }[report.outcome]

    try:
        code = asyncio.run(_run())
    except ChainError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:  # a list id that is no UUID, malformed chain data
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    if code:
        raise typer.Exit(code)


@chain_app.command("accredit")
def accredit(
    issuer: Annotated[str, typer.Argument(help="Organisation slug, DID or chain address.")],
    role: Annotated[str, typer.Argument(help="platform, issuer, manufacturer, inspector, …")],
    days: Annotated[int, typer.Option(min=1, help="Validity window from now, in days.")] = 365,
) -> None:
    """Queue an IssuerRegistry accreditation signed by the city root key this platform holds.

    The server's outbox writer sends it. Refused (exit 2) when the city keeps its root key
    elsewhere (BPP_CHAIN_CITY_ROOT) or the role is unknown.
    """
    import time

    from backend.cli import load_settings

    settings = load_settings()

    async def _run() -> int:
        from backend.chain.accounts import CITY_ROOT
        from backend.chain.errors import NoSignerError
        from backend.chain.models import ChainTransaction
        from backend.chain.service import ACCREDIT_FUNCTION, account_store, accreditation_args
        from backend.kit.db import Database
        from backend.kit.migrations import upgrade_database
        from backend.platform import PLATFORM_SLUG, PlatformIdentity
        from backend.settings import DEFAULT_PORT
        from contracts.issuers import Role

        if settings.chain_city_root:
            raise NoSignerError("the city root key is held outside this platform")
        try:
            chain_role = Role(role)
        except ValueError:
            raise NotRoleError(f"unknown role {role!r}: one of {', '.join(Role)}") from None
        subject = issuer
        if not issuer.startswith(("did:", "0x")):
            platform = PlatformIdentity.load(settings, settings.public_base_url_for(DEFAULT_PORT))
            subject = platform.did if issuer == PLATFORM_SLUG else platform.organisation_did(issuer)
        root = account_store(settings).load_or_create(CITY_ROOT).address
        now = int(time.time())
        db = Database(settings.effective_database_url)
        try:
            if settings.is_development or db.is_sqlite:
                await upgrade_database(db.engine)
            async with db.unit_of_work() as session:
                row = ChainTransaction(
                    contract="IssuerRegistry",
                    function=ACCREDIT_FUNCTION,
                    args=accreditation_args(subject, chain_role, now, now + days * 86_400),
                    sender=root,
                )
                session.add(row)
                await session.flush()
                assert row.id is not None
                typer.echo(
                    json.dumps(
                        {
                            "outbox_row": row.id,
                            "subject": subject,
                            "role": chain_role.value,
                            "valid_from": now,
                            "valid_until": now + days * 86_400,
                        }
                    )
                )
                return row.id
        finally:
            await db.dispose()

    try:
        asyncio.run(_run())
    except ChainError as exc:
        raise _fail(exc) from exc
    except ValueError as exc:  # not an address / DID (contracts.ContractError)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc


class NotRoleError(ChainError):
    """A role name the issuer registry does not know."""

    chain_code = ChainErrorCode.REVERTED


@chain_app.command("outbox")
def outbox_status() -> None:
    """The transaction outbox: rows per status and every row still open or failed."""
    from backend.cli import load_settings

    settings = load_settings()

    async def _run() -> dict[str, object]:
        from collections import Counter

        from sqlmodel import col, select

        from backend.chain.models import ChainTransaction, TxStatus
        from backend.kit.db import Database

        db = Database(settings.effective_database_url)
        try:
            async with db.read_only() as session:
                rows = list(
                    await session.exec(select(ChainTransaction).order_by(col(ChainTransaction.id)))
                )
        finally:
            await db.dispose()
        settled = (TxStatus.CONFIRMED,)
        return {
            "counts": dict(Counter(row.status for row in rows)),
            "rows": [
                {
                    "id": row.id,
                    "function": f"{row.contract}.{row.function}",
                    "status": row.status,
                    "nonce": row.nonce,
                    "attempts": row.attempts,
                    "tried_hashes": len(row.tried_hashes),
                    "reorgs": row.reorgs,
                    "error_code": row.error_code,
                }
                for row in rows
                if row.status not in settled
            ],
        }

    typer.echo(json.dumps(asyncio.run(_run()), indent=2))
