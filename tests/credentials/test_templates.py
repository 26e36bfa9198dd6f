"""Shape templates give exactly the RDF (and the errors) of full JSON-LD processing.

Every document is converted both ways — through :mod:`credentials.templates` and through
pyld's full expansion — and the canonical N-Quads must be identical, for the W3C vectors,
the VC DM fixtures, the passport-sized credential and hypothesis-generated values.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials import jsonld, rdfc, templates
from credentials.errors import CredentialError
from tests.conftest import SHARED_DIR
from tests.credentials.conftest import passport_credential

VECTORS = SHARED_DIR / "vectors"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    paths = [
        *sorted((VECTORS / "vcdm2-fixtures").glob("*.json")),
        *sorted((VECTORS / "w3c-di").rglob("*.json")),
        VECTORS / "bench" / "passport-sized-unsigned.json",
    ]
    for path in paths:
        document = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(document, dict) and "@context" in document:
            out.append((path.name, document))
    return out


DOCUMENTS = _documents()


def _both(document: dict[str, Any]) -> tuple[str | None, str | None]:
    results: list[str | None] = []
    for use_templates in (False, True):
        try:
            quads = jsonld.to_quads(copy.deepcopy(document), use_templates=use_templates)
            results.append(rdfc.canonicalize(quads).nquads)
        except CredentialError as exc:
            results.append(f"error {type(exc).__name__} {exc.code}")
    return results[0], results[1]


@pytest.mark.parametrize(("name", "document"), DOCUMENTS, ids=[n for n, _ in DOCUMENTS])
def test_template_path_equals_full_processing(name: str, document: dict[str, Any]) -> None:
    full, fast = _both(document)
    assert full == fast
    # a second document of the same shape (other values) goes through the cached template
    varied = copy.deepcopy(document)
    if isinstance(varied.get("id"), str):
        varied["id"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    full, fast = _both(varied)
    assert full == fast


def test_template_is_reused_for_the_same_shape() -> None:
    document = passport_credential("did:web:example.com")
    jsonld.to_quads(document)
    before = len(templates._TEMPLATES)
    for index in range(5):
        document["id"] = f"urn:uuid:{index}"
        document["credentialSubject"]["batteryMass"] = 400 + index / 3
        jsonld.to_quads(document)
    assert len(templates._TEMPLATES) == before


scalars = st.one_of(
    st.text(max_size=12),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        ["https://example.org/x", "did:example:1", "urn:x:1", "relative", "_:b0", 'a"b\\c\n\x01']
    ),
)


@settings(max_examples=150, deadline=None)
@given(
    mass=scalars,
    chemistry=scalars,
    subject_id=scalars,
    measured=scalars,
    value=scalars,
)
def test_random_values_give_identical_rdf(
    mass: Any, chemistry: Any, subject_id: Any, measured: Any, value: Any
) -> None:
    document = passport_credential("did:web:example.com")
    subject = document["credentialSubject"]
    subject["batteryMass"] = mass
    subject["batteryChemistry"] = chemistry
    subject["id"] = subject_id
    subject["stateOfCharge"]["measuredAt"] = measured
    subject["stateOfCharge"]["value"] = value
    full, fast = _both(document)
    assert full == fast


@settings(max_examples=60, deadline=None)
@given(status=scalars, index=scalars, url=scalars)
def test_status_entry_values_give_identical_rdf(status: Any, index: Any, url: Any) -> None:
    entry = {
        "id": "https://example.com/status/1#5",
        "type": "BitstringStatusListEntry",
        "statusPurpose": status,
        "statusListIndex": index,
        "statusListCredential": url,
    }
    full, fast = _both(passport_credential("did:web:example.com", [entry]))
    assert full == fast


def test_concurrent_threads_get_the_same_quads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    documents = []
    for index in range(40):
        document = passport_credential("did:web:example.com")
        document["id"] = f"urn:uuid:{index}"
        document["credentialSubject"]["batteryMass"] = index + 0.5
        if index % 3 == 0:
            document["credentialSubject"]["extraShape"] = "x"  # undefined: an error each time
        documents.append(document)

    def convert(document: dict[str, Any]) -> str:
        try:
            return rdfc.canonicalize(jsonld.to_quads(copy.deepcopy(document))).nquads
        except CredentialError as exc:
            return f"error {exc.code}"

    expected = [convert(d) for d in documents]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(convert, documents * 3)) == expected * 3
