"""Signed batches as a gateway builds them, and the GraphQL documents of telemetry."""

from __future__ import annotations

import uuid
from typing import Any

from backend.auth.principal import Principal
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports import service as passports
from backend.passports.service import BatteryRegistration
from backend.runtime import Runtime
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import b64url, signing_bytes
from ble_bridge.uploader import INGEST_MUTATION
from tests.backend.conftest import GraphQLClient, OrgKey
from tests.backend.test_passport_slice import battery_input

REGISTER_DEVICE = """
mutation R($input: RegisterDeviceInput!) {
  registerDevice(input: $input) {
    __typename
    ... on DeviceSuccess { device { deviceId status sources { sourceId batteryId } } }
    ... on PassportError { code message field }
  }
}
"""
ROTATE_DEVICE = """
mutation R($input: RotateDeviceKeyInput!) {
  rotateDeviceKey(input: $input) {
    __typename
    ... on DeviceSuccess { device { deviceId status predecessorId sources { sourceId } } }
    ... on PassportError { code message field }
  }
}
"""
REVOKE_DEVICE = """
mutation R($input: RevokeDeviceInput!) {
  revokeDevice(input: $input) {
    __typename
    ... on DeviceSuccess { device { deviceId status retiredAt } }
    ... on PassportError { code message field }
  }
}
"""
BATTERY_TELEMETRY = """
query T($id: ID!) {
  batteryTelemetry(batteryId: $id) {
    __typename
    ... on BatteryTelemetry {
      batteryId samples lastMeasuredAt lastDeviceId lastMeasurements
      socHistogram { unit edges counts } temperatureHistogram { unit edges counts }
      chargedAh fullCycles deepDischargeEvents overchargeEvents
      events { kind occurredAt value detail }
      hourly { hour samples socMin socMax }
    }
    ... on PassportError { code message }
  }
}
"""
NOW_MS = 1_764_115_200_000  # replaced per test by a current wall time


def sample(
    key: DeviceKey,
    sequence: int,
    wall_ms: int,
    *,
    source: str = "car-1",
    source_sequence: int | None = None,
    **measurements: Any,
) -> dict[str, Any]:
    return {
        "deviceId": key.did,
        "sequence": sequence,
        "sourceId": source,
        "sourceSequence": source_sequence or sequence,
        "sourceAddress": "C8:47:8C:00:00:07",
        "adapterId": "jbd",
        "profileId": "jbd",
        "measurements": measurements or {"pack_voltage_v": 52.1, "soc_pct": 55.0},
        "rawFrames": [{"request": "dda50300fffd77", "response": "dd0300"}],
        "errors": [],
        "monotonicNs": sequence * 1_000_000,
        "bootId": "9b1c0000-0000-4000-8000-000000000000",
        "wallTimeMs": wall_ms,
        "clockSource": "system",
    }


def signed(key: DeviceKey, samples: list[dict[str, Any]], **override: Any) -> dict[str, Any]:
    batch_id = str(uuid.uuid4())
    batch: dict[str, Any] = {
        "deviceId": key.did,
        "batchId": batch_id,
        "idempotencyKey": f"{key.did}/{batch_id}",
        "samples": samples,
    }
    batch.update(override)
    batch["signature"] = b64url(key.sign(signing_bytes(batch)))
    return batch


async def ingest(gql: GraphQLClient, batch: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = (await gql(INGEST_MUTATION, {"input": batch}))["ingestSamples"]
    return result


async def new_battery(
    runtime: Runtime,
    *,
    chemistry: str = "NMC",
    rated_capacity_ah: float = 100.0,
    owner_id: str | None = None,
) -> str:
    """A battery registered by the manufacturer "acme-cells" (through the service)."""
    identifier = f"TEL-{uuid.uuid4().hex[:12].upper()}"
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, "acme-cells")
        principal = Principal(organisation_id=organisation.id, role=Role.MANUFACTURER)
        data = battery_input(identifier)
        battery = await passports.register_battery(
            session,
            principal,
            BatteryRegistration(
                identifier=identifier,
                model=f"{data['model']} {chemistry}",
                manufacturer=data["manufacturer"],
                chemistry=chemistry,
                rated_capacity_ah=rated_capacity_ah,
                nominal_voltage_v=data["nominalVoltageV"],
            ),
        )
        if owner_id is not None:
            battery.owner_id = owner_id
            session.add(battery)
        return battery.id


async def register_device(
    gql: GraphQLClient, key: OrgKey | None, device: DeviceKey, sources: dict[str, str] | None = None
) -> dict[str, Any]:
    variables = {
        "input": {
            "deviceId": device.did,
            "label": "gate 1",
            "sources": [{"sourceId": s, "batteryId": b} for s, b in (sources or {}).items()],
        }
    }
    result: dict[str, Any] = (await gql(REGISTER_DEVICE, variables, key=key))["registerDevice"]
    return result
