"""The safety rules, thresholds, grade and the charging / parking policies as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backend.charging import policy as charging_policy
from backend.parking.decision import LocationPolicy, PolicyFileError, Verdict, decide, policy
from backend.safety import thresholds
from backend.safety.grade import grade_of
from backend.safety.rules import Previous, Reading, Rule, Severity, evaluate
from backend.safety.thresholds import ThresholdFileError, profile_for

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NMC = profile_for("NMC")
LFP = profile_for("LFP")


def at(seconds: float, **measurements: Any) -> Reading:
    return Reading(T0 + timedelta(seconds=seconds), measurements, f"test#{seconds}")


def fired(
    readings: list[Reading], *, limits: Any = NMC, previous: Previous | None = None
) -> dict[Rule, Severity]:
    evaluation = evaluate(limits, readings, previous or Previous())
    return {rule: outcome.worst for rule, outcome in evaluation.fired().items() if outcome.worst}


def test_thresholds_by_chemistry_and_model_overrides() -> None:
    assert (NMC.name, LFP.name, profile_for("LiFePO4").name, profile_for(None).name) == (
        "nmc",
        "lfp",
        "lfp",
        "default",
    )
    assert (NMC.cell_overvoltage_v, LFP.cell_overvoltage_v) == (4.25, 3.65)
    table = thresholds.parse(
        {
            "chemistry": {
                "default": dict.fromkeys(thresholds._VALUES, 1.0),
                "lfp": {"match": ["LFP"], "charge_max_c": 50.0},
            },
            "model": {"Kona": {"charge_max_c": 40.0}},
        }
    )
    assert table.profile_for("LFP", "Kona").charge_max_c == 40.0
    assert table.profile_for("LFP", "Other").charge_max_c == 50.0
    with pytest.raises(ThresholdFileError, match="unknown threshold"):
        thresholds.parse({"chemistry": {"default": {"cell_overvoltge_v": 4.2}}})
    with pytest.raises(ThresholdFileError, match="lacks"):
        thresholds.parse({"chemistry": {"default": {"soh_drop_pct": 5.0}}})
    with pytest.raises(ThresholdFileError, match="must be a number"):
        thresholds.parse({"chemistry": {"default": {"soh_drop_pct": "5"}}})


def test_each_condition_rule_fires_with_its_severity() -> None:
    cases: list[tuple[dict[str, Any], Rule, Severity]] = [
        ({"cell_voltage_max_v": 4.27}, Rule.CELL_OVERVOLTAGE, Severity.WARNING),
        ({"cell_voltage_min_v": 2.95}, Rule.CELL_UNDERVOLTAGE, Severity.WARNING),
        ({"cell_voltage_delta_v": 0.12}, Rule.CELL_VOLTAGE_SPREAD, Severity.WARNING),
        ({"cell_voltages_v": [3.5, 3.9]}, Rule.CELL_VOLTAGE_SPREAD, Severity.CRITICAL),
        ({"temperature_max_c": 56.0}, Rule.PACK_OVERTEMPERATURE, Severity.WARNING),
        ({"temperature_max_c": 61.0}, Rule.PACK_OVERTEMPERATURE, Severity.CRITICAL),
        ({"temperatures_c": [40.0, 59.0]}, Rule.MODULE_OVERTEMPERATURE, Severity.WARNING),
        ({"temperatures_c": [20.0, 31.0]}, Rule.TEMPERATURE_SPREAD, Severity.WARNING),
        ({"isolation_kohm": 150.0, "pack_voltage_v": 400.0}, Rule.ISOLATION_LOW, Severity.WARNING),
        ({"isolation_kohm": 30.0, "pack_voltage_v": 400.0}, Rule.ISOLATION_LOW, Severity.CRITICAL),
        (
            {"temperature_max_c": 48.0, "pack_current_a": 50.0},
            Rule.CHARGING_TEMPERATURE,
            Severity.WARNING,
        ),
        (
            {"temperature_min_c": -5.0, "charging": True},
            Rule.CHARGING_TEMPERATURE,
            Severity.WARNING,
        ),
    ]
    for measurements, rule, severity in cases:
        assert fired([at(0, **measurements)]).get(rule) == severity, (measurements, rule)


def test_healthy_values_fire_nothing() -> None:
    healthy = at(
        0,
        cell_voltage_min_v=3.7,
        cell_voltage_max_v=3.75,
        temperatures_c=[25.0, 27.0],
        temperature_max_c=27.0,
        isolation_kohm=2000.0,
        pack_voltage_v=400.0,
        pack_current_a=20.0,
        soc_pct=50.0,
        soh_pct=95.0,
    )
    evaluation = evaluate(NMC, [healthy], Previous())
    assert evaluation.fired() == {}
    assert Rule.PACK_OVERTEMPERATURE in evaluation.healthy()
    # Discharging in the cold is no charging-temperature finding.
    assert fired([at(0, temperature_min_c=-10.0, pack_current_a=-30.0)]) == {}


def test_lfp_limits_differ_from_nmc() -> None:
    assert Rule.CELL_OVERVOLTAGE not in fired([at(0, cell_voltage_max_v=3.6)], limits=LFP)
    assert Rule.CELL_OVERVOLTAGE in fired([at(0, cell_voltage_max_v=3.7)], limits=LFP)
    assert fired([at(0, cell_voltage_max_v=3.7)], limits=NMC) == {}


def test_temperature_rise_rate_needs_two_readings_the_right_distance_apart() -> None:
    assert fired([at(0, temperature_max_c=30.0), at(60, temperature_max_c=34.0)]) == {
        Rule.TEMPERATURE_RISE_RATE: Severity.CRITICAL
    }
    assert fired([at(0, temperature_max_c=30.0), at(60, temperature_max_c=31.0)]) == {}
    assert fired([at(0, temperature_max_c=30.0), at(5, temperature_max_c=34.0)]) == {}
    assert fired([at(0, temperature_max_c=30.0), at(3600, temperature_max_c=50.0)]) == {}
    # Across batches: the reading before is the battery's last known state.
    before = Previous(reading=at(-60, temperature_max_c=30.0))
    assert Rule.TEMPERATURE_RISE_RATE in fired([at(0, temperature_max_c=35.0)], previous=before)


def test_clearing_needs_a_newer_reading_below_the_clear_margin() -> None:
    readings = [at(0, temperature_max_c=62.0), at(600, temperature_max_c=52.0)]
    evaluation = evaluate(NMC, readings, Previous())
    assert Rule.PACK_OVERTEMPERATURE in evaluation.fired()
    assert Rule.PACK_OVERTEMPERATURE not in evaluation.healthy()  # 52 °C: not below 50 °C
    readings.append(at(1200, temperature_max_c=45.0))
    evaluation = evaluate(NMC, readings, Previous())
    assert evaluation.healthy()[Rule.PACK_OVERTEMPERATURE] == T0 + timedelta(seconds=1200)
    # Out of order: the hot reading is the newest, so nothing is healthy after it.
    evaluation = evaluate(
        NMC, [at(1200, temperature_max_c=62.0), at(0, temperature_max_c=30.0)], Previous()
    )
    assert Rule.PACK_OVERTEMPERATURE not in evaluation.healthy()


def test_latched_rules_fire_once_per_episode_and_never_heal() -> None:
    evaluation = evaluate(
        NMC,
        [
            at(0, cell_voltage_min_v=2.7, soc_pct=1.0),
            at(60, cell_voltage_min_v=2.6, soc_pct=0.5),
            at(120, cell_voltage_min_v=3.5, soc_pct=30.0),
        ],
        Previous(),
    )
    outcome = evaluation.outcomes[Rule.DEEP_DISCHARGE]
    assert outcome.first is not None
    assert outcome.first.at == T0
    assert outcome.last is outcome.first  # the second low reading is the same episode
    assert Rule.DEEP_DISCHARGE not in evaluation.healthy()
    # Still in the episode from before: no new finding.
    assert Rule.DEEP_DISCHARGE not in fired(
        [at(0, cell_voltage_min_v=2.6)], previous=Previous(in_deep_discharge=True)
    )
    assert fired([at(0, soc_pct=101.0)]) == {Rule.OVERCHARGE: Severity.CRITICAL}
    assert fired([at(0, soh_pct=90.0), at(60, soh_pct=83.0)]) == {Rule.SOH_DROP: Severity.WARNING}
    assert fired([at(0, soh_pct=90.0), at(60, soh_pct=88.0)]) == {}


def test_grade_caps_and_reasons() -> None:
    now = T0
    fresh = now - timedelta(hours=1)
    assert grade_of(open_alerts=[], soh_pct=95.0, last_reading_at=fresh, now=now).grade == "A"
    graded = grade_of(
        open_alerts=[("pack_overtemperature", "critical"), ("cell_voltage_spread", "warning")],
        soh_pct=65.0,
        last_reading_at=now - timedelta(days=10),
        now=now,
    )
    assert graded.grade == "E"
    assert [r.code for r in graded.reasons] == ["OPEN_ALERT", "OPEN_ALERT", "LOW_SOH", "STALE_DATA"]
    assert grade_of(open_alerts=[], soh_pct=75.0, last_reading_at=fresh, now=now).grade == "B"
    assert grade_of(open_alerts=[], soh_pct=None, last_reading_at=None, now=now).grade == "C"
    stale = grade_of(
        open_alerts=[], soh_pct=99.0, last_reading_at=now - timedelta(days=31), now=now
    )
    assert (stale.grade, stale.reasons[0].code) == ("C", "STALE_DATA")


def test_charging_policy_caps_and_file_checks() -> None:
    caps = charging_policy.policy()
    assert caps.soc_cap("A", underground=True) == 90.0
    assert caps.soc_cap("A", underground=False) == 100.0
    assert caps.soc_cap("D", underground=True) is None
    assert caps.soc_cap("E", underground=False) is None
    with pytest.raises(charging_policy.PolicyFileError, match="credential_ttl_s"):
        charging_policy.parse({"credential_ttl_s": 5, "soc_cap": {}})
    with pytest.raises(charging_policy.PolicyFileError, match="percentage"):
        charging_policy.parse(
            {"credential_ttl_s": 900, "soc_cap": {"underground": {"A": 120}, "surface": {}}}
        )


def snapshot(grade: str, *alerts: tuple[str, str]) -> dict[str, Any]:
    return {
        "batteryId": "b-1",
        "grade": grade,
        "reasons": [["LOW_SOH", "state of health 65.0 % is below 70 %"]],
        "alerts": [list(a) for a in alerts],
        "outOfService": False,
    }


def test_parking_decisions_by_location() -> None:
    underground = policy().at(underground=True)
    surface = policy().at(underground=False)
    hot = snapshot("E", ("pack_overtemperature", "critical"))
    denied = decide(hot, underground=True, rules=underground)
    assert denied.verdict is Verdict.DENY
    assert denied.reasons[0] == "open critical safety alert: pack_overtemperature"
    assert decide(hot, underground=False, rules=surface).verdict is Verdict.DENY
    warning = snapshot("D", ("cell_voltage_spread", "warning"))
    assert decide(warning, underground=True, rules=underground).verdict is Verdict.DENY
    capped = decide(warning, underground=False, rules=surface)
    assert (capped.verdict, capped.charge_cap_pct) == (Verdict.ALLOW_WITH_CHARGE_CAP, 80.0)
    best = decide(snapshot("A"), underground=False, rules=surface)
    assert (best.verdict, best.charge_cap_pct) == (Verdict.ALLOW, 100.0)
    assert decide(snapshot("A"), underground=True, rules=underground).charge_cap_pct == 90.0
    unknown = decide(None, underground=True, rules=underground)
    assert (unknown.verdict, unknown.battery_id) == (Verdict.ALLOW, None)
    strict = policy().at(underground=True, override={"unknown_vehicle": "deny"})
    assert decide(None, underground=True, rules=strict).verdict is Verdict.DENY
    assert strict.deny_grades == underground.deny_grades
    with pytest.raises(PolicyFileError):
        policy().at(underground=True, override={"deny_severities": ["minor"]})
    assert isinstance(underground, LocationPolicy)
