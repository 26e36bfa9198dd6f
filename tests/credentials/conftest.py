"""Fixtures for the credentials library tests: W3C vector paths and key pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def vectors_dir(shared_dir: Path) -> Path:
    """``shared/vectors``."""
    return shared_dir / "vectors"


@pytest.fixture(scope="session")
def di_dir(vectors_dir: Path) -> Path:
    """The W3C Data Integrity test vectors."""
    return vectors_dir / "w3c-di"


def load_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))
