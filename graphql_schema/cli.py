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
