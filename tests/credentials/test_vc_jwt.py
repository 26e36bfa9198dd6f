"""VC-JOSE-COSE vc+jwt: issue, verify (bare and enveloped), tampering, algorithm pinning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.errors import ProofError
from credentials.issuance import sign_presentation
from credentials.jose import ENVELOPED_VP_PREFIX, envelope, issue_vc_jwt, issue_vp_jwt, parse_vc_jwt
from credentials.keys import KeyPair
from credentials.multiformats import b64url_decode, b64url_encode
from credentials.verifier import CheckStatus, VerificationResult, Verifier
from tests.credentials.conftest import Org, passport_credential


def _status(result: VerificationResult, name: str) -> CheckStatus:
    check = result.check(name)
    assert check is not None
    return check.status


def _signer(org: Org, algorithm: str) -> Any:
    if algorithm == "P-256":
        return org.store.signer(org.key_id)
    record = org.store.create(org.did, algorithm)
    org.publish_did()
    return org.store.signer(record.key_id)


def _reheader(token: str, **changes: Any) -> str:
    head, payload, signature = token.split(".")
    header = json.loads(b64url_decode(head))
    header.update(changes)
    for key, value in list(header.items()):
        if value is None:
            del header[key]
    return ".".join([b64url_encode(json.dumps(header).encode()), payload, signature])


@pytest.mark.parametrize("algorithm", ["P-256", "P-384", "Ed25519"])
async def test_round_trip_bare_and_enveloped(acme: Org, verifier: Verifier, algorithm: str) -> None:
    token = issue_vc_jwt(
        passport_credential(acme.did, [acme.entry("revocation")]), _signer(acme, algorithm)
    )
    parsed = parse_vc_jwt(token)
    assert parsed.header["typ"] == "vc+jwt"
    assert parsed.payload["type"] == ["VerifiableCredential", "BatteryPassportCredential"]
    assert "vc" not in parsed.payload
    for form in (token, envelope(token)):
        result = await verifier.verify(form)
        assert result.verified, result.to_json()
        assert _status(result, "status_revocation") is CheckStatus.PASS


async def test_changed_payload_fails_signature(acme: Org, verifier: Verifier) -> None:
    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    head, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["credentialSubject"]["batteryMass"] = 1.0
    forged = ".".join([head, b64url_encode(json.dumps(claims).encode()), signature])
    result = await verifier.verify(forged)
    assert not result.verified
    assert _status(result, "signature") is CheckStatus.FAIL


@pytest.mark.parametrize(
    "changes",
    [{"alg": "none"}, {"alg": "HS256"}, {"typ": "JWT"}, {"kid": None}, {"crit": ["exp"]}],
    ids=["alg-none", "alg-hs256", "typ", "no-kid", "crit"],
)
async def test_forbidden_headers_are_refused(
    acme: Org, verifier: Verifier, changes: dict[str, Any]
) -> None:
    token = _reheader(
        issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id)), **changes
    )
    with pytest.raises(ProofError):
        parse_vc_jwt(token)
    result = await verifier.verify(token)
    assert not result.verified
    assert _status(result, "signature") is CheckStatus.FAIL


async def test_alg_is_pinned_to_the_key_type(acme: Org, verifier: Verifier) -> None:
    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    result = await verifier.verify(_reheader(token, alg="ES384"))
    assert _status(result, "signature") is CheckStatus.FAIL


async def test_key_of_another_did_cannot_sign_for_the_issuer(acme: Org, verifier: Verifier) -> None:
    outsider = KeyPair.generate("P-256")
    did = did_key_from_public_key(outsider.public)
    with pytest.raises(ProofError):
        issue_vc_jwt(passport_credential(acme.did), outsider.with_key_id(did_key_vm_id(did)))
    own = issue_vc_jwt(passport_credential(did), outsider.with_key_id(did_key_vm_id(did)))
    claims = json.loads(b64url_decode(own.split(".")[1]))
    assert claims["issuer"] == did
    swapped = _reheader(own, kid=acme.key_id)
    result = await verifier.verify(swapped)
    assert _status(result, "signature") is CheckStatus.FAIL


async def test_revoked_vc_jwt_fails_status(acme: Org, verifier: Verifier) -> None:
    entry = acme.entry("revocation")
    token = issue_vc_jwt(passport_credential(acme.did, [entry]), acme.store.signer(acme.key_id))
    acme.set_status(entry, 1)
    verifier.invalidate_status_list()
    result = await verifier.verify(token)
    assert _status(result, "status_revocation") is CheckStatus.FAIL


async def test_presentation_with_enveloped_vc_jwt(acme: Org, verifier: Verifier) -> None:
    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    holder = KeyPair.generate("P-256")
    holder_did = did_key_from_public_key(holder.public)
    vp = sign_presentation(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder_did,
            "verifiableCredential": [envelope(token)],
        },
        holder.with_key_id(did_key_vm_id(holder_did)),
        challenge="n-1",
    )
    result = await verifier.verify(vp, challenge="n-1")
    assert result.verified, result.to_json()
    assert len(result.credential_results) == 1


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "x" * 10, "e30.e30.e30"])
async def test_garbage_tokens_are_failures_not_crashes(verifier: Verifier, token: str) -> None:
    result = await verifier.verify(token)
    assert not result.verified


def _holder() -> tuple[KeyPair, str, Any]:
    holder = KeyPair.generate("P-256")
    holder_did = did_key_from_public_key(holder.public)
    return holder, holder_did, holder.with_key_id(did_key_vm_id(holder_did))


def _vp(holder_did: str, token: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder_did,
        "verifiableCredential": [envelope(token)],
    }


async def test_vp_jwt_round_trip_bare_and_enveloped(acme: Org, verifier: Verifier) -> None:
    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    _, holder_did, signer = _holder()
    vp_jwt = issue_vp_jwt(_vp(holder_did, token), signer, nonce="n-7", aud="https://buyer.example")
    assert parse_vc_jwt(vp_jwt, "vp+jwt").payload["nonce"] == "n-7"
    enveloped = envelope(vp_jwt, ENVELOPED_VP_PREFIX)
    for form in (vp_jwt, enveloped):
        result = await verifier.verify(form, challenge="n-7", domain="https://buyer.example")
        assert result.verified, result.to_json()
        assert len(result.credential_results) == 1
        assert result.credential_results[0].verified


async def test_vp_jwt_wrong_nonce_audience_holder_or_tampering_fail(
    acme: Org, verifier: Verifier
) -> None:
    token = issue_vc_jwt(passport_credential(acme.did), acme.store.signer(acme.key_id))
    _, holder_did, signer = _holder()
    vp_jwt = issue_vp_jwt(_vp(holder_did, token), signer, nonce="n-7", aud="https://buyer.example")
    for challenge, domain in (("n-8", "https://buyer.example"), ("n-7", "https://other.example")):
        result = await verifier.verify(vp_jwt, challenge=challenge, domain=domain)
        assert not result.verified
        assert _status(result, "signature") is CheckStatus.FAIL
    # a key of another holder signs a presentation claiming this holder
    _, _, stranger = _holder()
    with pytest.raises(ProofError):
        issue_vp_jwt(_vp(holder_did, token), stranger)
    head, payload, signature = vp_jwt.split(".")
    body = json.loads(b64url_decode(payload))
    body["holder"] = did_key_from_public_key(KeyPair.generate("P-256").public)
    forged = ".".join([head, b64url_encode(json.dumps(body).encode()), signature])
    assert _status(await verifier.verify(forged), "signature") is CheckStatus.FAIL
    # the embedded credential changed: the VP signature and the credential both fail
    body = json.loads(b64url_decode(payload))
    body["verifiableCredential"][0]["id"] += "x"
    forged = ".".join([head, b64url_encode(json.dumps(body).encode()), signature])
    assert not (await verifier.verify(forged)).verified
    # a vc+jwt is not a presentation, and vice versa
    with pytest.raises(ProofError):
        parse_vc_jwt(vp_jwt)
