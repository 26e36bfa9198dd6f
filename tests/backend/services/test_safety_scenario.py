"""The charging & safety acceptance scenario on simulated gateway data.

An overheating pack raises an alert (a lifecycle event, streamed to the owner's
subscription), suspends its charging credential, a charger's request is refused, the parking
gate denies underground entry; a later healthy reading clears the alert, resumes the
credential and the gate lets the car in again. A healthy battery gets a credential with the
underground SoC cap.
"""

from __future__ import annotations

import httpx
import pytest

from backend.lifecycle.service import verify_chain
from backend.orgs.roles import Role
from backend.runtime import Runtime
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.services.safety_helpers import (
    BATTERY_SAFETY,
    HEALTHY,
    REQUEST_CREDENTIAL,
    SAFETY_ALERTS,
    Subscription,
    car_with_battery,
    gate,
    hot,
    now_ms,
    read,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def charger(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "safety-charge-co", Role.CHARGE_POINT_OPERATOR)


@pytest.fixture(scope="session")
async def gatekeeper(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "safety-parking-co", Role.PARKING_OPERATOR)


def status_check(result: dict[str, object], name: str) -> str:
    checks = result["checks"]
    assert isinstance(checks, list)
    found = [c for c in checks if c["name"] == name]
    assert len(found) == 1, checks
    return str(found[0]["status"])


async def request(
    gql: GraphQLClient, key: OrgKey, *, underground: bool, **target: str
) -> dict[str, object]:
    data = await gql(
        REQUEST_CREDENTIAL,
        {"input": {"chargerId": "EVSE-B2-07", "underground": underground, **target}},
        key=key,
    )
    result: dict[str, object] = data["requestChargingCredential"]
    return result


async def test_overheating_pack_suspends_refuses_denies_then_a_healthy_reading_restores(
    runtime: Runtime,
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    charger: OrgKey,
    gatekeeper: OrgKey,
) -> None:
    car = await car_with_battery(runtime, gql, charger)
    start = now_ms() - 600_000
    await read(gql, car, [(start, HEALTHY)])

    # Healthy: a credential for the underground charger, capped at 90 % (grade A).
    issued = await request(gql, charger, underground=True, vin=car.vin)
    assert issued["__typename"] == "ChargingSafetyCredential", issued
    assert (issued["grade"], issued["maxSocPct"], issued["suspended"]) == ("A", 90.0, False)
    credential = issued["credential"]
    assert isinstance(credential, dict)
    assert credential["type"] == ["VerifiableCredential", "ChargingSafetyCredential"]
    assert credential["credentialSubject"]["maxAllowedStateOfCharge"] == 90.0
    assert credential["credentialStatus"]["statusPurpose"] == "suspension"
    verified = await runtime.issuance.verify(credential)
    assert verified["verified"] is True, verified
    assert status_check(verified, "status_suspension") == "pass"
    status, allowed = await gate(client, gatekeeper, plate=car.plate, underground="true")
    assert (status, allowed["decision"], allowed["chargeCapPct"]) == (
        200,
        "ALLOW_WITH_CHARGE_CAP",
        90.0,
    )

    # The pack overheats a minute later: an alert, streamed to the owner's subscription.
    async with Subscription(runtime, car.battery_id) as owner_app:
        await read(gql, car, [(start + 60_000, hot())])
        streamed = await owner_app.wait_for("SAFETY_ALERT")
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=gatekeeper))["batterySafety"]
    assert safety["__typename"] == "BatterySafety", safety
    rules = {a["rule"]: a for a in safety["openAlerts"]}
    assert {"pack_overtemperature", "module_overtemperature", "temperature_rise_rate"} <= set(rules)
    overheating = rules["pack_overtemperature"]
    assert overheating["severity"] == "CRITICAL"
    assert overheating["evidence"]["readings"][0]["temperatureMaxC"] == 68.0
    assert overheating["evidence"]["limit"] == 60.0
    assert safety["grade"] == "E"
    assert any(r["code"] == "OPEN_ALERT" and r["grade"] == "E" for r in safety["reasons"])
    assert streamed["batteryId"] == car.battery_id
    assert streamed["eventId"] in {a["eventId"] for a in safety["openAlerts"]}

    # The alert is a lifecycle event in the battery's hash chain.
    async with runtime.db.read_only() as session:
        chain = await verify_chain(session, car.battery_id)
    kinds = [event.kind for event in chain]
    assert kinds.count("safety_alert") == len(safety["openAlerts"])
    assert overheating["eventId"] in {event.event_id for event in chain}

    # The credential issued before is suspended; a charger's request is refused.
    suspended = await runtime.issuance.verify(credential)
    assert suspended["verified"] is False
    assert status_check(suspended, "status_suspension") == "fail"
    refused = await request(gql, charger, underground=True, batteryId=car.battery_id)
    assert refused["__typename"] == "ChargingRefusal", refused
    assert refused["grade"] == "E"
    codes = {r["code"] for r in refused["reasons"]}  # type: ignore[attr-defined]
    assert codes == {"OPEN_ALERT", "GRADE_NOT_ALLOWED"}

    # The parking gate denies underground entry (REST and GraphQL say the same).
    status, denied = await gate(client, gatekeeper, plate=car.plate, underground="true")
    assert (status, denied["decision"], denied["batteryId"]) == (200, "DENY", car.battery_id)
    assert any("pack_overtemperature" in reason for reason in denied["reasons"])

    # A later healthy reading clears the temperature alerts and restores both.
    async with Subscription(runtime, car.battery_id) as owner_app:
        await read(gql, car, [(start + 120_000, HEALTHY)])
        await owner_app.wait_for("SAFETY_ALERT_CLEARED")
    alerts = (await gql(SAFETY_ALERTS, {"id": car.battery_id}, key=gatekeeper))["safetyAlerts"]
    assert alerts["__typename"] == "SafetyAlertList"
    assert {a["status"] for a in alerts["alerts"]} == {"CLEARED"}
    assert all(a["clearedBy"] == "service:safety" for a in alerts["alerts"])
    restored = await runtime.issuance.verify(credential)
    assert restored["verified"] is True, restored
    status, admitted = await gate(client, gatekeeper, vin=car.vin, underground="true")
    assert (status, admitted["decision"], admitted["grade"]) == (200, "ALLOW_WITH_CHARGE_CAP", "A")
    again = await request(gql, charger, underground=False, vin=car.vin)
    assert again["__typename"] == "ChargingSafetyCredential", again
    assert again["maxSocPct"] == 100.0
    async with runtime.db.read_only() as session:
        chain = await verify_chain(session, car.battery_id)
    assert [e.kind for e in chain].count("safety_alert_cleared") == len(alerts["alerts"])


async def test_a_healthy_battery_gets_the_underground_soc_cap(
    runtime: Runtime, gql: GraphQLClient, charger: OrgKey
) -> None:
    car = await car_with_battery(runtime, gql, charger, chemistry="LFP")
    await read(
        gql,
        car,
        [(now_ms() - 5_000, {**HEALTHY, "cell_voltage_max_v": 3.35, "cell_voltage_min_v": 3.31})],
    )
    underground = await request(gql, charger, underground=True, batteryId=car.battery_id)
    surface = await request(gql, charger, underground=False, batteryId=car.battery_id)
    assert underground["__typename"] == surface["__typename"] == "ChargingSafetyCredential"
    assert (underground["grade"], underground["maxSocPct"], underground["underground"]) == (
        "A",
        90.0,
        True,
    )
    assert surface["maxSocPct"] == 100.0
    assert underground["credentialId"] != surface["credentialId"]
