"""`bpp`: the server and admin command line."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer

from backend.chain.cli import accredit, chain_app
from backend.issuance.cli import credentials_app
from backend.orgs.cli import apikey_app, keys_app
from backend.settings import DEFAULT_PORT, InsecureSettingsError, Settings
from backend.telemetry.cli import devices_app, telemetry_app
from graphql_schema.cli import graphql_app

app = typer.Typer(
    name="bpp",
    help="Battery Passport Platform: server and administration.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(chain_app, name="chain")
app.add_typer(credentials_app, name="credentials")
app.add_typer(keys_app, name="keys")
app.add_typer(apikey_app, name="apikey")
app.add_typer(graphql_app, name="graphql")
app.add_typer(devices_app, name="devices")
app.add_typer(telemetry_app, name="telemetry")
# The authority's command, also reachable as `bpp chain accredit`.
app.command("accredit", help="Accredit an organisation for a role in the issuer registry.")(
    accredit
)


def load_settings() -> Settings:
    try:
        return Settings()
    except InsecureSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ValueError as exc:
        typer.echo(f"error: invalid settings: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed demo batteries with passports.")
    ] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = DEFAULT_PORT,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Uvicorn worker processes.")] = 1,
) -> None:
    """Run the API server (GraphQL at /graphql)."""
    import uvicorn

    settings = load_settings()
    if workers > 1 and (settings.uses_embedded_redis or settings.uses_embedded_chain):
        missing = [
            name
            for name, embedded in (
                ("BPP_REDIS_URL", settings.uses_embedded_redis),
                ("BPP_CHAIN_RPC_URL", settings.uses_embedded_chain),
            )
            if embedded
        ]
        typer.echo(
            f"error: --workers {workers} needs shared services: the embedded Valkey and chain "
            f"serve one process only. Set {' and '.join(missing)}.",
            err=True,
        )
        raise typer.Exit(2)
    base_url = settings.public_base_url_for(port)
    typer.echo(f"GraphQL API: {base_url}/graphql")
    if workers == 1:
        from backend.app import create_app

        application = create_app(settings, port=port, demo=demo)
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)
    else:
        # Start the runtime once here, before forking: migrations, contract deployment, the
        # platform's keys and the first status lists are made by one process, not raced by
        # every worker.
        asyncio.run(_prepare_shared_state(settings, port))
        os.environ["BPP_SERVE_PORT"] = str(port)
        os.environ["BPP_DEMO"] = "1" if demo else "0"
        uvicorn.run(
            "backend.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            access_log=False,
        )


async def _prepare_shared_state(settings: Settings, port: int) -> None:
    from backend.runtime import Runtime

    runtime = await Runtime.start(settings, port=port, background=False)
    await runtime.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from backend.kit.db import Database
    from backend.kit.migrations import upgrade_database

    settings = load_settings()
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)

    async def _run() -> None:
        db = Database(settings.effective_database_url)
        try:
            await upgrade_database(db.engine)
        finally:
            await db.dispose()

    asyncio.run(_run())
    typer.echo("database is at the newest revision")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
