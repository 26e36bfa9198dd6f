"""Charging & safety through the API: sessions, accidents and inspectors, gates and their
facilities, bad input, and the gate's offline check of a presented credential."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from backend.charging.models import ChargingCredential
from backend.lifecycle.service import verify_chain
from backend.orgs.roles import Role
from backend.runtime import Runtime
from backend.safety.models import SafetyAlert
from credentials.snapshot import write_snapshot
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.services.safety_helpers import (
    BATTERY_SAFETY,
    CLEAR_ALERT,
    HEALTHY,
    PARKING_DECISION,
    REGISTER_FACILITY,
    REPORT_SESSION,
    REQUEST_CREDENTIAL,
    car_with_battery,
    gate,
    hot,
    now_ms,
    read,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def cpo(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "api-charge-co", Role.CHARGE_POINT_OPERATOR)


@pytest.fixture(scope="session")
async def parker(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "api-parking-co", Role.PARKING_OPERATOR)


@pytest.fixture(scope="session")
async def inspector(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "api-inspect-co", Role.INSPECTOR)


def iso(dt: datetime) -> str:
    return dt.isoformat()


async def report(gql: GraphQLClient, key: OrgKey, **fields: Any) -> dict[str, Any]:
    data = await gql(REPORT_SESSION, {"input": fields}, key=key)
    result: dict[str, Any] = data["reportChargingSession"]
    return result


async def test_a_charging_session_is_lifecycle_data_and_feeds_the_rules(
    runtime: Runtime, gql: GraphQLClient, cpo: OrgKey
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    await read(gql, car, [(now_ms() - 300_000, HEALTHY)])
    issued = (
        await gql(
            REQUEST_CREDENTIAL,
            {"input": {"vin": car.vin, "chargerId": "EVSE-1", "underground": False}},
            key=cpo,
        )
    )["requestChargingCredential"]
    assert issued["__typename"] == "ChargingSafetyCredential"
    t0 = datetime.now(UTC) - timedelta(minutes=4)
    started = await report(
        gql,
        cpo,
        chargerId="EVSE-1",
        transactionId="tx-1",
        event="START",
        timestamp=iso(t0),
        vin=car.vin,
        meterValues=[
            {"measurand": "Energy.Active.Import.Register", "value": 1000.0, "unit": "Wh"},
            {"measurand": "SoC", "value": 40.0},
            {"measurand": "Temperature", "value": 24.0},
        ],
    )
    assert started["__typename"] == "ChargingSessionRecorded", started
    assert started["session"]["credentialId"] == issued["credentialId"]
    assert started["session"]["status"] == "charging"
    # The same transaction cannot start twice.
    again = await report(
        gql,
        cpo,
        chargerId="EVSE-1",
        transactionId="tx-1",
        event="START",
        timestamp=iso(t0),
        vin=car.vin,
    )
    assert (again["__typename"], again["code"]) == ("SafetyError", "ALREADY_EXISTS")
    # Charging while the pack reads -8 °C: the charging-temperature rule fires.
    cold = await report(
        gql,
        cpo,
        chargerId="EVSE-1",
        transactionId="tx-1",
        event="UPDATE",
        timestamp=iso(t0 + timedelta(minutes=1)),
        meterValues=[
            {"measurand": "Temperature", "value": -8.0},
            {"measurand": "Current.Import", "value": 60.0},
            {"measurand": "SoC", "value": 55.0},
        ],
    )
    assert cold["alertsOpened"] == 1, cold
    async with runtime.db.read_only() as session:
        alerts = list(
            (
                await session.exec(
                    select(SafetyAlert).where(SafetyAlert.battery_id == car.battery_id)
                )
            ).all()
        )
        credential = (
            await session.exec(
                select(ChargingCredential).where(
                    ChargingCredential.credential_id == issued["credentialId"]
                )
            )
        ).one()
    assert [(a.rule, a.status) for a in alerts] == [("charging_temperature", "open")]
    assert alerts[0].evidence["readings"][0]["temperatureMinC"] == -8.0
    assert credential.suspended is True
    stopped = await report(
        gql,
        cpo,
        chargerId="EVSE-1",
        transactionId="tx-1",
        event="STOP",
        timestamp=iso(t0 + timedelta(minutes=3)),
        stopReason="EVDisconnected",
        meterValues=[
            {"measurand": "Energy.Active.Import.Register", "value": 19.5, "unit": "kWh"},
            {"measurand": "SoC", "value": 80.0},
            {"measurand": "Temperature", "value": 21.0},
            {"measurand": "Current.Import", "value": 30.0},
        ],
    )
    session_row = stopped["session"]
    assert stopped["alertsOpened"] == 0
    assert (session_row["status"], session_row["energyKwh"]) == ("completed", 18.5)
    assert (session_row["socStartPct"], session_row["socEndPct"]) == (40.0, 80.0)
    assert session_row["peakTemperatureC"] == 24.0
    assert session_row["stopReason"] == "EVDisconnected"
    async with runtime.db.read_only() as session:
        chain = await verify_chain(session, car.battery_id)
        cleared = await session.get(SafetyAlert, alerts[0].id)
    event = next(e for e in chain if e.kind == "charging_session")
    assert event.event_id == session_row["eventId"]
    assert event.document["data"]["energyKwh"] == 18.5
    # Charging at 21 °C is inside the window: the alert cleared on that newer reading.
    assert cleared is not None
    assert cleared.status == "cleared"
    # A stopped transaction takes no more reports.
    late = await report(
        gql,
        cpo,
        chargerId="EVSE-1",
        transactionId="tx-1",
        event="UPDATE",
        timestamp=iso(t0 + timedelta(minutes=3)),
    )
    assert (late["__typename"], late["code"]) == ("SafetyError", "ALREADY_EXISTS")


async def test_an_accident_opens_a_latched_alert_only_an_inspector_clears(
    runtime: Runtime, gql: GraphQLClient, cpo: OrgKey, inspector: OrgKey, manufacturer: OrgKey
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    await read(gql, car, [(now_ms() - 60_000, HEALTHY)])
    recorded = await gql(
        """mutation($b: ID!) { recordLifecycleEvent(input: {batteryId: $b, kind: ACCIDENT,
        data: {description: "rear collision"}}) { __typename } }""",
        {"b": car.battery_id},
        key=manufacturer,
    )
    assert recorded["recordLifecycleEvent"]["__typename"] == "LifecycleSuccess", recorded
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=inspector))["batterySafety"]
    [alert] = safety["openAlerts"]
    assert (alert["rule"], alert["severity"], safety["grade"]) == ("accident", "CRITICAL", "E")
    assert "rear collision" in alert["message"]
    # A healthy reading does not clear what happened.
    await read(gql, car, [(now_ms() - 1_000, HEALTHY)])
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=inspector))["batterySafety"]
    assert [a["rule"] for a in safety["openAlerts"]] == ["accident"]
    # Not a charger's call; a reason is required; then the inspector clears it.
    for key, reason, code in ((cpo, "fine", "FORBIDDEN"), (inspector, "  ", "INVALID_INPUT")):
        refused = (
            await gql(
                CLEAR_ALERT, {"input": {"alertId": alert["alertId"], "reason": reason}}, key=key
            )
        )["clearSafetyAlert"]
        assert (refused["__typename"], refused["code"]) == ("SafetyError", code)
    cleared = (
        await gql(
            CLEAR_ALERT,
            {"input": {"alertId": alert["alertId"], "reason": "frame and pack inspected"}},
            key=inspector,
        )
    )["clearSafetyAlert"]
    assert cleared["__typename"] == "SafetyAlertCleared", cleared
    assert cleared["alert"]["status"] == "CLEARED"
    assert cleared["alert"]["clearedBy"].startswith("org:")
    twice = (
        await gql(
            CLEAR_ALERT, {"input": {"alertId": alert["alertId"], "reason": "x"}}, key=inspector
        )
    )["clearSafetyAlert"]
    assert (twice["__typename"], twice["code"]) == ("SafetyError", "CONFLICT")
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=inspector))["batterySafety"]
    assert (safety["openAlerts"], safety["grade"]) == ([], "A")


async def test_gate_auth_bad_input_unknown_vehicles_and_facilities(
    runtime: Runtime,
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    cpo: OrgKey,
    parker: OrgKey,
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    await read(gql, car, [(now_ms() - 60_000, HEALTHY)])
    no_key = await client.get("/parking/v1/decision", params={"plate": car.plate})
    assert no_key.status_code == 401
    assert no_key.headers["content-type"].startswith("application/problem+json")
    status, body = await gate(client, cpo, plate=car.plate, underground="true")
    assert (status, body["title"]) == (403, "FORBIDDEN")
    status, body = await gate(client, parker, plate=car.plate, underground="maybe")
    assert (status, body["title"]) == (422, "INVALID_INPUT")
    status, body = await gate(client, parker, plate=car.plate, vin=car.vin, underground="1")
    assert (status, body["title"]) == (422, "INVALID_INPUT")
    status, body = await gate(client, parker, plate=car.plate)
    assert (status, body["title"]) == (422, "INVALID_INPUT")
    status, body = await gate(client, parker, plate="000XX0000", underground="true")
    assert (status, body["decision"], body["batteryId"]) == (200, "ALLOW", None)
    assert body["reasons"] == ["no battery on record for this vehicle"]
    status, body = await gate(
        client, parker, batteryId="7c0d0000-0000-4000-8000-000000000000", underground="false"
    )
    assert (status, body["title"]) == (404, "NOT_FOUND")

    # A facility with a stricter policy: unknown vehicles stay out, grade C and worse too.
    registered = (
        await gql(
            REGISTER_FACILITY,
            {
                "input": {
                    "facilityId": "lot-b2",
                    "name": "Tower B2",
                    "underground": True,
                    "policy": {"unknown_vehicle": "deny", "deny_grades": ["C", "D", "E"]},
                }
            },
            key=parker,
        )
    )["registerParkingFacility"]
    assert registered["__typename"] == "ParkingFacilityRegistered", registered
    bad_policy = (
        await gql(
            REGISTER_FACILITY,
            {"input": {"name": "x", "underground": True, "policy": {"deny_grades": ["Z"]}}},
            key=parker,
        )
    )["registerParkingFacility"]
    assert (bad_policy["code"], bad_policy["field"]) == ("INVALID_INPUT", "policy")
    status, body = await gate(client, parker, plate="000XX0000", facilityId="lot-b2")
    assert (status, body["decision"]) == (200, "DENY")
    status, body = await gate(client, parker, vin=car.vin, facilityId="lot-b2")
    assert (status, body["decision"], body["underground"]) == (200, "ALLOW_WITH_CHARGE_CAP", True)
    status, body = await gate(client, parker, vin=car.vin, facilityId="lot-b2", underground="false")
    assert (status, body["field"] if "field" in body else body["title"]) == (422, "INVALID_INPUT")
    other = await make_key(runtime, "other-parking-co", Role.PARKING_OPERATOR)
    status, body = await gate(client, other, vin=car.vin, facilityId="lot-b2")
    assert status == 404
    graph = (
        await gql(
            PARKING_DECISION,
            {"input": {"vin": car.vin, "facilityId": "lot-b2"}},
            key=parker,
        )
    )["parkingDecision"]
    assert (graph["decision"], graph["chargeCapPct"]) == ("ALLOW_WITH_CHARGE_CAP", 90.0)


async def test_charging_request_bad_input_is_typed(
    runtime: Runtime, gql: GraphQLClient, cpo: OrgKey, parker: OrgKey
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    cases = [
        (cpo, {"chargerId": "E", "underground": True}, "INVALID_INPUT"),
        (
            cpo,
            {"chargerId": "E", "underground": True, "vin": car.vin, "batteryId": car.battery_id},
            "INVALID_INPUT",
        ),
        (cpo, {"chargerId": "", "underground": True, "vin": car.vin}, "INVALID_INPUT"),
        (cpo, {"chargerId": "E", "underground": True, "batteryId": "nope"}, "INVALID_INPUT"),
        (
            cpo,
            {
                "chargerId": "E",
                "underground": True,
                "batteryId": "7c0d0000-0000-4000-8000-000000000000",
            },
            "NOT_FOUND",
        ),
        (parker, {"chargerId": "E", "underground": True, "vin": car.vin}, "FORBIDDEN"),
        (None, {"chargerId": "E", "underground": True, "vin": car.vin}, "UNAUTHENTICATED"),
    ]
    for key, fields, code in cases:
        result = (await gql(REQUEST_CREDENTIAL, {"input": fields}, key=key))[
            "requestChargingCredential"
        ]
        assert (result["__typename"], result["code"]) == ("SafetyError", code), (fields, result)
    async with runtime.db.read_only() as session:
        issued = (
            await session.exec(
                select(ChargingCredential).where(ChargingCredential.battery_id == car.battery_id)
            )
        ).all()
    assert issued == []
    # No reading at all: grade C (no data) still charges, capped.
    capped = (
        await gql(
            REQUEST_CREDENTIAL,
            {"input": {"chargerId": "E", "underground": True, "vin": car.vin}},
            key=cpo,
        )
    )["requestChargingCredential"]
    assert (capped["grade"], capped["maxSocPct"]) == ("C", 80.0)


async def test_the_gate_verifies_a_presented_credential_offline_with_a_snapshot(
    runtime: Runtime,
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    cpo: OrgKey,
    tmp_path: Path,
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    start = now_ms() - 600_000
    await read(gql, car, [(start, HEALTHY)])
    issued = (
        await gql(
            REQUEST_CREDENTIAL,
            {"input": {"vin": car.vin, "chargerId": "EVSE-9", "underground": True}},
            key=cpo,
        )
    )["requestChargingCredential"]
    presented = tmp_path / "presented.json"
    presented.write_text(json.dumps(issued["credential"]))

    async def snapshot(directory: Path) -> None:
        index = (await client.get("/snapshot/index.json")).json()
        base = runtime.platform.base_url
        documents = {}
        for url in index["documents"]:
            documents[url] = (await client.get(url.removeprefix(base))).json()
        write_snapshot(directory, documents, taken_at=datetime.now(UTC))

    async def verify(directory: Path) -> tuple[int, dict[str, Any]]:
        """`bpp credentials verify FILE --snapshot DIR --json` in its own process (the gate)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from backend.cli import app; app()",
            *("credentials", "verify", str(presented), "--snapshot", str(directory), "--json"),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        assert process.returncode is not None
        return process.returncode, json.loads(out)

    await snapshot(tmp_path / "healthy")
    code, healthy = await verify(tmp_path / "healthy")
    assert (code, healthy["verified"]) == (0, True), healthy
    # The pack overheats; the gate's next snapshot carries the suspension.
    await read(gql, car, [(start + 60_000, hot())])
    await snapshot(tmp_path / "hot")
    code, suspended = await verify(tmp_path / "hot")
    assert (code, suspended["verified"]) == (1, False)
    statuses = {c["name"]: c["status"] for c in suspended["checks"]}
    assert statuses["status_suspension"] == "fail"


