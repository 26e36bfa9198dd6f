"""The W3C RDFC-1.0 test suite, every entry of its manifest, exact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from credentials.errors import CanonicalizationError, ErrorCode
from credentials.rdfc import canonicalize_nquads, escape_literal, literal_term, parse_nquads
from tests.conftest import SHARED_DIR

SUITE = SHARED_DIR / "vectors" / "rdfc10"


def _entries() -> list[dict[str, Any]]:
    manifest = json.loads((SUITE / "manifest.jsonld").read_text(encoding="utf-8"))
    entries: list[dict[str, Any]] = manifest["entries"]
    return entries


ENTRIES = _entries()


def _run(entry: dict[str, Any], base: Path) -> Any:
    text = (base / entry["action"]).read_text(encoding="utf-8")
    return canonicalize_nquads(text, hash_algorithm=entry.get("hashAlgorithm", "sha256"))


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e["type"] == "rdfc:RDFC10EvalTest"], ids=lambda e: e["id"]
)
def test_eval_entry_matches_expected_nquads(entry: dict[str, Any]) -> None:
    expected = (SUITE / entry["result"]).read_text(encoding="utf-8")
    assert _run(entry, SUITE).nquads == expected


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if e["type"] == "rdfc:RDFC10MapTest"], ids=lambda e: e["id"]
)
def test_map_entry_matches_issued_identifiers(entry: dict[str, Any]) -> None:
    expected = json.loads((SUITE / entry["result"]).read_text(encoding="utf-8"))
    assert _run(entry, SUITE).issued == expected


@pytest.mark.parametrize(
    "entry",
    [e for e in ENTRIES if e["type"] == "rdfc:RDFC10NegativeEvalTest"],
    ids=lambda e: e["id"],
)
def test_poison_graph_is_refused_with_typed_error(entry: dict[str, Any]) -> None:
    with pytest.raises(CanonicalizationError) as info:
        _run(entry, SUITE)
    assert info.value.code is ErrorCode.CANONICALIZATION_LIMIT


def test_suite_has_all_entry_kinds() -> None:
    kinds = {e["type"] for e in ENTRIES}
    assert kinds == {
        "rdfc:RDFC10EvalTest",
        "rdfc:RDFC10MapTest",
        "rdfc:RDFC10NegativeEvalTest",
    }
    assert len(ENTRIES) >= 80


def test_control_characters_use_rdfc_escapes() -> None:
    assert escape_literal("\x00\x07\b\t\n\x0b\f\r\x1f\x7f") == (
        "\\u0000\\u0007\\b\\t\\n\\u000B\\f\\r\\u001F\\u007F"
    )
    assert escape_literal('a"b\\c') == 'a\\"b\\\\c'
    assert escape_literal("∞é") == "∞é"


def test_xsd_string_datatype_is_omitted() -> None:
    assert literal_term("x", "http://www.w3.org/2001/XMLSchema#string") == '"x"'
    assert literal_term("1", "urn:dt") == '"1"^^<urn:dt>'


def test_small_work_bound_refuses_symmetric_graph() -> None:
    text = (SUITE / "rdfc10" / "test044-in.nq").read_text(encoding="utf-8")
    with pytest.raises(CanonicalizationError):
        canonicalize_nquads(text, max_work=10)


@pytest.mark.parametrize(
    "line",
    [
        "<urn:a> <urn:b> .",
        '"lit" <urn:b> <urn:c> .',
        "<urn:a> <urn:b> <urn:c>",
        '<urn:a> <urn:b> "bad\\q" .',
        "<urn:a> _:p <urn:c> .",
    ],
)
def test_malformed_nquads_raise_typed_error(line: str) -> None:
    with pytest.raises(CanonicalizationError) as info:
        parse_nquads(line)
    assert info.value.code is ErrorCode.INVALID_NQUADS
