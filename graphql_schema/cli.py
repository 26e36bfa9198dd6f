"""`bpp graphql …`: the exported schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

graphql_app = typer.Typer(help="The GraphQL schema.", no_args_is_help=True)


@graphql_app.command("export-schema")
def export_schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write (default: the committed file).")
    ] = None,
) -> None:
    """Write the schema's SDL (graphql_schema/schema.graphql)."""
    from graphql_schema.sdl import EXPORTED, current_sdl, unapproved_breaking_changes

    target = out or EXPORTED
    target.write_text(current_sdl())
    typer.echo(f"wrote {target}")
    unapproved = unapproved_breaking_changes()
    if unapproved:
        typer.echo("breaking changes against the released schema, not allowed:", err=True)
        for change in unapproved:
            typer.echo(f"  {change}", err=True)
        raise typer.Exit(1)


@graphql_app.command("register-queries")
def register_queries(
    file: Annotated[
        Path, typer.Argument(help="A JSON object {sha256: document}, e.g. from the app build.")
    ],
) -> None:
    """Register persisted queries: the documents the mobile apps may run in production.

    Every hash must be the SHA-256 (hex) of its document and every document must validate
    against the schema; nothing is stored otherwise (exit 2). Prints how many were new.
    """
    import asyncio
    import json

    from graphql import parse, validate
    from graphql.error import GraphQLSyntaxError

    from backend.admin import open_admin
    from backend.api.persisted import check_entries, register
    from backend.cli import load_settings
    from backend.kit.errors import DomainError
    from graphql_schema.schema import schema

    try:
        entries = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not isinstance(entries, dict):
        typer.echo("error: the file holds a JSON object {sha256: document}", err=True)
        raise typer.Exit(2)
    try:
        checked = check_entries(entries)
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    for digest, document in checked.items():
        try:
            errors = validate(schema._schema, parse(document))
        except GraphQLSyntaxError as exc:
            errors = [exc]
        if errors:
            typer.echo(f"error: {digest[:12]}… does not validate: {errors[0].message}", err=True)
            raise typer.Exit(2)
    settings = load_settings()

    async def run() -> int:
        async with open_admin(settings) as admin, admin.db.unit_of_work() as session:
            return await register(session, checked)

    added = asyncio.run(run())
    typer.echo(json.dumps({"registered": len(checked), "new": added}))
