"""The exported SDL and the breaking-change gate.

`schema.graphql` is the SDL of the code, exported by `bpp graphql export-schema`; a test fails
when it is stale. `schema.released.graphql` is the schema the shipped mobile apps were built
against; a change that breaks it (graphql-core `find_breaking_changes`) fails the test unless
`breaking-changes-allowed.txt` lists it — one line per change, `TYPE: description`, with a
comment saying why. Updating the released file is a release decision, not a way around the gate.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import find_breaking_changes

from graphql_schema.schema import build_schema

HERE = Path(__file__).resolve().parent
EXPORTED = HERE / "schema.graphql"
RELEASED = HERE / "schema.released.graphql"
ALLOWED = HERE / "breaking-changes-allowed.txt"


def current_sdl() -> str:
    return build_schema(production=False).as_str() + "\n"


def breaking_changes(old_sdl: str, new_sdl: str) -> list[str]:
    changes = find_breaking_changes(parse_sdl(old_sdl), parse_sdl(new_sdl))
    return sorted(f"{change.type.name}: {change.description}" for change in changes)


def allowed_changes() -> set[str]:
    if not ALLOWED.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in ALLOWED.read_text().splitlines())
    return {line for line in lines if line}


def unapproved_breaking_changes() -> list[str]:
    released = RELEASED.read_text() if RELEASED.exists() else current_sdl()
    return [c for c in breaking_changes(released, current_sdl()) if c not in allowed_changes()]
