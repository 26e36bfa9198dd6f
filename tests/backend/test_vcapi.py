"""W3C VC-API: issue as the caller's organisation, verify credentials and presentations."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.conftest import OrgKey, make_key
from tests.conftest import SHARED_DIR

pytestmark = pytest.mark.integration

FIXTURES = SHARED_DIR / "vectors" / "vcdm2-fixtures"
CREDENTIAL_FIXTURES = sorted(
    p for p in FIXTURES.glob("*.json") if p.name.startswith(("credential-", "issuer-"))
)


@pytest.fixture(scope="module")
async def issuer_key(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "busan-inspection", Role.ISSUER)


def load_fixture(path: Path) -> dict[str, Any]:
    """A fixture with the W3C harness's date placeholders replaced by real dates."""
    now = datetime.now(UTC).replace(microsecond=0)
    past = (now - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = (now + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = path.read_text().replace('"PAST DATE"', f'"{past}"')
    loaded: dict[str, Any] = json.loads(text.replace('"FUTURE DATE"', f'"{future}"'))
    return loaded


def with_issuer(credential: dict[str, Any], did: str) -> dict[str, Any]:
    """The fixture with its issuer replaced by the signing organisation (the VC-API rule)."""
    out = copy.deepcopy(credential)
    issuer = out.get("issuer")
    if isinstance(issuer, dict):
        issuer["id"] = did
    else:
        out["issuer"] = did
    return out


async def issue(
    client: httpx.AsyncClient, key: OrgKey, credential: dict[str, Any], **options: Any
) -> httpx.Response:
    return await client.post(
        "/credentials/issue",
        json={"credential": credential, "options": options},
        headers=key.headers,
    )


@pytest.mark.parametrize("fixture", CREDENTIAL_FIXTURES, ids=lambda p: p.name)
async def test_w3c_fixture_accepted_or_refused(
    fixture: Path, client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    credential = load_fixture(fixture)
    did = runtime.platform.organisation_did(issuer_key.slug)
    # credential-issuer-* fixtures test the issuer forms themselves: posted as they are.
    if not fixture.name.startswith("credential-issuer-"):
        credential = with_issuer(credential, did)
    response = await issue(client, issuer_key, credential)
    if fixture.name.endswith("-ok.json"):
        assert response.status_code == 201, response.text
        signed = response.json()["verifiableCredential"]
        issuer = signed["issuer"]
        assert (issuer["id"] if isinstance(issuer, dict) else issuer) == did
        proofs = signed["proof"] if isinstance(signed["proof"], list) else [signed["proof"]]
        # A proof the input already had is kept: ours is added to the proof set.
        assert proofs[-1]["verificationMethod"].startswith(did + "#")
    else:
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


def passport_credential() -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://w3id.org/battery-passport/v1",
        ],
        "type": ["VerifiableCredential", "BatteryInspectionCredential"],
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": "urn:uuid:6f1b7c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e",
            "type": "Battery",
            "batteryIdentifier": "KR2026010001NMC",
            "stateOfHealth": 93.5,
        },
    }


@pytest.mark.parametrize(
    "cryptosuite", ["ecdsa-rdfc-2019", "eddsa-rdfc-2022", "ecdsa-jcs-2019", "eddsa-jcs-2022"]
)
async def test_issue_and_verify_round_trip_for_every_suite(
    cryptosuite: str, client: httpx.AsyncClient, issuer_key: OrgKey
) -> None:
    response = await issue(client, issuer_key, passport_credential(), cryptosuite=cryptosuite)
    assert response.status_code == 201, response.text
    signed = response.json()["verifiableCredential"]
    assert signed["proof"]["cryptosuite"] == cryptosuite
    assert signed["credentialStatus"]["type"] == "BitstringStatusListEntry"
    verified = await client.post("/credentials/verify", json={"verifiableCredential": signed})
    assert verified.status_code == 200
    body = verified.json()
    assert body["verified"] is True, body
    assert body["problemDetails"] == []
    assert {r["name"] for r in body["results"]} >= {"schema", "signature", "status_revocation"}

    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["stateOfHealth"] = 99.9
    failed = (
        await client.post("/credentials/verify", json={"verifiableCredential": tampered})
    ).json()
    assert failed["verified"] is False
    (signature,) = [r for r in failed["results"] if r["name"] == "signature"]
    assert signature["status"] == "fail"
    assert any(p["type"] == "urn:bpp:check:signature" for p in failed["problemDetails"])


