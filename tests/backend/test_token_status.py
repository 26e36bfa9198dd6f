"""Token Status List in the backend: SD-JWT VCs reference the issuer's revocation list, the
list is served as a `statuslist+jwt`, a revocation fails verification, and the list rebuilt
from the chain's StatusListRegistry events equals the served token's list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.auth.principal import Principal
from backend.chain.rebuild import rebuild_from_chain
from backend.issuance.models import StatusList
from backend.issuance.service import token_status_list
from backend.orgs.roles import Role
from backend.runtime import Runtime
from credentials.jose import ENVELOPED_SD_JWT_PREFIX, envelope
from credentials.keys import KeyPair
from credentials.sdjwt import parse_issuer_jwt, present_sd_jwt
from credentials.tokenstatus import parse_status_list_token
from tests.backend.conftest import OrgKey, make_key
from tests.backend.test_vcapi import issue, passport_credential

pytestmark = pytest.mark.integration

NONCE, AUD = "n-42", "https://buyer.example"


@pytest.fixture(scope="module")
async def issuer_key(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "token-status-inspection", Role.ISSUER)


def test_token_list_packs_values_least_significant_bit_first() -> None:
    values = bytearray(20)
    for index in (0, 9, 19):
        values[index] = 1
    token_list = token_status_list(bytes(values))
    assert token_list.to_bytes() == bytes([0b0000_0001, 0b0000_0010, 0b0000_1000])
    assert [i for i in range(20) if token_list.get(i)] == [0, 9, 19]


async def _verify(client: httpx.AsyncClient, presented: str) -> dict[str, Any]:
    response = await client.post(
        "/credentials/verify",
        json={
            "verifiableCredential": envelope(presented, ENVELOPED_SD_JWT_PREFIX),
            "options": {"challenge": NONCE, "domain": AUD},
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _status(body: dict[str, Any], name: str) -> str:
    (check,) = [r for r in body["results"] if r["name"] == name]
    return str(check["status"])


async def test_revoked_sd_jwt_fails_and_the_chain_rebuild_equals_the_served_token(
    client: httpx.AsyncClient, issuer_key: OrgKey, runtime: Runtime
) -> None:
    holder = KeyPair.generate("P-256")
    response = await issue(
        client, issuer_key, passport_credential(), format="dc+sd-jwt", holderJwk=holder.public_jwk
    )
    assert response.status_code == 201, response.text
    token = response.json()["verifiableCredential"]["id"][len(ENVELOPED_SD_JWT_PREFIX) :]
    _, _, payload = parse_issuer_jwt(token)
    uri, index = payload["status"]["status_list"]["uri"], payload["status"]["status_list"]["idx"]
    list_id = uri.rsplit("/", 2)[1]
    presented = present_sd_jwt(token, {("stateOfHealth",)}, holder=holder, nonce=NONCE, aud=AUD)

    served = await client.get(uri)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/statuslist+jwt")
    parsed = parse_status_list_token(served.text)
    assert parsed.header["typ"] == "statuslist+jwt"
    assert parsed.payload["sub"] == uri
    assert parsed.payload["ttl"] > 0
    assert parsed.kid.split("#")[0] == payload["iss"]
    assert parsed.status_list().get(index) == 0
    again = await client.get(uri, headers={"if-none-match": served.headers["etag"]})
    assert again.status_code == 304

    before = await _verify(client, presented)
    assert before["verified"] is True, before
    assert _status(before, "status_revocation") == "pass"

    # The issuing organisation revokes it by its id (the SD-JWT's `jti`).
    principal = Principal(organisation_id=1, organisation_slug=issuer_key.slug, role=Role.ISSUER)
    async with runtime.db.unit_of_work() as session:
        revoked = await runtime.issuance.revoke(
            session, principal, payload["jti"], reason="test", urgent=True
        )
    assert revoked.status_index == index
    after = await _verify(client, presented)
    assert after["verified"] is False
    assert _status(after, "status_revocation") == "fail"
    assert _status(after, "signature") == "pass"
    served_list = parse_status_list_token((await client.get(uri)).text).status_list()
    assert served_list.get(index) == 1

    # The same list reaches the StatusListRegistry through the outbox; rebuilt from the
    # chain's events alone it is bit for bit the served token's list.
    await runtime.issuance.publish_status_changes()
    await runtime.outbox.drain_once()
    async with runtime.db.read_only() as session:
        row = await session.get(StatusList, list_id)
    assert row is not None
    rebuilt = await rebuild_from_chain(runtime.chain, row.issuer_address, list_id)
    assert rebuilt.values[index] == 1
    assert token_status_list(rebuilt.values).to_bytes() == served_list.to_bytes()


async def test_unknown_token_lists_are_404(client: httpx.AsyncClient) -> None:
    for list_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = await client.get(f"/status/{list_id}/token")
        assert response.status_code == 404, response.text
