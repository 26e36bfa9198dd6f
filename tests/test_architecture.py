"""Architecture rules of the product spec, checked on the source (not left to review)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL_PACKAGES = ("backend", "credentials", "ble_bridge", "contracts", "graphql_schema")


def imported_top_levels(package: str) -> dict[str, set[str]]:
    """Every top-level module each file of `package` imports, by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("library", ["credentials", "ble_bridge", "contracts"])
def test_libraries_do_not_import_the_server(library: str) -> None:
    offenders = {
        file: sorted(names & {"backend", "graphql_schema"})
        for file, names in imported_top_levels(library).items()
        if names & {"backend", "graphql_schema"}
    }
    assert offenders == {}


def test_only_the_entry_points_import_graphql_schema() -> None:
    # The app factory mounts the schema; the command line exports it. No service does.
    offenders = sorted(
        file
        for file, names in imported_top_levels("backend").items()
        if "graphql_schema" in names and file not in ("backend/app.py", "backend/cli.py")
    )
    assert offenders == []


def test_no_purposeless_utils_modules() -> None:
    utils = [
        str(path.relative_to(ROOT))
        for package in TOP_LEVEL_PACKAGES
        for path in (ROOT / package).rglob("utils.py")
        if "node_modules" not in path.parts
    ]
    assert utils == []
