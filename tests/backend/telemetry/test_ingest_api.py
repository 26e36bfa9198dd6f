"""ingestSamples through GraphQL on the real app: the server rules of docs/BRIDGE.md."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlmodel import col, select

from backend.orgs.roles import Role
from backend.runtime import Runtime
from backend.telemetry.models import TelemetrySample
from ble_bridge.keys import DeviceKey
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.telemetry.helpers import (
    REVOKE_DEVICE,
    ROTATE_DEVICE,
    ingest,
    new_battery,
    register_device,
    sample,
    signed,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def operator(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "charge-co", Role.CHARGE_POINT_OPERATOR)


def now_ms() -> int:
    return int(time.time() * 1000)


async def stored(runtime: Runtime, device: DeviceKey) -> list[int]:
    async with runtime.db.read_only() as session:
        rows = await session.exec(
            select(TelemetrySample.sequence)
            .where(TelemetrySample.device_id == device.did)
            .order_by(col(TelemetrySample.sequence))
        )
        return list(rows.all())


def statuses(result: dict[str, Any]) -> list[tuple[int, str, str | None]]:
    assert result["__typename"] == "IngestSamplesResult", result
    return [(r["sequence"], r["status"], r["code"]) for r in result["results"]]


async def test_accepts_then_answers_duplicates_and_a_replay_stores_nothing_twice(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey
) -> None:
    device = DeviceKey.generate()
    assert (await register_device(gql, operator, device))["__typename"] == "DeviceSuccess"
    t = now_ms()
    batch = signed(device, [sample(device, seq, t - 1000 * (5 - seq)) for seq in range(1, 4)])
    first = await ingest(gql, batch)
    assert statuses(first) == [(1, "ACCEPTED", None), (2, "ACCEPTED", None), (3, "ACCEPTED", None)]
    assert first["batchId"] == batch["batchId"]
    # The same batch again (answer lost, gateway resends it byte-identical).
    replay = await ingest(gql, batch)
    assert statuses(replay) == [(s, "DUPLICATE", None) for s in (1, 2, 3)]
    # An overlapping new batch: 3 is known, 4 is new; a repeated 4 inside it is a duplicate.
    overlap = signed(device, [sample(device, s, t) for s in (3, 4, 4)])
    assert statuses(await ingest(gql, overlap)) == [
        (3, "DUPLICATE", None),
        (4, "ACCEPTED", None),
        (4, "DUPLICATE", None),
    ]
    assert await stored(runtime, device) == [1, 2, 3, 4]


async def test_bad_signature_unknown_and_revoked_devices_store_nothing(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey
) -> None:
    device, stranger = DeviceKey.generate(), DeviceKey.generate()
    await register_device(gql, operator, device)
    t = now_ms()
    batch = signed(device, [sample(device, 1, t)])
    tampered = {**batch, "samples": [sample(device, 1, t, soc_pct=99.0)]}
    result = await ingest(gql, tampered)
    assert (result["__typename"], result["code"]) == ("IngestError", "BAD_SIGNATURE")
    other_key = {**batch, "signature": signed(stranger, batch["samples"])["signature"]}
    assert (await ingest(gql, other_key))["code"] == "BAD_SIGNATURE"
    unknown = await ingest(gql, signed(stranger, [sample(stranger, 1, t)]))
    assert (unknown["__typename"], unknown["code"]) == ("IngestError", "UNKNOWN_DEVICE")
    assert await stored(runtime, device) == []

    revoked = await gql(REVOKE_DEVICE, {"input": {"deviceId": device.did}}, key=operator)
    assert revoked["revokeDevice"]["device"]["status"] == "REVOKED"
    refused = await ingest(gql, batch)
    assert (refused["__typename"], refused["code"]) == ("IngestError", "DEVICE_REVOKED")
    assert await stored(runtime, device) == []


async def test_rotation_refuses_the_old_key_and_accepts_the_new_one(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey
) -> None:
    old, new = DeviceKey.generate(), DeviceKey.generate()
    await register_device(gql, operator, old)
    t = now_ms()
    assert statuses(await ingest(gql, signed(old, [sample(old, 1, t)])))[0][1] == "ACCEPTED"
    rotated = await gql(
        ROTATE_DEVICE, {"input": {"deviceId": old.did, "newDeviceId": new.did}}, key=operator
    )
    assert rotated["rotateDeviceKey"]["device"]["predecessorId"] == old.did
    assert (await ingest(gql, signed(old, [sample(old, 2, t)])))["code"] == "DEVICE_REVOKED"
    assert statuses(await ingest(gql, signed(new, [sample(new, 1, t)])))[0][1] == "ACCEPTED"
    again = await gql(
        ROTATE_DEVICE, {"input": {"deviceId": old.did, "newDeviceId": new.did}}, key=operator
    )
    assert again["rotateDeviceKey"]["code"] == "ALREADY_REVOKED"


async def test_invalid_samples_are_rejected_one_by_one(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey
) -> None:
    device, other = DeviceKey.generate(), DeviceKey.generate()
    await register_device(gql, operator, device)
    t = now_ms()
    missing = sample(device, 3, t)
    del missing["bootId"]
    samples: list[Any] = [
        sample(device, 1, t),
        sample(device, 2, t, soc_pct=250.0),
        missing,
        sample(device, 4, t + 3_600_000),  # an hour ahead of the server's clock
        {**sample(device, 5, t), "deviceId": other.did},
        {**sample(device, 6, t), "sequence": "6"},
        sample(device, 7, t, temperatures_c=["hot"]),
        sample(device, 8, t),
    ]
    result = await ingest(gql, signed(device, samples))
    assert statuses(result) == [
        (1, "ACCEPTED", None),
        (2, "REJECTED", "OUT_OF_RANGE"),
        (3, "REJECTED", "INVALID"),
        (4, "REJECTED", "CLOCK_OUT_OF_RANGE"),
        (5, "REJECTED", "INVALID"),
        (0, "REJECTED", "INVALID"),
        (7, "REJECTED", "INVALID"),
        (8, "ACCEPTED", None),
    ]
    assert await stored(runtime, device) == [1, 8]


async def test_whole_batch_refusals(gql: GraphQLClient, runtime: Runtime, operator: OrgKey) -> None:
    device = DeviceKey.generate()
    await register_device(gql, operator, device)
    t = now_ms()
    limit = runtime.settings.telemetry_max_batch
    too_many = signed(device, [sample(device, s, t) for s in range(1, limit + 2)])
    result = await ingest(gql, too_many)
    assert (result["__typename"], result["code"]) == ("IngestError", "BATCH_TOO_LARGE")
    empty = await ingest(gql, signed(device, []))
    assert empty["code"] == "INVALID_BATCH"
    not_uuid = await ingest(gql, signed(device, [sample(device, 1, t)], batchId="batch-1"))
    assert not_uuid["code"] == "INVALID_BATCH"
    not_did = await ingest(gql, {**signed(device, [sample(device, 1, t)]), "deviceId": "gw-1"})
    assert not_did["code"] == "INVALID_BATCH"
    assert await stored(runtime, device) == []


async def test_device_management_needs_an_organisation_with_the_upload_scope(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey, manufacturer: OrgKey
) -> None:
    device = DeviceKey.generate()
    anonymous = await register_device(gql, None, device)
    assert anonymous["code"] == "UNAUTHENTICATED"
    refused = await register_device(gql, manufacturer, device)
    assert refused["code"] == "FORBIDDEN"
    bad = await register_device(gql, operator, DeviceKey.generate(), {"car-1": "no-such"})
    assert bad["__typename"] == "PassportError"
    not_did = await gql(
        """mutation { registerDevice(input: {deviceId: "did:web:x"}) {
             __typename ... on PassportError { code field } } }""",
        key=operator,
    )
    assert not_did["registerDevice"] == {
        "__typename": "PassportError",
        "code": "INVALID_INPUT",
        "field": "deviceId",
    }
    assert (await register_device(gql, operator, device))["__typename"] == "DeviceSuccess"
    twice = await register_device(gql, operator, device)
    assert twice["code"] == "ALREADY_EXISTS"
    # Another organisation cannot revoke it (and is not told it exists).
    repairer = await make_key(runtime, "fix-it", Role.REPAIRER)
    foreign = await gql(REVOKE_DEVICE, {"input": {"deviceId": device.did}}, key=repairer)
    assert foreign["revokeDevice"]["code"] == "NOT_FOUND"
    listed = await gql("{ devices { deviceId status } }", key=operator)
    assert {"deviceId": device.did, "status": "ACTIVE"} in listed["devices"]


async def test_binding_sources_to_batteries(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey, manufacturer: OrgKey
) -> None:
    battery = await new_battery(runtime)
    device = DeviceKey.generate()
    result = await register_device(gql, operator, device, {"car-1": f"urn:uuid:{battery}"})
    assert result["device"]["sources"] == [{"sourceId": "car-1", "batteryId": battery}]
    t = now_ms()
    batch = signed(device, [sample(device, 1, t), sample(device, 2, t, source="elsewhere")])
    assert [s for _, s, _ in statuses(await ingest(gql, batch))] == ["ACCEPTED", "ACCEPTED"]
    async with runtime.db.read_only() as session:
        rows = (
            await session.exec(
                select(TelemetrySample).where(TelemetrySample.device_id == device.did)
            )
        ).all()
    assert {(r.sequence, r.battery_id) for r in rows} == {(1, battery), (2, None)}
