"""Bad input to the domain mutations: every one answers a typed union error with its code
(and the input field where there is one), and writes nothing — no row, no audit entry."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import select

from backend.audit.models import AuditEntry
from backend.lifecycle.models import LifecycleEvent
from backend.orgs.roles import Role
from backend.passports.models import Battery, BatteryModel
from backend.runtime import Runtime
from backend.vehicles.models import Vehicle
from tests.backend.test_authorization_matrix import Api, make_driver, make_org

pytestmark = pytest.mark.integration

TABLES = (Battery, BatteryModel, Vehicle, LifecycleEvent, AuditEntry)


async def row_counts(runtime: Runtime) -> list[int]:
    async with runtime.db.read_only() as session:
        return [
            int((await session.exec(select(func.count()).select_from(table))).one())
            for table in TABLES
        ]


def model_input(**override: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": f"Bad {uuid.uuid4().hex[:6]}",
        "manufacturer": "Bad Cells",
        "chemistry": "NMC",
        "ratedCapacityAh": 100,
        "nominalVoltageV": 400,
    }
    return {**values, **override}


async def test_bad_domain_input_is_typed_and_writes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    api = Api(client)
    maker = await make_org(runtime, "bad-maker", Role.MANUFACTURER)
    driver = await make_driver(api, "bad-driver")
    battery = (
        await api(
            """mutation($i: RegisterBatteryInput!) { registerBattery(input: $i) {
                 ... on RegisterBatterySuccess { battery { id } } } }""",
            {
                "i": {
                    "identifier": f"BI-{uuid.uuid4().hex[:8].upper()}",
                    "model": "Bad",
                    "manufacturer": "Bad",
                    "chemistry": "LFP",
                    "ratedCapacityAh": 10,
                    "nominalVoltageV": 48,
                }
            },
            maker,
        )
    )["registerBattery"]["battery"]["id"]
    unknown = str(uuid.uuid4())
    model_mutation = """mutation($i: RegisterBatteryModelInput!) { registerBatteryModel(input: $i)
        { __typename ... on PassportError { code field message } } }"""
    event = """mutation($b: ID!, $k: PlainEventKind!, $d: JSON) { recordLifecycleEvent(input:
        {batteryId: $b, kind: $k, data: $d}) { __typename ... on PassportError { code field } } }"""
    cases: list[tuple[str, str, dict[str, Any], Any, str, str | None]] = [
        (
            "unknown chemistry",
            model_mutation,
            {"i": model_input(chemistry="UNOBTAINIUM")},
            maker,
            "INVALID_INPUT",
            "chemistry",
        ),
        (
            "negative capacity",
            model_mutation,
            {"i": model_input(ratedCapacityAh=-5)},
            maker,
            "INVALID_INPUT",
            "ratedCapacityAh",
        ),
        (
            "attributes not an object",
            model_mutation,
            {"i": model_input(attributes=[1, 2])},
            maker,
            "INVALID_INPUT",
            "attributes",
        ),
        (
            "unknown attribute",
            model_mutation,
            {"i": model_input(attributes={"colour": "red"})},
            maker,
            "INVALID_INPUT",
            "colour",
        ),
        (
            "item attribute on a model",
            model_mutation,
            {"i": model_input(attributes={"puttingIntoServiceDate": "2025-01"})},
            maker,
            "INVALID_INPUT",
            "puttingIntoServiceDate",
        ),
        ("model by a driver", model_mutation, {"i": model_input()}, driver, "FORBIDDEN", None),
        (
            "bad VIN check digit",
            """mutation { registerVehicle(input: {vin: "1M8GDM9AYKP042788"}) {
              __typename ... on PassportError { code field } } }""",
            {},
            maker,
            "INVALID_VIN",
            "vin",
        ),
        (
            "unknown battery",
            event,
            {"b": unknown, "k": "REPAIRED", "d": None},
            maker,
            "NOT_FOUND",
            "batteryId",
        ),
        (
            "malformed battery id",
            event,
            {"b": "not-an-id", "k": "REPAIRED", "d": None},
            maker,
            "INVALID_INPUT",
            "batteryId",
        ),
        (
            "history must start with manufactured",
            event,
            {"b": battery, "k": "REPAIRED", "d": None},
            maker,
            "LIFECYCLE_TRANSITION",
            "kind",
        ),
        (
            "event data not an object",
            event,
            {"b": battery, "k": "MANUFACTURED", "d": "text"},
            maker,
            "INVALID_INPUT",
            "data",
        ),
        (
            "event data too large",
            event,
            {"b": battery, "k": "MANUFACTURED", "d": {"x": "y" * 20_000}},
            maker,
            "INVALID_INPUT",
            "data",
        ),
        (
            "install into an unknown vehicle",
            """mutation($b: ID!, $v: ID!) { installBattery(input: {batteryId: $b, vehicleId: $v})
              { __typename ... on PassportError { code field } } }""",
            {"b": battery, "v": unknown},
            maker,
            "LIFECYCLE_TRANSITION",
            "kind",
        ),
        (
            "measurement of a static attribute",
            """mutation($b: ID!) { recordMeasurements(input: {batteryId: $b, measurements: [
              {term: "ratedCapacity", value: 1, measuredAt: "2026-01-01T00:00:00Z",
               method: "m"}]}) { __typename ... on PassportError { code field } } }""",
            {"b": battery},
            maker,
            "INVALID_INPUT",
            "ratedCapacity",
        ),
        (
            "measurement out of range",
            """mutation($b: ID!) { recordMeasurements(input: {batteryId: $b, measurements: [
              {term: "stateOfCertifiedEnergy", value: 250, measuredAt: "2026-01-01T00:00:00Z",
               method: "m"}]}) { __typename ... on PassportError { code field } } }""",
            {"b": battery},
            maker,
            "INVALID_INPUT",
            "stateOfCertifiedEnergy",
        ),
        (
            "consent to a non-DID",
            """mutation { grantConsent(input: {grantee: "acme", dataGroup: "performance"}) {
              __typename ... on AccountError { code field } } }""",
            {},
            driver,
            "INVALID_INPUT",
            "grantee",
        ),
        (
            "consent to an unknown group",
            """mutation { grantConsent(input: {grantee: "did:web:x.example", dataGroup: "dna"}) {
              __typename ... on AccountError { code field } } }""",
            {},
            driver,
            "INVALID_INPUT",
            "dataGroup",
        ),
        (
            "withdraw what was never granted",
            """mutation { withdrawConsent(input: {grantee: "did:web:x.example",
              dataGroup: "materials"}) { __typename ... on AccountError { code field } } }""",
            {},
            driver,
            "NOT_FOUND",
            "dataGroup",
        ),
        (
            "short password",
            """mutation { signUp(input: {email: "short@example.org", password: "abc"}) {
              __typename ... on AccountError { code field } } }""",
            {},
            None,
            "INVALID_INPUT",
            "password",
        ),
        (
            "neither email nor phone",
            """mutation { signUp(input: {password: "long enough password"}) {
              __typename ... on AccountError { code field } } }""",
            {},
            None,
            "INVALID_INPUT",
            "email",
        ),
        (
            "accredit a non-role",
            """mutation { accreditIssuer(input: {issuer: "did:web:x.example", role: INSPECTOR,
              days: 0}) { __typename ... on AuthorityError { code field } } }""",
            {},
            await make_org(runtime, "bad-authority", Role.AUTHORITY),
            "INVALID_INPUT",
            "days",
        ),
        (
            "event proof of an unknown event",
            """query { eventProof(eventId: "urn:uuid:00000000-0000-4000-8000-000000000000") {
              __typename ... on PassportError { code field } } }""",
            {},
            None,
            "NOT_FOUND",
            "eventId",
        ),
    ]
    before = await row_counts(runtime)
    wrong: list[str] = []
    for name, query, variables, actor, code, field in cases:
        answer = next(iter((await api(query, variables, actor)).values()))
        if answer.get("code") != code or answer.get("field") != field:
            wrong.append(f"{name}: {answer} (expected {code} on {field})")
    assert not wrong, wrong
    assert await row_counts(runtime) == before
