"""`bpp chain …`: deployments and status list checks against the chain.

Exit codes: 0 done / lists match, 1 lists differ, 2 refused (wrong chain id, bad settings,
unknown issuer or list), 3 undetermined (a publish is still pending), 4 node unreachable.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from backend.chain.errors import ChainError, NodeUnavailableError, WrongChainError

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
                report = await compare_with_served(db, chain, address, list_id, from_block=start)
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
