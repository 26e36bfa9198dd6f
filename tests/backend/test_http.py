"""Plain HTTP routes: health, DID documents, status lists, context, request ids."""

from __future__ import annotations

import httpx
import pytest

from backend.runtime import Runtime
from credentials.contexts import context_bytes
from credentials.statuslist import decode_status_list_credential
from credentials.vocab import BATTERY_CONTEXT_URL
from tests.backend.conftest import GraphQLClient, OrgKey
from tests.backend.test_passport_slice import ISSUE, REGISTER, battery_input

pytestmark = pytest.mark.integration


async def test_healthz_reports_every_component(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["chain"]["ok"] is True
    assert isinstance(body["chain"]["chain_id"], int)
    assert body["chain"]["block"] >= 1


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 16
    echoed = await client.get("/healthz", headers={"X-Request-ID": "gate-7.abc"})
    assert echoed.headers["x-request-id"] == "gate-7.abc"
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\n"})
    assert refused.headers["x-request-id"] != "bad id\n"


async def test_platform_did_document_lists_its_signing_key(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await client.get("/.well-known/did.json")
    assert response.status_code == 200
    document = response.json()
    assert document["id"] == runtime.platform.did
    (method,) = document["verificationMethod"]
    assert method["type"] == "Multikey"
    assert method["publicKeyMultibase"].startswith("zDn")  # P-256 Multikey
    assert method["id"] in document["assertionMethod"]


async def test_unknown_organisation_did_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/orgs/nobody-here/did.json")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    bad = await client.get("/orgs/NOT_A_SLUG/did.json")
    assert bad.status_code == 422


async def test_status_list_is_served_signed_with_caching_headers(
    client: httpx.AsyncClient, gql: GraphQLClient, manufacturer: OrgKey
) -> None:
    registered = await gql(REGISTER, {"input": battery_input("HTTP-0001")}, key=manufacturer)
    issued = await gql(
        ISSUE, {"id": registered["registerBattery"]["battery"]["id"]}, key=manufacturer
    )
    entry = issued["issuePassport"]["credential"]["document"]["credentialStatus"]
    url = entry["statusListCredential"]
    response = await client.get(url)
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    list_credential = response.json()
    assert list_credential["proof"]["cryptosuite"] == "ecdsa-rdfc-2019"
    decoded = decode_status_list_credential(list_credential)
    assert decoded.bitstring.get(int(entry["statusListIndex"])) == 0
    again = await client.get(url, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    missing = await client.get("/status/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert (await client.get("/status/not-a-list")).status_code == 404


async def test_battery_context_is_served_at_the_path_of_its_url(client: httpx.AsyncClient) -> None:
    path = "/" + BATTERY_CONTEXT_URL.split("://", 1)[1].split("/", 1)[1]
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content == context_bytes(BATTERY_CONTEXT_URL)


async def test_graphiql_is_served_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()
