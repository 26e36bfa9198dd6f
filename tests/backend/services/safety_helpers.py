"""Batteries in vehicles, gateway readings and the GraphQL documents of charging & safety."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from backend.auth.principal import Principal
from backend.kit.events import battery_channel
from backend.lifecycle import service as lifecycle
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.runtime import Runtime
from backend.vehicles.service import register_vehicle
from ble_bridge.keys import DeviceKey
from tests.backend.conftest import GraphQLClient, OrgKey
from tests.backend.telemetry.helpers import ingest, new_battery, register_device, sample, signed
from tests.web.seed import a_vin

REQUEST_CREDENTIAL = """
mutation R($input: RequestChargingCredentialInput!) {
  requestChargingCredential(input: $input) {
    __typename
    ... on ChargingSafetyCredential {
      credentialId batteryId chargerId underground grade maxSocPct expiresAt suspended credential
    }
    ... on ChargingRefusal { batteryId grade reasons { code message } gradeReasons }
    ... on SafetyError { code message field }
  }
}
"""
BATTERY_SAFETY = """
query S($id: ID!) {
  batterySafety(batteryId: $id) {
    __typename
    ... on BatterySafety {
      batteryId grade reasons { code grade message } sohPct lastReadingAt
      openAlerts { alertId rule severity status message evidence openedAt eventId }
    }
    ... on SafetyError { code message field }
  }
}
"""
SAFETY_ALERTS = """
query A($id: ID!, $status: SafetyAlertStatus) {
  safetyAlerts(batteryId: $id, status: $status) {
    __typename
    ... on SafetyAlertList {
      alerts { alertId rule severity status clearedAt clearedBy clearReason eventId clearEventId }
    }
    ... on SafetyError { code message field }
  }
}
"""
CLEAR_ALERT = """
mutation C($input: ClearSafetyAlertInput!) {
  clearSafetyAlert(input: $input) {
    __typename
    ... on SafetyAlertCleared { alert { alertId status clearedBy clearReason clearEventId } }
    ... on SafetyError { code message field }
  }
}
"""
REPORT_SESSION = """
mutation P($input: ReportChargingSessionInput!) {
  reportChargingSession(input: $input) {
    __typename
    ... on ChargingSessionRecorded {
      alertsOpened
      session {
        sessionId batteryId status energyKwh socStartPct socEndPct peakTemperatureC
        credentialId eventId stopReason
      }
    }
    ... on SafetyError { code message field }
  }
}
"""
PARKING_DECISION = """
query D($input: ParkingDecisionInput!) {
  parkingDecision(input: $input) {
    __typename
    ... on ParkingDecision { decision reasons batteryId grade chargeCapPct underground }
    ... on SafetyError { code message field }
  }
}
"""
REGISTER_FACILITY = """
mutation F($input: RegisterParkingFacilityInput!) {
  registerParkingFacility(input: $input) {
    __typename
    ... on ParkingFacilityRegistered { facility { facilityId name underground policy } }
    ... on SafetyError { code message field }
  }
}
"""

HEALTHY: dict[str, Any] = {
    "soc_pct": 62.0,
    "soh_pct": 96.0,
    "pack_voltage_v": 697.0,
    "pack_current_a": -12.0,
    "cell_voltage_min_v": 3.88,
    "cell_voltage_max_v": 3.91,
    "temperatures_c": [29.0, 30.5, 31.0],
    "temperature_max_c": 31.0,
    "temperature_min_c": 29.0,
    "isolation_kohm": 2500.0,
}


def hot(**changes: Any) -> dict[str, Any]:
    return {
        **HEALTHY,
        "temperatures_c": [63.0, 66.5, 68.0],
        "temperature_max_c": 68.0,
        "temperature_min_c": 63.0,
        **changes,
    }


def make_plate() -> str:
    return f"{secrets.randbelow(900) + 100}GA{secrets.randbelow(9000) + 1000}"


@dataclass
class Car:
    battery_id: str
    vin: str
    plate: str
    device: DeviceKey
    source: str = "car-1"
    sequence: int = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


async def car_with_battery(
    runtime: Runtime,
    gql: GraphQLClient,
    operator: OrgKey,
    *,
    chemistry: str = "NMC",
    owner_id: str = "driver-safety",
) -> Car:
    """A battery (manufactured) installed in a registered vehicle, read by a gateway."""
    battery_id = await new_battery(runtime, chemistry=chemistry, owner_id=owner_id)
    vin, plate = a_vin(), make_plate()
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, "acme-cells")
        principal = Principal(organisation_id=organisation.id, role=Role.MANUFACTURER)
        await lifecycle.record_event(
            session, principal, battery_id, lifecycle.EventKind.MANUFACTURED
        )
        vehicle = await register_vehicle(session, principal, vin, plate=plate, owner_id=owner_id)
        await lifecycle.install_battery(session, principal, battery_id, vehicle.id)
    device = DeviceKey.generate()
    registered = await register_device(gql, operator, device, {"car-1": battery_id})
    assert registered["__typename"] == "DeviceSuccess", registered
    return Car(battery_id=battery_id, vin=vin, plate=plate, device=device)


async def read(gql: GraphQLClient, car: Car, readings: list[tuple[int, dict[str, Any]]]) -> None:
    """Upload readings [(wall time ms, measurements)] as one signed batch."""
    samples = [
        sample(car.device, car.next_sequence(), at, source=car.source, **measurements)
        for at, measurements in readings
    ]
    result = await ingest(gql, signed(car.device, samples))
    assert result["__typename"] == "IngestSamplesResult", result
    assert {r["status"] for r in result["results"]} == {"ACCEPTED"}, result


def now_ms() -> int:
    return int(time.time() * 1000)


async def gate(client: httpx.AsyncClient, key: OrgKey, **params: str) -> tuple[int, dict[str, Any]]:
    response = await client.get("/parking/v1/decision", params=params, headers=key.headers)
    body: dict[str, Any] = response.json()
    return response.status_code, body


class Subscription:
    """The owner's app listening on the battery's channel (Redis pub/sub)."""

    def __init__(self, runtime: Runtime, battery_id: str) -> None:
        self.runtime = runtime
        self.channel = battery_channel(battery_id)
        self.received: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscription:
        async def listen() -> None:
            async for event in self.runtime.events.subscribe(self.channel):
                self.received.append(event)

        self._task = asyncio.create_task(listen())
        for _ in range(500):  # until Redis has the subscriber
            counts = await self.runtime.redis.pubsub_numsub(self.channel)
            if counts and counts[0][1] >= 1:
                break
            await asyncio.sleep(0.01)
        return self

    async def wait_for(self, kind: str) -> dict[str, Any]:
        for _ in range(500):
            for event in self.received:
                if event.get("kind") == kind:
                    return event
            await asyncio.sleep(0.01)
        raise AssertionError(f"no {kind} event; received {self.received}")

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