async def test_the_gate_is_rate_limited_by_its_role_bucket(
    runtime: Runtime,
    gql: GraphQLClient,
    client: httpx.AsyncClient,
    cpo: OrgKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    busy = await make_key(runtime, "busy-parking-co", Role.PARKING_OPERATOR)
    monkeypatch.setitem(runtime.settings.rate_limits, "parking-operator", 1.0)
    burst = max(1, int(runtime.settings.rate_limit_burst_s))
    answers = [
        (await gate(client, busy, plate=car.plate, underground="true")) for _ in range(burst + 1)
    ]
    assert [status for status, _ in answers] == [200] * burst + [429]
    limited = answers[-1][1]
    assert limited["title"] == "RATE_LIMITED"
    response = await client.get(
        "/parking/v1/decision",
        params={"batteryId": car.battery_id, "underground": "true"},
        headers=busy.headers,
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


async def test_failed_gate_sign_ins_are_rate_limited_by_address(
    runtime: Runtime, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(runtime.settings.rate_limits, "anonymous", 1.0)
    burst = max(1, int(runtime.settings.rate_limit_burst_s))
    statuses = [
        (
            await client.get(
                "/parking/v1/decision",
                params={"plate": "123GA4567", "underground": "true"},
                headers={"Authorization": "Bearer bpp_not_a_key"},
            )
        ).status_code
        for _ in range(burst + 1)
    ]
    assert statuses == [401] * burst + [429]


async def test_who_reads_a_batterys_safety_state(
    runtime: Runtime, gql: GraphQLClient, cpo: OrgKey, parker: OrgKey, manufacturer: OrgKey
) -> None:
    car = await car_with_battery(runtime, gql, cpo)
    outsider = await make_key(runtime, "safety-outsider", Role.RECYCLER)
    for key, expected in (
        (manufacturer, "BatterySafety"),  # the battery's own organisation
        (parker, "BatterySafety"),
        (cpo, "BatterySafety"),
        (outsider, "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ):
        result = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=key))["batterySafety"]
        assert result.get("code", result["__typename"]) == expected, (key, result)
    missing = (
        await gql(BATTERY_SAFETY, {"id": "7c0d0000-0000-4000-8000-000000000000"}, key=parker)
    )["batterySafety"]
    assert missing["code"] == "NOT_FOUND"
