"""Fixtures of the BLE bridge tests: the recorded frames in ``shared/vectors/ble``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import SHARED_DIR

VECTOR_DIR: Path = SHARED_DIR / "vectors" / "ble"


def load_vectors(name: str) -> list[dict[str, Any]]:
    """The entries of one vector file (read at collection time for parametrisation)."""
    data: list[dict[str, Any]] = json.loads((VECTOR_DIR / name).read_text())
    return data


HKMC_VECTORS = load_vectors("hkmc_vectors.json")
BMS_VECTORS = load_vectors("bms_vectors.json")


def split_at(data: bytes, first: int, size: int = 20) -> list[bytes]:
    """``data`` as notifications: a first chunk of ``first`` bytes, then ``size``-byte chunks."""
    chunks = [data[:first]] if first else []
    rest = data[first:]
    chunks += [rest[i : i + size] for i in range(0, len(rest), size)]
    return [c for c in chunks if c]