async def test_a_key_cannot_issue_as_another_organisation_or_the_platform(
    client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    for other in (runtime.platform.did, runtime.platform.organisation_did("someone-else")):
        credential = {**passport_credential(), "issuer": other}
        response = await issue(client, issuer_key, credential)
        assert response.status_code == 400, response.text
        credential = {**passport_credential(), "issuer": {"id": other, "name": "x"}}
        assert (await issue(client, issuer_key, credential)).status_code == 400


async def test_issue_needs_an_issuing_role(client: httpx.AsyncClient, runtime: Runtime) -> None:
    anonymous = await client.post("/credentials/issue", json={"credential": passport_credential()})
    assert anonymous.status_code == 401
    parking = await make_key(runtime, "gate-operator", Role.PARKING_OPERATOR)
    assert (await issue(client, parking, passport_credential())).status_code == 403


async def test_bad_bodies_are_4xx_problems(client: httpx.AsyncClient, issuer_key: OrgKey) -> None:
    for body in (b"not json", b"[1, 2]", json.dumps({"credential": "x"}).encode(), b"[" * 5000):
        response = await client.post(
            "/credentials/issue",
            content=body,
            headers=issuer_key.headers | {"content-type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (body[:20], response.text)
    unknown_suite = await issue(client, issuer_key, passport_credential(), cryptosuite="rot13-2026")
    assert unknown_suite.status_code == 400
    for body in (b"{}", b'{"verifiableCredential": 7}', b"\xff\xfe"):
        response = await client.post(
            "/credentials/verify", content=body, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, response.text


async def test_the_organisation_did_document_is_served(
    client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    response = await client.get(f"/orgs/{issuer_key.slug}/did.json")
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == runtime.platform.organisation_did(issuer_key.slug)
    assert document["verificationMethod"]


async def test_presentation_verify_checks_challenge_and_refuses_bad_form(
    client: httpx.AsyncClient,
) -> None:
    bad = {"@context": ["https://www.w3.org/ns/credentials/v2"], "type": ["NotAPresentation"]}
    response = await client.post("/presentations/verify", json={"verifiablePresentation": bad})
    assert response.status_code == 400


async def test_a_holder_presentation_verifies_only_with_its_challenge(
    client: httpx.AsyncClient, issuer_key: OrgKey
) -> None:
    from credentials.did import did_key_from_public_key, did_key_vm_id
    from credentials.issuance import sign_presentation
    from credentials.keys import KeyAlgorithm, KeyPair, PublicKey

    signed = (await issue(client, issuer_key, passport_credential())).json()["verifiableCredential"]
    holder_key = KeyPair.generate(KeyAlgorithm.ED25519)
    holder = did_key_from_public_key(PublicKey.from_multikey(holder_key.public_multikey))
    holder_key = holder_key.with_key_id(did_key_vm_id(holder))
    presentation = sign_presentation(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": ["VerifiablePresentation"],
            "holder": holder,
            "verifiableCredential": [signed],
        },
        holder_key,
        challenge="gate-7-nonce",
        domain="parking.example",
        cryptosuite="eddsa-rdfc-2022",
    )

    async def verify(challenge: str) -> dict[str, Any]:
        response = await client.post(
            "/presentations/verify",
            json={
                "verifiablePresentation": presentation,
                "options": {"challenge": challenge, "domain": "parking.example"},
            },
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert (await verify("gate-7-nonce"))["verified"] is True
    replayed = await verify("another-nonce")
    assert replayed["verified"] is False
