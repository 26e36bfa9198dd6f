"""Hard input bounds and the issuing helpers (issuer assignment, key/issuer binding)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credentials.errors import DataModelError, ErrorCode, InputLimitError
from credentials.issuance import assign_issuer, issue
from credentials.keys import KeyPair
from credentials.limits import Limits, check_shape, parse_json_bounded
from tests.credentials.conftest import Org, passport_credential

ORG = "did:web:localhost%3A8000:orgs:acme"


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(InputLimitError) as info:
        parse_json_bounded(b" " * 2048, Limits(max_bytes=1024))
    assert info.value.code is ErrorCode.INPUT_TOO_LARGE


def test_deep_nesting_is_refused_without_recursion() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(InputLimitError):
        parse_json_bounded(deep, Limits(max_bytes=10**6))
    nested: Any = "x"
    for _ in range(50):
        nested = {"a": nested}
    with pytest.raises(InputLimitError):
        check_shape(nested, Limits(max_depth=32))


def test_too_many_values_are_refused() -> None:
    with pytest.raises(InputLimitError):
        check_shape(list(range(100)), Limits(max_values=50))


def test_invalid_json_is_a_typed_error() -> None:
    with pytest.raises(InputLimitError) as info:
        parse_json_bounded("{nope")
    assert info.value.code is ErrorCode.DATA_MODEL


def test_valid_json_parses() -> None:
    assert parse_json_bounded(json.dumps({"a": [1, 2]})) == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, ORG),
        ({"name": "Acme"}, {"name": "Acme", "id": ORG}),
        (ORG, ORG),
        ({"id": ORG, "name": "Acme"}, {"id": ORG, "name": "Acme"}),
    ],
)
def test_assign_issuer_fills_or_keeps_the_organisation(given: Any, expected: Any) -> None:
    credential: dict[str, Any] = {"type": ["VerifiableCredential"]}
    if given is not None:
        credential["issuer"] = given
    assert assign_issuer(credential, ORG)["issuer"] == expected


@pytest.mark.parametrize(
    "issuer",
    [
        "did:web:localhost%3A8000:orgs:other",
        "did:web:localhost%3A8000",
        {"id": "did:web:localhost%3A8000"},
        None,
    ],
)
def test_assign_issuer_refuses_any_other_issuer(issuer: Any) -> None:
    with pytest.raises(DataModelError) as info:
        assign_issuer({"issuer": issuer}, ORG)
    assert info.value.rule == "issuer.mismatch"


def test_issue_refuses_a_key_not_controlled_by_the_issuer(acme: Org) -> None:
    other = passport_credential("did:web:localhost%3A8000:orgs:other")
    with pytest.raises(DataModelError) as info:
        issue(other, acme.store.signer(acme.key_id))
    assert info.value.rule == "issuer.key"


def test_issue_validates_before_signing(acme: Org) -> None:
    credential = passport_credential(acme.did)
    credential["credentialSubject"]["notInTheVocabulary"] = 1
    with pytest.raises(DataModelError) as info:
        issue(credential, acme.store.signer(acme.key_id))
    assert info.value.rule == "terms.defined"


def test_eddsa_suite_refuses_an_ecdsa_key(acme: Org) -> None:
    from credentials.errors import ProofError

    with pytest.raises(ProofError) as info:
        issue(
            passport_credential(acme.did),
            acme.store.signer(acme.key_id),
            cryptosuite="eddsa-rdfc-2022",
        )
    assert info.value.code is ErrorCode.UNSUPPORTED_CRYPTOSUITE
    with pytest.raises(ProofError):
        issue(passport_credential(acme.did), acme.store.signer(acme.key_id), cryptosuite="rsa-2000")
    assert KeyPair.generate("Ed25519").algorithm.jws_alg == "EdDSA"
