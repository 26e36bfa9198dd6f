"""Derived data through the API, then retention: raw samples become hourly aggregates."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, func, select

from backend.orgs.roles import Role
from backend.runtime import Runtime
from backend.telemetry.compaction import compact
from backend.telemetry.models import TelemetryDevice, TelemetrySample, TelemetrySequence
from ble_bridge.keys import DeviceKey
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.telemetry.helpers import (
    BATTERY_TELEMETRY,
    ingest,
    new_battery,
    register_device,
    sample,
    signed,
)

HOUR_MS = 3_600_000
LATEST_STATE = (
    "query($id: ID!) { battery(id: $id) { latestState { socPct temperatureMaxC samples "
    "deviceId measurements } } }"
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def operator(runtime: Runtime) -> OrgKey:
    return await make_key(runtime, "charge-co", Role.CHARGE_POINT_OPERATOR)


async def count(runtime: Runtime, device: DeviceKey, model: Any) -> int:
    async with runtime.db.read_only() as session:
        found = await session.exec(
            select(func.count()).select_from(model).where(model.device_id == device.did)
        )
        return int(found.one())


async def test_telemetry_of_a_battery_then_compaction(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey, manufacturer: OrgKey
) -> None:
    battery = await new_battery(runtime, rated_capacity_ah=100.0)
    device = DeviceKey.generate()
    await register_device(gql, operator, device, {"car-1": battery})
    # Two hours ago and one hour ago (whole hours, so each falls into its own hour bucket).
    hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS - 2 * HOUR_MS
    samples = [
        sample(
            device,
            1,
            hour + 60_000,
            soc_pct=20.0,
            cumulative_charged_ah=1000.0,
            temperatures_c=[21.0, 24.0],
            cell_voltage_min_v=3.5,
        ),
        sample(
            device,
            2,
            hour + 120_000,
            soc_pct=1.0,
            cumulative_charged_ah=1000.0,
            temperatures_c=[22.0],
            cell_voltage_min_v=2.6,
        ),
        sample(
            device,
            3,
            hour + HOUR_MS + 60_000,
            soc_pct=60.0,
            cumulative_charged_ah=1150.0,
            temperatures_c=[35.0],
        ),
        sample(
            device,
            4,
            hour + HOUR_MS + 120_000,
            soc_pct=95.0,
            cumulative_charged_ah=1250.0,
            temperatures_c=[38.0],
            cell_voltage_max_v=4.35,
        ),
    ]
    result = await ingest(gql, signed(device, samples))
    assert [r["status"] for r in result["results"]] == ["ACCEPTED"] * 4

    body = (await gql(BATTERY_TELEMETRY, {"id": battery}, key=manufacturer))["batteryTelemetry"]
    assert body["__typename"] == "BatteryTelemetry", body
    assert body["samples"] == 4
    assert body["lastDeviceId"] == device.did
    assert body["lastMeasurements"]["soc_pct"] == 95.0
    assert datetime.fromisoformat(body["lastMeasuredAt"]) == datetime.fromtimestamp(
        (hour + HOUR_MS + 120_000) / 1000, UTC
    )
    assert body["socHistogram"]["counts"] == [1, 0, 1, 0, 0, 0, 1, 0, 0, 1]
    assert body["temperatureHistogram"]["counts"] == [0, 0, 0, 0, 0, 2, 2, 0, 0, 0]
    assert body["chargedAh"] == 250.0
    assert body["fullCycles"] == 2.5
    assert (body["deepDischargeEvents"], body["overchargeEvents"]) == (1, 1)
    assert [e["kind"] for e in body["events"]] == ["overcharge", "deep_discharge"]
    assert body["hourly"] == []  # nothing compacted yet

    # Telemetry is restricted performance data: a charge-point operator without the owner's
    # consent, custody or responsibility does not read it; anonymous callers must sign in.
    refused = (await gql(BATTERY_TELEMETRY, {"id": battery}, key=operator))["batteryTelemetry"]
    assert refused["code"] == "FORBIDDEN"
    anonymous = (await gql(BATTERY_TELEMETRY, {"id": battery}))["batteryTelemetry"]
    assert anonymous["code"] == "UNAUTHENTICATED"

    # The battery's latestState field: the same newest sample, under the same policy.
    state = (await gql(LATEST_STATE, {"id": battery}, key=manufacturer))["battery"]["latestState"]
    assert (state["socPct"], state["temperatureMaxC"], state["samples"]) == (95.0, 38.0, 4)
    assert state["deviceId"] == device.did
    assert state["measurements"]["cell_voltage_max_v"] == 4.35
    assert (await gql(LATEST_STATE, {"id": battery}, key=operator))["battery"][
        "latestState"
    ] is None
    assert (await gql(LATEST_STATE, {"id": battery}))["battery"]["latestState"] is None

    # Thirty-one days later every raw sample is past BPP_TELEMETRY_RAW_DAYS (30).
    later = datetime.now(UTC) + timedelta(days=31)
    report = await compact(runtime.db, raw_days=30, now=later)
    assert report.aggregated_hours >= 2
    assert report.removed_samples >= 4
    assert await count(runtime, device, TelemetrySample) == 0
    assert await count(runtime, device, TelemetrySequence) == 0
    async with runtime.db.read_only() as session:
        row = await session.get(TelemetryDevice, device.did)
        assert row is not None
        assert row.dedupe_floor == 4

    body = (await gql(BATTERY_TELEMETRY, {"id": battery}, key=manufacturer))["batteryTelemetry"]
    assert [(h["samples"], h["socMin"], h["socMax"]) for h in body["hourly"]] == [
        (2, 60.0, 95.0),
        (2, 1.0, 20.0),
    ]
    assert body["samples"] == 4
    assert body["fullCycles"] == 2.5

    # A resend of compacted sequences is still a duplicate; the next sequence is new.
    again = await ingest(gql, signed(device, [*samples[3:], sample(device, 5, hour + HOUR_MS)]))
    assert [r["status"] for r in again["results"]] == ["DUPLICATE", "ACCEPTED"]
    # A second compaction merges into the existing hour instead of replacing it.
    await compact(runtime.db, raw_days=30, now=later)
    body = (await gql(BATTERY_TELEMETRY, {"id": battery}, key=manufacturer))["batteryTelemetry"]
    assert body["hourly"][0]["samples"] == 3


async def test_compaction_keeps_recent_samples(
    gql: GraphQLClient, runtime: Runtime, operator: OrgKey
) -> None:
    device = DeviceKey.generate()
    await register_device(gql, operator, device)
    now = int(time.time() * 1000)
    await ingest(
        gql, signed(device, [sample(device, 1, now - 40 * 86_400_000), sample(device, 2, now)])
    )
    await compact(runtime.db, raw_days=30)
    async with runtime.db.read_only() as session:
        rows = await session.exec(
            select(TelemetrySample.sequence)
            .where(TelemetrySample.device_id == device.did)
            .order_by(col(TelemetrySample.sequence))
        )
        assert list(rows.all()) == [2]


async def test_samples_are_partitioned_by_month_on_postgresql(runtime: Runtime) -> None:
    if runtime.db.is_sqlite:
        pytest.skip("partitioning is PostgreSQL's (SQLite keeps one plain table)")
    async with runtime.db.read_only() as session:
        conn = await session.connection()
        strategy = (
            await conn.execute(
                text(
                    "SELECT p.partstrat FROM pg_partitioned_table p "
                    "JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry_sample'"
                )
            )
        ).scalar_one()
        names = set(
            (
                await conn.execute(
                    text(
                        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "JOIN pg_class p ON p.oid = i.inhparent "
                        "WHERE p.relname = 'telemetry_sample'"
                    )
                )
            ).scalars()
        )
    assert strategy in ("r", b"r")  # asyncpg hands the "char" column back as bytes
    this_month = datetime.now(UTC)
    assert f"telemetry_sample_{this_month:%Y%m}" in names
    assert "telemetry_sample_default" in names
