"""VC-API with `options.format` vc+jwt and dc+sd-jwt, enveloped verification and vp+jwt."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from backend.orgs.roles import Role
from backend.runtime import Runtime
from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.jose import (
    ENVELOPED_SD_JWT_PREFIX,
    ENVELOPED_VP_PREFIX,
    envelope,
    issue_vp_jwt,
    parse_vc_jwt,
)
from credentials.keys import KeyPair
from credentials.multiformats import b64url_decode, b64url_encode
from credentials.sdjwt import parse_issuer_jwt, present_sd_jwt
from tests.backend.conftest import OrgKey, make_key
from tests.backend.test_vcapi import issue, passport_credential

pytestmark = pytest.mark.integration

NONCE, AUD = "gate-7-nonce", "https://buyer.example"


@pytest.fixture(scope="module")
async def issuer_key(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "jwt-inspection", Role.ISSUER)


async def verify(client: httpx.AsyncClient, document: Any, **options: Any) -> dict[str, Any]:
    response = await client.post(
        "/credentials/verify", json={"verifiableCredential": document, "options": options}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def result(body: dict[str, Any], name: str) -> str:
    (check,) = [r for r in body["results"] if r["name"] == name]
    return str(check["status"])


def token_of(enveloped: dict[str, Any], prefix: str) -> str:
    assert enveloped["type"] == "EnvelopedVerifiableCredential"
    assert enveloped["id"].startswith(prefix)
    return str(enveloped["id"][len(prefix) :])


async def test_vc_jwt_issue_verify_and_tamper(
    client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    response = await issue(client, issuer_key, passport_credential(), format="vc+jwt")
    assert response.status_code == 201, response.text
    enveloped = response.json()["verifiableCredential"]
    token = token_of(enveloped, "data:application/vc+jwt,")
    parsed = parse_vc_jwt(token)
    assert parsed.header["alg"] == "ES256"
    assert parsed.payload["issuer"] == runtime.platform.organisation_did(issuer_key.slug)
    assert parsed.payload["credentialStatus"]["type"] == "BitstringStatusListEntry"
    body = await verify(client, enveloped)
    assert body["verified"] is True, body
    assert result(body, "status_revocation") == "pass"

    head, payload, signature = token.split(".")
    changed = json.loads(b64url_decode(payload))
    changed["credentialSubject"]["stateOfHealth"] = 99.9
    forged = ".".join([head, b64url_encode(json.dumps(changed).encode()), signature])
    failed = await verify(client, envelope(forged))
    assert failed["verified"] is False
    assert result(failed, "signature") == "fail"


async def _sd_jwt(client: httpx.AsyncClient, key: OrgKey, holder: KeyPair) -> str:
    response = await issue(
        client, key, passport_credential(), format="dc+sd-jwt", holderJwk=holder.public_jwk
    )
    assert response.status_code == 201, response.text
    return token_of(response.json()["verifiableCredential"], ENVELOPED_SD_JWT_PREFIX)


async def test_sd_jwt_issue_present_half_and_verify(
    client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    holder = KeyPair.generate("P-256")
    token = await _sd_jwt(client, issuer_key, holder)
    _, header, payload = parse_issuer_jwt(token)
    assert header["typ"] == "dc+sd-jwt"
    assert payload["vct"].endswith("/BatteryInspectionCredential")
    assert payload["cnf"]["jwk"] == holder.public_jwk
    assert payload["jti"].startswith("urn:uuid:")
    assert payload["status"]["status_list"]["uri"].endswith("/token")
    assert "stateOfHealth" not in payload  # every subject claim is selectively disclosable

    presented = present_sd_jwt(token, {("stateOfHealth",)}, holder=holder, nonce=NONCE, aud=AUD)
    enveloped = envelope(presented, ENVELOPED_SD_JWT_PREFIX)
    body = await verify(client, enveloped, challenge=NONCE, domain=AUD)
    assert body["verified"] is True, body
    for name in ("signature", "disclosures", "key_binding", "status_revocation"):
        assert result(body, name) == "pass", (name, body)

    wrong_nonce = await verify(client, enveloped, challenge="other", domain=AUD)
    assert wrong_nonce["verified"] is False
    assert result(wrong_nonce, "key_binding") == "fail"


async def test_vp_jwt_through_presentations_verify(
    client: httpx.AsyncClient, issuer_key: OrgKey
) -> None:
    response = await issue(client, issuer_key, passport_credential(), format="vc+jwt")
    credential = response.json()["verifiableCredential"]
    holder = KeyPair.generate("Ed25519")
    holder_did = did_key_from_public_key(holder.public)
    vp_jwt = issue_vp_jwt(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder_did,
            "verifiableCredential": [credential],
        },
        holder.with_key_id(did_key_vm_id(holder_did)),
        nonce=NONCE,
        aud=AUD,
    )
    presentation = {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": ENVELOPED_VP_PREFIX + vp_jwt,
        "type": "EnvelopedVerifiablePresentation",
    }

    async def check(challenge: str) -> dict[str, Any]:
        reply = await client.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": presentation,
                "options": {"challenge": challenge, "domain": AUD},
            },
        )
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    good = await check(NONCE)
    assert good["verified"] is True, good
    replayed = await check("another-nonce")
    assert replayed["verified"] is False
    assert result(replayed, "signature") == "fail"


@pytest.mark.parametrize(
    ("options", "credential_change", "field"),
    [
        ({"format": "jwt-ish"}, {}, "format"),
        ({"format": "vc+jwt", "cryptosuite": "ecdsa-jcs-2019"}, {}, "cryptosuite"),
        ({"format": "vc+jwt", "holderJwk": {"kty": "OKP"}}, {}, "holderJwk"),
        ({"format": "dc+sd-jwt", "holderJwk": {"kty": "EC", "crv": "P-256"}}, {}, "holderJwk"),
        ({"format": "dc+sd-jwt", "holderJwk": "x"}, {}, "holderJwk"),
        (
            {"format": "dc+sd-jwt"},
            {"credentialStatus": {"type": "BitstringStatusListEntry"}},
            "credentialStatus",
        ),
        ({"format": "dc+sd-jwt"}, {"type": ["VerifiableCredential"]}, "type"),
        ({"format": "dc+sd-jwt"}, {"credentialSubject": [{"id": "urn:x:1"}]}, "credentialSubject"),
    ],
)
async def test_bad_format_options_are_400_problems(
    client: httpx.AsyncClient,
    issuer_key: OrgKey,
    options: dict[str, Any],
    credential_change: dict[str, Any],
    field: str,
) -> None:
    credential = {**passport_credential(), **credential_change}
    response = await issue(client, issuer_key, credential, **options)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text


async def test_envelopes_of_the_wrong_kind_are_400(client: httpx.AsyncClient) -> None:
    for envelope_id in ("data:text/plain,hello", "data:application/vp+jwt,a.b.c", 7):
        document = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": envelope_id,
            "type": "EnvelopedVerifiableCredential",
        }
        response = await client.post("/credentials/verify", json={"verifiableCredential": document})
        assert response.status_code == 400, response.text
    response = await client.post(
        "/presentations/verify",
        json={
            "verifiablePresentation": {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": "data:application/vc+jwt,a.b.c",
                "type": "EnvelopedVerifiablePresentation",
            }
        },
    )
    assert response.status_code == 400, response.text
