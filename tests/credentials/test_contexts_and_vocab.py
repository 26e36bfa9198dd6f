"""Bundled contexts (exact bytes, pinned digests), the battery context and vocabulary,
and the offline strict JSON-LD loader."""

from __future__ import annotations

import csv
import hashlib
import json
from typing import Any

import pytest

from credentials import contexts, jsonld
from credentials.contexts import BUNDLED_CONTEXTS, battery_context_bytes, context_bytes
from credentials.errors import ContextError, ErrorCode, JsonLdProcessingError
from credentials.vocab import (
    BATTERY_CONTEXT_URL,
    CREDENTIAL_TYPES,
    MEASUREMENT_TERMS,
    PASSPORT_TERMS,
    VOCAB_IRI,
    all_property_terms,
)
from tests.conftest import SHARED_DIR


def test_w3c_contexts_are_byte_exact_copies_with_pinned_digests() -> None:
    sums: dict[str, str] = {}
    for line in (SHARED_DIR / "contexts" / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    w3c = [c for c in BUNDLED_CONTEXTS.values() if c.url != BATTERY_CONTEXT_URL]
    assert len(w3c) == 7
    for entry in w3c:
        data = context_bytes(entry.url)
        assert data == (SHARED_DIR / "contexts" / entry.filename).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry.sha256 == sums[entry.filename]


def test_tampered_context_bytes_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://www.w3.org/ns/credentials/examples/v2"
    entry = BUNDLED_CONTEXTS[url]
    fake = {url: type(entry)(entry.url, entry.filename, "0" * 64)}
    monkeypatch.setattr(contexts, "BUNDLED_CONTEXTS", fake)
    context_bytes.cache_clear()
    try:
        with pytest.raises(ContextError) as info:
            context_bytes(url)
        assert info.value.code is ErrorCode.CONTEXT_DIGEST_MISMATCH
    finally:
        context_bytes.cache_clear()


def test_unknown_remote_context_is_refused_never_fetched() -> None:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://example.com/ctx/v1"],
        "type": "VerifiableCredential",
    }
    with pytest.raises(ContextError) as info:
        jsonld.expand(document)
    assert info.value.code is ErrorCode.CONTEXT_UNKNOWN


def test_undefined_term_is_an_error_not_dropped() -> None:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", BATTERY_CONTEXT_URL],
        "type": ["VerifiableCredential", "BatteryPassportCredential"],
        "credentialSubject": {"batteryMass": 1, "notATerm": 2},
    }
    with pytest.raises(JsonLdProcessingError) as info:
        jsonld.expand(document)
    assert info.value.code is ErrorCode.UNDEFINED_TERM


def test_relative_type_is_refused() -> None:
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "Undefined"],
    }
    with pytest.raises(JsonLdProcessingError):
        jsonld.expand(document)


def test_passport_terms_cover_all_93_attributes_of_the_csv() -> None:
    with (SHARED_DIR / "passport-attributes.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 93 == len(PASSPORT_TERMS)
    for row in rows:
        term = PASSPORT_TERMS[int(row["no"])]
        assert term.clause == row["din_dke_spec_99100"]
        assert term.term[0].islower()
        assert term.term.isalnum()
    names = [t.term for t in PASSPORT_TERMS.values()]
    assert len(set(names)) == len(names)


def test_battery_context_defines_every_term_protected_under_the_vocab() -> None:
    ctx: dict[str, Any] = json.loads(battery_context_bytes())["@context"]
    assert ctx["@protected"] is True
    for name in (*all_property_terms(), *CREDENTIAL_TYPES, "Battery", "BatteryModel"):
        definition = ctx[name]
        iri = definition if isinstance(definition, str) else definition["@id"]
        assert iri == VOCAB_IRI + name
    assert set(MEASUREMENT_TERMS) <= set(ctx)


def test_every_term_expands_to_its_vocabulary_iri() -> None:
    subject: dict[str, Any] = {t: "x" for t in all_property_terms() if t not in ("measuredAt",)}
    subject["batteryModel"] = "urn:model:1"
    subject["predecessorPassport"] = "urn:uuid:0"
    subject["inspectedAt"] = "2025-01-01T00:00:00Z"
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", BATTERY_CONTEXT_URL],
        "type": ["VerifiableCredential", "BatteryPassportCredential"],
        "credentialSubject": subject,
    }
    expanded = jsonld.expand(document)
    node = expanded[0]["https://www.w3.org/2018/credentials#credentialSubject"][0]
    assert {k for k in node if k.startswith(VOCAB_IRI)} == {VOCAB_IRI + t for t in subject}


def test_battery_context_cannot_be_redefined_by_a_later_context() -> None:
    document = {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            BATTERY_CONTEXT_URL,
            {"batteryMass": "https://evil.example/mass"},
        ],
        "type": ["VerifiableCredential"],
        "credentialSubject": {"batteryMass": 1},
    }
    with pytest.raises(JsonLdProcessingError):
        jsonld.expand(document)


def test_vct_values_exist_for_every_credential_type() -> None:
    from credentials.vocab import vct_for

    assert vct_for("BatteryConditionCredential") == (
        "https://w3id.org/battery-passport/vct/BatteryConditionCredential"
    )
    assert len({vct_for(t) for t in CREDENTIAL_TYPES}) == len(CREDENTIAL_TYPES)
    from credentials.errors import DataModelError

    with pytest.raises(DataModelError, match="unknown credential type"):
        vct_for("Passport")
