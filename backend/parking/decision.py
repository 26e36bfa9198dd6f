"""The parking gate's decision, as a pure function of a battery's cached safety snapshot.

A snapshot is what the cache holds per battery (grade, reasons, open alerts); the decision
adds the facility's location and policy: DENY when the grade or an open alert's severity is
on the location's deny list, else ALLOW, or ALLOW_WITH_CHARGE_CAP when the charging policy
caps the SoC there below 100 %.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from backend.charging.policy import policy as charging_policy
from backend.safety.grade import GRADES

POLICY_FILE: Final = Path(__file__).with_name("policy.toml")
SEVERITIES: Final = ("warning", "critical")


class Verdict(StrEnum):
    ALLOW = "ALLOW"
    DENY = "DENY"
    ALLOW_WITH_CHARGE_CAP = "ALLOW_WITH_CHARGE_CAP"


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class LocationPolicy:
    deny_grades: frozenset[str]
    deny_severities: frozenset[str]
    unknown_vehicle: Verdict


def location_policy(table: Mapping[str, Any], where: str) -> LocationPolicy:
    grades = table.get("deny_grades", [])
    severities = table.get("deny_severities", [])
    unknown = table.get("unknown_vehicle", "allow")
    if not isinstance(grades, list) or any(g not in GRADES for g in grades):
        raise PolicyFileError(f"{where}.deny_grades must list grades of {', '.join(GRADES)}")
    if not isinstance(severities, list) or any(s not in SEVERITIES for s in severities):
        raise PolicyFileError(f"{where}.deny_severities must list warning and/or critical")
    if unknown not in ("allow", "deny"):
        raise PolicyFileError(f"{where}.unknown_vehicle is allow or deny")
    return LocationPolicy(
        deny_grades=frozenset(grades),
        deny_severities=frozenset(severities),
        unknown_vehicle=Verdict.ALLOW if unknown == "allow" else Verdict.DENY,
    )


@dataclass(frozen=True, slots=True)
class ParkingPolicy:
    underground: LocationPolicy
    surface: LocationPolicy

    def at(self, *, underground: bool, override: Mapping[str, Any] | None = None) -> LocationPolicy:
        base = self.underground if underground else self.surface
        if not override:
            return base
        merged = {
            "deny_grades": sorted(base.deny_grades),
            "deny_severities": sorted(base.deny_severities),
            "unknown_vehicle": "allow" if base.unknown_vehicle is Verdict.ALLOW else "deny",
        }
        merged.update(override)
        return location_policy(merged, "facility policy")


@functools.cache
def policy() -> ParkingPolicy:
    with POLICY_FILE.open("rb") as handle:
        document = tomllib.load(handle)
    return ParkingPolicy(
        underground=location_policy(document.get("underground", {}), "underground"),
        surface=location_policy(document.get("surface", {}), "surface"),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    battery_id: str | None
    grade: str | None
    charge_cap_pct: float | None
    underground: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.verdict.value,
            "reasons": list(self.reasons),
            "batteryId": self.battery_id,
            "grade": self.grade,
            "chargeCapPct": self.charge_cap_pct,
            "underground": self.underground,
        }


def decide(
    snapshot: Mapping[str, Any] | None, *, underground: bool, rules: LocationPolicy
) -> Decision:
    """`snapshot` None: no battery on record for what the gate read."""
    where = "underground" if underground else "surface"
    if snapshot is None:
        return Decision(
            rules.unknown_vehicle,
            ("no battery on record for this vehicle",),
            None,
            None,
            None,
            underground,
        )
    grade = str(snapshot["grade"])
    reasons: list[str] = []
    for rule, severity in snapshot["alerts"]:
        if severity in rules.deny_severities:
            reasons.append(f"open {severity} safety alert: {rule}")
    if grade in rules.deny_grades:
        reasons.append(f"safety grade {grade} is not admitted to {where} parking")
    if snapshot.get("outOfService"):
        reasons.append("the battery is out of service")
    if reasons:
        reasons += [f"grade {grade}: {r}" for r in snapshot.get("reasons", ())]
        return Decision(
            Verdict.DENY, tuple(reasons), snapshot["batteryId"], grade, None, underground
        )
    cap = charging_policy().soc_cap(grade, underground=underground)
    if cap is None:
        cap = 0.0
        reasons.append(f"safety grade {grade} may not charge at {where} parking")
    if cap < 100.0:
        reasons.append(f"charging capped at {cap:g} % for grade {grade} ({where})")
        return Decision(
            Verdict.ALLOW_WITH_CHARGE_CAP,
            tuple(reasons),
            snapshot["batteryId"],
            grade,
            cap,
            underground,
        )
    return Decision(
        Verdict.ALLOW, (f"safety grade {grade}",), snapshot["batteryId"], grade, cap, underground
    )
