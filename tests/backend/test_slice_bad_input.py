"""Bad input to every mutation of the slice: a typed error, never a 500, nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from backend.models import (
    Battery,
    ChainTransaction,
    IssuedCredential,
    StatusChange,
    StatusList,
)
from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.test_passport_slice import ISSUE, REGISTER, REVOKE, VERIFY, battery_input

pytestmark = pytest.mark.integration

TABLES = (Battery, IssuedCredential, StatusList, StatusChange)


async def row_counts(runtime: Runtime) -> dict[str, int]:
    """Rows a request can write. Chain writes a request queues itself are `createList`s; the
    publishes the background publisher adds follow from `status_change` rows, counted here."""
    counts = {}
    async with runtime.db.read_only() as session:
        for table in TABLES:
            counts[table.__name__] = (
                await session.exec(select(func.count()).select_from(table))
            ).one()
        counts["queued createList"] = (
            await session.exec(
                select(func.count())
                .select_from(ChainTransaction)
                .where(ChainTransaction.function == "createList")
            )
        ).one()
    return counts


async def error_of(
    gql: GraphQLClient, query: str, variables: dict[str, Any], key: OrgKey | None
) -> dict[str, Any]:
    data = await gql(query, variables, key=key)
    (result,) = data.values()
    assert result["__typename"] == "PassportError", result
    return dict(result)


@pytest.fixture(scope="module")
async def other_manufacturer(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "other-cells", Role.MANUFACTURER)


async def test_register_battery_refusals_write_nothing(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    before = await row_counts(runtime)
    cases: list[tuple[dict[str, Any], OrgKey | None, str, str | None]] = [
        (battery_input("BAD-0001"), None, "UNAUTHENTICATED", None),
        ({**battery_input("bad id with spaces")}, manufacturer, "INVALID_INPUT", "identifier"),
        ({**battery_input("X")}, manufacturer, "INVALID_INPUT", "identifier"),
        ({**battery_input("BAD-0002"), "model": "   "}, manufacturer, "INVALID_INPUT", "model"),
        (
            {**battery_input("BAD-0003"), "chemistry": "UNOBTAINIUM"},
            manufacturer,
            "INVALID_INPUT",
            "chemistry",
        ),
        (
            {**battery_input("BAD-0004"), "ratedCapacityAh": -5.0},
            manufacturer,
            "INVALID_INPUT",
            "ratedCapacityAh",
        ),
        (
            {**battery_input("BAD-0005"), "nominalVoltageV": 0.0},
            manufacturer,
            "INVALID_INPUT",
            "nominalVoltageV",
        ),
    ]
    for variables, key, code, field in cases:
        error = await error_of(gql, REGISTER, {"input": variables}, key)
        assert (error["code"], error["field"]) == (code, field), variables
    assert await row_counts(runtime) == before


async def test_a_key_of_a_role_that_may_not_register_is_forbidden(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    parking = await make_key(runtime, "city-parking", Role.PARKING_OPERATOR)
    error = await error_of(gql, REGISTER, {"input": battery_input("PARK-0001")}, parking)
    assert error["code"] == "FORBIDDEN"


async def test_an_invalid_or_revoked_api_key_is_unauthenticated(
    gql: GraphQLClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    forged = OrgKey(slug="x", role=Role.MANUFACTURER, key=manufacturer.key[:-1] + "0")
    error = await error_of(gql, REGISTER, {"input": battery_input("FORGED-0001")}, forged)
    assert error["code"] == "UNAUTHENTICATED"

    from backend.orgs.apikeys import parse_api_key
    from backend.orgs.service import revoke_api_key

    key = await make_key(runtime, "short-lived", Role.MANUFACTURER)
    prefix = parse_api_key(key.key)
    assert prefix is not None
    async with runtime.db.unit_of_work() as session:
        await revoke_api_key(session, prefix)
    error = await error_of(gql, REGISTER, {"input": battery_input("REVOKED-0001")}, key)
    assert error["code"] == "UNAUTHENTICATED"


async def test_a_missing_required_field_is_a_coded_validation_error(
    client: httpx.AsyncClient, manufacturer: OrgKey, runtime: Runtime
) -> None:
    before = await row_counts(runtime)
    variables = battery_input("MISSING-0001")
    del variables["chemistry"]
    response = await client.post(
        "/graphql",
        json={"query": REGISTER, "variables": {"input": variables}},
        headers=manufacturer.headers,
    )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "chemistry" in error["message"]
    assert await row_counts(runtime) == before


async def test_a_duplicate_identifier_is_refused(gql: GraphQLClient, manufacturer: OrgKey) -> None:
    first = await gql(REGISTER, {"input": battery_input("DUP-0001")}, key=manufacturer)
    assert first["registerBattery"]["__typename"] == "RegisterBatterySuccess"
    error = await error_of(gql, REGISTER, {"input": battery_input("DUP-0001")}, manufacturer)
    assert (error["code"], error["field"]) == ("ALREADY_EXISTS", "identifier")


async def test_issue_passport_refusals_write_nothing_and_queue_no_chain_write(
    gql: GraphQLClient, manufacturer: OrgKey, other_manufacturer: OrgKey, runtime: Runtime
) -> None:
    registered = await gql(REGISTER, {"input": battery_input("ISSUE-0001")}, key=manufacturer)
    battery_id = registered["registerBattery"]["battery"]["id"]
    before = await row_counts(runtime)
    cases: list[tuple[str, OrgKey | None, str]] = [
        (str(uuid.uuid4()), manufacturer, "NOT_FOUND"),
        ("not-a-uuid", manufacturer, "INVALID_INPUT"),
        (battery_id, None, "UNAUTHENTICATED"),
        (battery_id, other_manufacturer, "FORBIDDEN"),
    ]
    for given, key, code in cases:
        error = await error_of(gql, ISSUE, {"id": given}, key)
        assert error["code"] == code, given
    assert await row_counts(runtime) == before


async def test_revoke_refusals_and_revoking_twice(
    gql: GraphQLClient, manufacturer: OrgKey, other_manufacturer: OrgKey, runtime: Runtime
) -> None:
    registered = await gql(REGISTER, {"input": battery_input("TWICE-0001")}, key=manufacturer)
    battery_id = registered["registerBattery"]["battery"]["id"]
    issued = await gql(ISSUE, {"id": battery_id}, key=manufacturer)
    credential_id = issued["issuePassport"]["credential"]["document"]["id"]

    before = await row_counts(runtime)
    for given, key, code in [
        (f"urn:uuid:{uuid.uuid4()}", manufacturer, "NOT_FOUND"),
        (credential_id, None, "UNAUTHENTICATED"),
        (credential_id, other_manufacturer, "FORBIDDEN"),
    ]:
        error = await error_of(gql, REVOKE, {"id": given, "urgent": False}, key)
        assert error["code"] == code, given
    assert await row_counts(runtime) == before

    first = await gql(REVOKE, {"id": credential_id, "urgent": False}, key=manufacturer)
    assert first["revokeCredential"]["__typename"] == "RevokeCredentialSuccess"
    after_first = await row_counts(runtime)
    error = await error_of(gql, REVOKE, {"id": credential_id, "urgent": False}, manufacturer)
    assert error["code"] == "ALREADY_REVOKED"
    assert await row_counts(runtime) == after_first


async def test_verify_refuses_a_non_object_and_fails_garbage(gql: GraphQLClient) -> None:
    error = await error_of(gql, VERIFY, {"credential": [1, 2, 3]}, None)
    assert error["code"] == "INVALID_INPUT"
    garbage = (await gql(VERIFY, {"credential": {"hello": "world"}}))["verifyCredential"]
    assert garbage["verified"] is False
    schema = next(c for c in garbage["checks"] if c["name"] == "schema")
    assert schema["status"] == "FAIL"
