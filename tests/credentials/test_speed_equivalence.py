"""The fast paths of issue 7 decide exactly as the slow ones: shape-only term checks, the
recursive shape check, orjson JSON with its standard-library fallback, cached keys."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials import fastjson, templates
from credentials.errors import DataModelError, InputLimitError
from credentials.jose import issue_vc_jwt, parse_vc_jwt
from credentials.limits import Limits, check_shape, parse_json_bounded
from credentials.model import validate_credential
from credentials.verifier import Verifier
from tests.credentials.conftest import Org, passport_credential

ORG = "did:web:localhost%3A8000:orgs:acme"


def test_an_undefined_term_is_refused_even_after_its_siblings_shape_passed() -> None:
    good = passport_credential(ORG)
    validate_credential(good)
    assert templates.shape_expands({k: v for k, v in good.items() if k != "proof"})
    bad = copy.deepcopy(good)
    bad["credentialSubject"]["notAPassportTerm"] = 1
    for _ in range(2):  # the refusal is not cached into a pass
        with pytest.raises(DataModelError) as info:
            validate_credential(bad)
        assert info.value.rule == "terms.defined"
        assert "notAPassportTerm" in info.value.message


def test_values_of_a_known_shape_still_pass_or_fail_like_full_expansion() -> None:
    base = passport_credential(ORG)
    for value in ("plain text", "ünïcödé ✓", 'quote " and \\ backslash', 12.5, -3, 0):
        changed = copy.deepcopy(base)
        changed["credentialSubject"]["batteryIdentifier"] = value
        templates_result = _outcome(lambda d=changed: validate_credential(d))
        full = _outcome(lambda d=changed: _full_expansion(d))
        assert templates_result == full, value


def _full_expansion(document: dict[str, Any]) -> None:
    from credentials import jsonld

    validate_credential(document, check_terms=False)
    jsonld.to_quads({k: v for k, v in document.items() if k != "proof"}, use_templates=False)


def _outcome(run: Any) -> str:
    try:
        run()
    except DataModelError as exc:
        return f"refused {exc.rule}"
    except Exception as exc:
        return f"refused {type(exc).__name__}"
    return "ok"


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_not_json(number: float) -> None:
    document = passport_credential(ORG)
    document["credentialSubject"]["batteryMass"] = number
    with pytest.raises(DataModelError):
        validate_credential(document)
    with pytest.raises(InputLimitError):
        parse_json_bounded('{"a": NaN}')
    with pytest.raises(InputLimitError):
        check_shape([1, [2.0, {"x": number}]], Limits())


def test_recursive_and_iterative_shape_checks_agree() -> None:
    nested: Any = 1.5
    for depth in range(40):
        nested = {"a": nested, "b": [depth, "x", None, True]}
    for limits in (Limits(max_depth=32), Limits(max_depth=100), Limits(max_depth=41)):
        outcomes = set()
        for fast in (True, False):
            chosen = limits if fast else Limits(max_depth=limits.max_depth + 0)
            try:
                if fast:
                    check_shape(nested, chosen)
                else:
                    _iterative(nested, chosen)
                outcomes.add("ok")
            except InputLimitError:
                outcomes.add("refused")
        assert len(outcomes) == 1, limits


def _iterative(document: Any, limits: Limits) -> None:
    import credentials.limits as module

    saved = module._RECURSIVE_DEPTH
    module._RECURSIVE_DEPTH = 0  # force the iterative path
    try:
        check_shape(document, limits)
    finally:
        module._RECURSIVE_DEPTH = saved


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fastjson_round_trips_like_the_standard_library(value: Any) -> None:
    import json

    assert fastjson.loads(fastjson.dumps(value)) == json.loads(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from([None, 0, 1, "\t"]))
def test_fastjson_reads_any_layout_exactly_like_the_standard_library(
    value: Any, indent: int | str | None
) -> None:
    """Big integers after whitespace, a comma, a bracket or a minus keep every digit."""
    import json

    text = json.dumps(value, indent=indent)
    # Compared as JSON text: 2**70 == float(2**70) in Python, but not in JSON.
    assert json.dumps(fastjson.loads(text)) == json.dumps(json.loads(text))


def test_fastjson_digit_runs_inside_strings_stay_strings() -> None:
    frame = "dd03001b14a0000011d027100000258200000000000000000021"
    document = {"response": frame, "bare": "00000000000000000000000", "n": -(2**65)}
    assert fastjson.loads(fastjson.dumps(document)) == document


async def test_vc_jwt_with_an_integer_beyond_64_bits(acme: Org, verifier: Verifier) -> None:
    credential = passport_credential(acme.did)
    credential["credentialSubject"]["batteryMass"] = 2**70
    token = issue_vc_jwt(credential, acme.store.signer(acme.key_id))
    assert parse_vc_jwt(token).payload["credentialSubject"]["batteryMass"] == 2**70
    assert (await verifier.verify(token)).check("signature").status == "pass"  # type: ignore[union-attr]


async def test_a_changed_did_document_is_not_answered_from_the_key_cache(
    acme: Org, verifier: Verifier
) -> None:
    from credentials.did import build_did_document, did_web_to_url
    from credentials.keys import KeyPair

    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    assert (await verifier.verify(token)).verified
    # The same verification method id now names another key: the parsed-key cache is keyed
    # by the document's JSON, so the changed document is parsed afresh and the old
    # signature no longer verifies.
    document = build_did_document(acme.did, acme.store.did_keys(acme.did))
    other = KeyPair.generate("P-256").public_multikey
    for method in document["verificationMethod"]:
        method["publicKeyMultibase"] = other
    acme.fetcher.put(did_web_to_url(acme.did), document)
    fresh = Verifier(fetcher=acme.fetcher)
    result = await fresh.verify(token)
    assert not result.verified
    assert result.check("signature").status == "fail"  # type: ignore[union-attr]
