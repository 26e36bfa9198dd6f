"""SD-JWT VC: issue, selective presentation with key binding, and every tampering case."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.errors import ProofError
from credentials.keys import KeyPair
from credentials.multiformats import b64url_encode
from credentials.sdjwt import issue_sd_jwt_vc, present_sd_jwt, split_sd_jwt
from credentials.tokenstatus import (
    TokenStatusList,
    issue_status_list_token,
    status_reference,
)
from credentials.verifier import CheckStatus, VerificationPolicy, VerificationResult, Verifier
from tests.credentials.conftest import Org

VCT = "https://w3id.org/battery-passport/vct/BatteryConditionCredential"
NONCE, AUD = "n-0S6_WzA2Mj", "https://buyer.example"

CLAIMS: dict[str, Any] = {
    "sub": "urn:battery:KR-2025-05-HMG-00000001",
    "stateOfCertifiedEnergy": 93.5,
    "stateOfCharge": 81,
    "fullCycleCount": 412,
    "batteryChemistry": "NCM811",
    "temperatureInformation": {"min": -4.5, "max": 38.0},
    "deepDischargeEventCount": 0,
}
HALF = {("stateOfCertifiedEnergy",), ("fullCycleCount",), ("temperatureInformation",)}


def _status(result: VerificationResult, name: str) -> CheckStatus:
    check = result.check(name)
    assert check is not None, name
    return check.status


@pytest.fixture
def holder() -> KeyPair:
    return KeyPair.generate("P-256")


def _issue(org: Org, holder: KeyPair, **kwargs: Any) -> str:
    return issue_sd_jwt_vc(
        CLAIMS,
        org.store.signer(org.key_id),
        vct=VCT,
        issuer=org.did,
        holder_jwk=holder.public_jwk,
        **kwargs,
    )


def _present(token: str, holder: KeyPair, **kwargs: Any) -> str:
    options: dict[str, Any] = {"holder": holder, "nonce": NONCE, "aud": AUD}
    options.update(kwargs)
    return present_sd_jwt(token, HALF, **options)


async def test_half_disclosed_presentation_verifies(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    token = _issue(acme, holder)
    parts = split_sd_jwt(token)
    assert len(parts.disclosures) == 9  # the 7 claims (sub too) and the 2 nested ones
    presentation = _present(token, holder)
    result = await verifier.verify(presentation, challenge=NONCE, domain=AUD)
    assert result.verified, result.to_json()
    assert _status(result, "disclosures") is CheckStatus.PASS
    assert _status(result, "key_binding") is CheckStatus.PASS
    assert result.claims is not None
    assert result.claims["stateOfCertifiedEnergy"] == 93.5
    # its nested properties are selectively disclosable too, and were not chosen
    assert result.claims["temperatureInformation"] == {}
    assert "stateOfCharge" not in result.claims
    assert "batteryChemistry" not in result.claims
    assert result.claims["iss"] == acme.did
    assert result.claims["vct"] == VCT


async def test_nested_claims_need_their_parent(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    token = _issue(acme, holder)
    only_child = present_sd_jwt(
        token, {("temperatureInformation", "max")}, holder=holder, nonce=NONCE, aud=AUD
    )
    result = await verifier.verify(only_child, challenge=NONCE, domain=AUD)
    assert result.verified
    assert result.claims is not None
    assert "temperatureInformation" not in result.claims
    both = present_sd_jwt(
        token,
        {("temperatureInformation",), ("temperatureInformation", "max")},
        holder=holder,
        nonce=NONCE,
        aud=AUD,
    )
    claims = (await verifier.verify(both, challenge=NONCE, domain=AUD)).claims
    assert claims is not None
    assert claims["temperatureInformation"] == {"max": 38.0}


def _with_disclosures(presentation: str, change: Any) -> str:
    parts = presentation.split("~")
    disclosures = change(parts[1:-1])
    return "~".join([parts[0], *disclosures, parts[-1]])


def _foreign_disclosure() -> str:
    return b64url_encode(json.dumps(["c2FsdA", "stateOfCharge", 5]).encode())


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (lambda d: d[1:], "key_binding"),
        (lambda d: [*d, _foreign_disclosure()], "disclosures"),
        (lambda d: [*d, d[0]], "disclosures"),
        (lambda d: [_altered(d[0]), *d[1:]], "disclosures"),
    ],
    ids=["removed", "added", "duplicated", "altered"],
)
async def test_changed_disclosures_fail_naming_the_check(
    acme: Org, verifier: Verifier, holder: KeyPair, change: Any, failing: str
) -> None:
    presentation = _present(_issue(acme, holder), holder)
    result = await verifier.verify(
        _with_disclosures(presentation, change), challenge=NONCE, domain=AUD
    )
    assert not result.verified
    assert _status(result, failing) is CheckStatus.FAIL


def _altered(disclosure: str) -> str:
    from credentials.multiformats import b64url_decode

    salt, name, value = json.loads(b64url_decode(disclosure))
    altered = value + 1 if isinstance(value, int | float) else str(value) + "x"
    return b64url_encode(json.dumps([salt, name, altered]).encode())


async def test_wrong_nonce_audience_or_binding_key_fail(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    token = _issue(acme, holder)
    presentation = _present(token, holder)
    for challenge, domain in ((NONCE + "x", AUD), (NONCE, AUD + "/other")):
        result = await verifier.verify(presentation, challenge=challenge, domain=domain)
        assert _status(result, "key_binding") is CheckStatus.FAIL
        assert not result.verified
    stranger = KeyPair.generate("P-256")
    replaced = _present(token, stranger)
    result = await verifier.verify(replaced, challenge=NONCE, domain=AUD)
    assert _status(result, "key_binding") is CheckStatus.FAIL


async def test_missing_key_binding_fails_unless_policy_allows(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    unbound = present_sd_jwt(_issue(acme, holder), HALF, holder=None, nonce=NONCE, aud=AUD)
    result = await verifier.verify(unbound)
    assert _status(result, "key_binding") is CheckStatus.FAIL
    relaxed = VerificationPolicy(require_key_binding=False)
    assert (await verifier.verify(unbound, policy=relaxed)).verified


async def test_forged_issuer_signature_or_foreign_kid_fail(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    token = _issue(acme, holder)
    jwt = token.split("~")[0]
    head, payload, signature = jwt.split(".")
    forged = ".".join(
        [head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    presentation = _present(token.replace(jwt, forged), holder)
    result = await verifier.verify(presentation, challenge=NONCE, domain=AUD)
    assert _status(result, "signature") is CheckStatus.FAIL
    outsider = KeyPair.generate("P-256")
    with pytest.raises(ProofError):
        issue_sd_jwt_vc(CLAIMS, outsider.with_key_id("did:key:x#x"), vct=VCT, issuer=acme.did)


STATUS_URI = "http://localhost:8000/orgs/acme/token-status/1"


def _publish_token_list(org: Org, values: dict[int, int]) -> None:
    status_list = TokenStatusList(size=1024, bits=2)
    for index, value in values.items():
        status_list.set(index, value)
    token = issue_status_list_token(status_list, org.store.signer(org.key_id), uri=STATUS_URI)
    org.fetcher.put(STATUS_URI, token)


@pytest.mark.parametrize(
    "case",
    [
        (0, CheckStatus.PASS, CheckStatus.PASS),
        (1, CheckStatus.FAIL, CheckStatus.PASS),
        (2, CheckStatus.PASS, CheckStatus.FAIL),
        (3, CheckStatus.PASS, CheckStatus.PASS),
    ],
    ids=["valid", "invalid", "suspended", "application-specific"],
)
async def test_token_status_list_decides_the_status_checks(
    acme: Org,
    verifier: Verifier,
    holder: KeyPair,
    case: tuple[int, CheckStatus, CheckStatus],
) -> None:
    value, revocation, suspension = case
    _publish_token_list(acme, {7: value})
    token = _issue(acme, holder, status=status_reference(STATUS_URI, 7))
    result = await verifier.verify(_present(token, holder), challenge=NONCE, domain=AUD)
    assert _status(result, "status_revocation") is revocation
    assert _status(result, "status_suspension") is suspension
    assert result.verified is (value in (0, 3))


async def test_revocation_after_issue_fails(acme: Org, verifier: Verifier, holder: KeyPair) -> None:
    _publish_token_list(acme, {})
    token = _issue(acme, holder, status=status_reference(STATUS_URI, 9))
    presentation = _present(token, holder)
    assert (await verifier.verify(presentation, challenge=NONCE, domain=AUD)).verified
    _publish_token_list(acme, {9: 1})
    verifier.invalidate_status_list(STATUS_URI)
    result = await verifier.verify(presentation, challenge=NONCE, domain=AUD)
    assert _status(result, "status_revocation") is CheckStatus.FAIL


async def test_unavailable_or_foreign_status_token(
    acme: Org, verifier: Verifier, holder: KeyPair
) -> None:
    token = _issue(acme, holder, status=status_reference(STATUS_URI, 1))
    presentation = _present(token, holder)
    missing = await verifier.verify(presentation, challenge=NONCE, domain=AUD)
    assert _status(missing, "status_revocation") is CheckStatus.UNKNOWN
    assert missing.undetermined
    outsider = KeyPair.generate("P-256")
    did = did_key_from_public_key(outsider.public)
    foreign = issue_status_list_token(
        TokenStatusList(1024), outsider.with_key_id(did_key_vm_id(did)), uri=STATUS_URI
    )
    acme.fetcher.put(STATUS_URI, foreign)
    result = await verifier.verify(presentation, challenge=NONCE, domain=AUD)
    assert _status(result, "status_revocation") is CheckStatus.FAIL


@pytest.mark.parametrize("token", ["~", "a~", "a.b.c~", "e30.e30.e30~~"])
async def test_garbage_sd_jwts_fail_without_crashing(verifier: Verifier, token: str) -> None:
    result = await verifier.verify(token)
    assert not result.verified
