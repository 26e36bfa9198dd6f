"""The mobile API's conventions: global IDs, keyset connections, limits, idempotency, no N+1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from backend.runtime import Runtime
from graphql_schema.schema import build_schema
from tests.backend.conftest import GraphQLClient, OrgKey
from tests.backend.test_passport_slice import ISSUE, REGISTER, battery_input

pytestmark = pytest.mark.integration

PAGE = """
query Page($first: Int, $after: String) {
  batteries(first: $first, after: $after) {
    edges { cursor node { id identifier passport { id status } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def register(
    gql: GraphQLClient, key: OrgKey, identifier: str, **extra: Any
) -> dict[str, Any]:
    variables = {"input": {**battery_input(identifier), **extra}}
    result: dict[str, Any] = (await gql(REGISTER, variables, key=key))["registerBattery"]
    return result


async def post(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_global_ids_are_opaque_and_resolve_through_node(
    gql: GraphQLClient, manufacturer: OrgKey
) -> None:
    battery = (await register(gql, manufacturer, "NODE-0001"))["battery"]
    assert battery["id"] != battery["passportId"].removeprefix("urn:uuid:")
    found = await gql(
        "query($id: ID!) { node(id: $id) { id ... on Battery { identifier } } }",
        {"id": battery["id"]},
    )
    assert found["node"] == {"id": battery["id"], "identifier": "NODE-0001"}
    for bogus in ("not-base64!", "QmF0dGVyeQ", "Q3JlZGVudGlhbDpub3BlCg"):
        assert (await gql("query($id: ID!) { node(id: $id) { id } }", {"id": bogus}))[
            "node"
        ] is None


async def test_batteries_page_by_keyset_without_gaps_or_repeats(
    gql: GraphQLClient, manufacturer: OrgKey
) -> None:
    for n in range(5):
        await register(gql, manufacturer, f"PAGE-{n:04d}")
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(PAGE, {"first": 2, "after": after}))["batteries"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        assert len(page["edges"]) <= 2
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen))
    everything = (await gql(PAGE, {"first": 100}))["batteries"]["edges"]
    assert seen == [edge["node"]["id"] for edge in everything]


async def test_page_size_and_cursor_errors_are_coded(client: httpx.AsyncClient) -> None:
    for variables, code in (
        ({"first": 101}, "INVALID_INPUT"),
        ({"first": 0}, "INVALID_INPUT"),
        ({"after": "@@@"}, "INVALID_INPUT"),
    ):
        body = await post(client, PAGE, variables)
        assert body["errors"][0]["extensions"]["code"] == code, body


async def test_a_query_deeper_than_the_limit_is_refused_before_execution() -> None:
    # The passport schema is shallow today (depth 5), so the mechanism is checked on a schema
    # built with a lower limit.
    schema = build_schema(production=False, max_depth=3)
    result = await schema.execute("{ batteries { edges { node { passport { credentialId } } } } }")
    assert result.data is None
    assert result.errors is not None
    assert "exceeds maximum operation depth" in result.errors[0].message


async def test_too_many_aliases_are_refused_before_execution(client: httpx.AsyncClient) -> None:
    aliases = (
        "{ "
        + " ".join(f"a{i}: batteries(first: 1) {{ pageInfo {{ hasNextPage }} }}" for i in range(20))
        + " }"
    )
    body = await post(client, aliases)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_a_replayed_idempotency_key_returns_the_first_result_and_writes_nothing(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    key = f"mobile-{uuid.uuid4()}"
    first = await register(gql, manufacturer, "IDEM-0001", idempotencyKey=key)
    again = await register(gql, manufacturer, "IDEM-0001", idempotencyKey=key)
    assert first["__typename"] == again["__typename"] == "RegisterBatterySuccess"
    assert first["battery"]["id"] == again["battery"]["id"]

    issue_key = f"issue-{uuid.uuid4()}"
    variables = {"id": first["battery"]["id"]}
    issue_with_key = ISSUE.replace(
        "{batteryId: $id}", "{batteryId: $id, idempotencyKey: $key}"
    ).replace("($id: ID!)", "($id: ID!, $key: String)")
    issued = (await gql(issue_with_key, variables | {"key": issue_key}, key=manufacturer))[
        "issuePassport"
    ]
    replayed = (await gql(issue_with_key, variables | {"key": issue_key}, key=manufacturer))[
        "issuePassport"
    ]
    assert issued["credential"]["id"] == replayed["credential"]["id"]
    passports = (await gql(PAGE, {"first": 100}))["batteries"]["edges"]
    mine = [e for e in passports if e["node"]["id"] == first["battery"]["id"]]
    assert mine[0]["node"]["passport"]["id"] == issued["credential"]["id"]

    conflict = await register(gql, manufacturer, "IDEM-0002", idempotencyKey=key)
    assert conflict["__typename"] == "PassportError"
    assert conflict["code"] == "CONFLICT"


@contextmanager
def counting_queries(runtime: Runtime) -> Iterator[list[str]]:
    """The statements run on behalf of the code inside the block (tasks it starts included,
    through the context they copy) — not those of the runtime's background tasks."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _COUNTING.get():
            statements.append(statement)

    engines = [engine.sync_engine for engine in runtime.db.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    token = _COUNTING.set(True)
    try:
        yield statements
    finally:
        _COUNTING.reset(token)
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)


_COUNTING: ContextVar[bool] = ContextVar("counting_queries", default=False)


async def test_passports_of_a_page_load_in_one_query_not_one_per_battery(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    for n in range(6):
        created = await register(gql, manufacturer, f"NPLUS-{n:04d}")
        await gql(ISSUE, {"id": created["battery"]["id"]}, key=manufacturer)

    async def queries_for(first: int) -> int:
        with counting_queries(runtime) as statements:
            page = (await gql(PAGE, {"first": first}))["batteries"]["edges"]
        assert len(page) == first
        # Only what this request runs: the background publisher and outbox query other tables.
        return len([s for s in statements if "battery" in s or "issued_credential" in s])

    few, many = await queries_for(2), await queries_for(6)
    assert few == many >= 2  # the page, and the passports of the whole page at once


RICH_PAGE = """
query Page($first: Int) {
  batteries(first: $first) {
    edges { node {
      id access { groups }
      attributes { term value }
      batteryModel { name }
      passport { credentialId }
      conditionCredential { credentialId }
      events { kind data }
      installations { vehicleId }
      passportVersions { version credentialId }
      predecessor { id } successor { id }
    } }
  }
}
"""
DOMAIN_TABLES = (
    "battery",
    "battery_model",
    "issued_credential",
    "lifecycle_event",
    "installation",
    "organisation",
    "consent",
    "passport_version",
)


async def test_a_page_with_every_nested_field_costs_the_same_queries_for_2_or_6(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    for n in range(6):
        created = await register(gql, manufacturer, f"NPRICH-{n:04d}")
        await gql(ISSUE, {"id": created["battery"]["id"]}, key=manufacturer)

    async def queries_for(first: int) -> int:
        with counting_queries(runtime) as statements:
            page = (await gql(RICH_PAGE, {"first": first}, key=manufacturer))["batteries"]
        assert len(page["edges"]) == first
        assert all(edge["node"]["attributes"] for edge in page["edges"])
        return len([s for s in statements if any(t in s for t in DOMAIN_TABLES)])

    few, many = await queries_for(2), await queries_for(6)
    assert few == many >= 3  # one query per kind of data, whatever the page size
