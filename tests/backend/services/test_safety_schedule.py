"""The scheduled safety pass: rules again over the last known reading, grades refreshed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.orgs.roles import Role
from backend.runtime import Runtime
from backend.safety import schedule
from backend.safety.models import SafetyState
from backend.safety.thresholds import profile_for
from tests.backend.conftest import GraphQLClient, OrgKey, make_key
from tests.backend.services.safety_helpers import (
    BATTERY_SAFETY,
    CLEAR_ALERT,
    HEALTHY,
    car_with_battery,
    now_ms,
    read,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def sweeper_keys(runtime: Runtime) -> tuple[OrgKey, OrgKey]:
    return (
        await make_key(runtime, "sweep-charge-co", Role.CHARGE_POINT_OPERATOR),
        await make_key(runtime, "sweep-inspect-co", Role.INSPECTOR),
    )


def stricter(chemistry: str | None, model: str | None = None) -> Any:
    """Thresholds changed since the reading: 31 °C is now over the pack warning limit."""
    return dataclasses.replace(profile_for(chemistry, model), pack_temperature_warning_c=30.0)


async def test_the_sweep_applies_changed_thresholds_but_respects_an_inspectors_clearing(
    runtime: Runtime,
    gql: GraphQLClient,
    sweeper_keys: tuple[OrgKey, OrgKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    charger, inspector = sweeper_keys
    car = await car_with_battery(runtime, gql, charger)
    await read(gql, car, [(now_ms() - 30_000, HEALTHY)])  # 31 °C: healthy by the file
    quiet = await schedule.sweep(runtime, battery_ids=[car.battery_id])
    assert (quiet.batteries, quiet.notices) == (1, 0)
    monkeypatch.setattr(schedule, "profile_for", stricter)
    opened = await schedule.sweep(runtime, battery_ids=[car.battery_id])
    assert (opened.batteries, opened.notices) == (1, 1)
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=inspector))["batterySafety"]
    [alert] = safety["openAlerts"]
    assert (alert["rule"], alert["severity"], safety["grade"]) == (
        "pack_overtemperature",
        "WARNING",
        "D",
    )
    # The inspector looked at the battery after that reading: the next pass leaves it cleared.
    cleared = (
        await gql(
            CLEAR_ALERT,
            {"input": {"alertId": alert["alertId"], "reason": "sensor checked, pack fine"}},
            key=inspector,
        )
    )["clearSafetyAlert"]
    assert cleared["__typename"] == "SafetyAlertCleared"
    again = await schedule.sweep(runtime, battery_ids=[car.battery_id])
    assert again.notices == 0
    safety = (await gql(BATTERY_SAFETY, {"id": car.battery_id}, key=inspector))["batterySafety"]
    assert safety["openAlerts"] == []


async def test_the_sweep_regrades_as_data_ages(
    runtime: Runtime, gql: GraphQLClient, sweeper_keys: tuple[OrgKey, OrgKey]
) -> None:
    charger, _ = sweeper_keys
    car = await car_with_battery(runtime, gql, charger)
    await read(gql, car, [(now_ms() - 60_000, HEALTHY)])
    now = datetime.now(UTC)
    first = await schedule.sweep(runtime, now, battery_ids=[car.battery_id])
    assert first.regraded == 1
    async with runtime.db.read_only() as session:
        state = await session.get(SafetyState, car.battery_id)
    assert state is not None
    assert state.grade == "A"
    unchanged = await schedule.sweep(runtime, now, battery_ids=[car.battery_id])
    assert unchanged.regraded == 0
    later = await schedule.sweep(runtime, now + timedelta(days=8), battery_ids=[car.battery_id])
    assert later.regraded == 1
    async with runtime.db.read_only() as session:
        state = await session.get(SafetyState, car.battery_id)
    assert state is not None
    assert state.grade == "B"
    assert any("days old" in reason for reason in state.grade_reasons)
