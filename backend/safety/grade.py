"""The safety grade of a battery (A best … E worst), with the reasons, as a pure function.

Each input caps the grade; the grade is the worst cap, and every cap below A is a reason:
- open alerts: a critical one → E, a warning → D;
- state of health (the newest `soh_pct` reading): < 60 % → D, < 70 % → C, < 80 % → B;
- data freshness (the newest reading): none at all → C, older than 30 days → C, older than
  7 days → B.
The limits are data (`GRADE_POLICY`), documented in docs/SAFETY.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

GRADES: Final = ("A", "B", "C", "D", "E")


@dataclass(frozen=True, slots=True)
class GradePolicy:
    critical_alert: str = "E"
    warning_alert: str = "D"
    # (minimum SOH %, grade when below it), checked from the lowest.
    soh_steps: tuple[tuple[float, str], ...] = ((60.0, "D"), (70.0, "C"), (80.0, "B"))
    # (age, grade when the newest reading is older), checked from the oldest.
    freshness_steps: tuple[tuple[timedelta, str], ...] = (
        (timedelta(days=30), "C"),
        (timedelta(days=7), "B"),
    )
    no_data: str = "C"


GRADE_POLICY: Final = GradePolicy()


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # OPEN_ALERT | LOW_SOH | STALE_DATA | NO_DATA
    grade: str
    message: str


@dataclass(frozen=True, slots=True)
class Grade:
    grade: str
    reasons: tuple[Reason, ...]


def worse(a: str, b: str) -> str:
    return a if GRADES.index(a) >= GRADES.index(b) else b


def grade_of(
    *,
    open_alerts: Iterable[tuple[str, str]],
    soh_pct: float | None,
    last_reading_at: datetime | None,
    now: datetime,
    policy: GradePolicy = GRADE_POLICY,
) -> Grade:
    """`open_alerts` as (rule, severity) pairs."""
    reasons: list[Reason] = []
    for rule, severity in sorted(open_alerts):
        cap = policy.critical_alert if severity == "critical" else policy.warning_alert
        reasons.append(Reason("OPEN_ALERT", cap, f"open {severity} alert: {rule}"))
    if soh_pct is not None:
        for limit, cap in policy.soh_steps:
            if soh_pct < limit:
                reasons.append(
                    Reason("LOW_SOH", cap, f"state of health {soh_pct:.1f} % is below {limit:g} %")
                )
                break
    if last_reading_at is None:
        reasons.append(Reason("NO_DATA", policy.no_data, "no telemetry reading on record"))
    else:
        age = now - last_reading_at
        for max_age, cap in policy.freshness_steps:
            if age > max_age:
                reasons.append(
                    Reason(
                        "STALE_DATA",
                        cap,
                        f"newest reading is {age.days} days old (over {max_age.days} days)",
                    )
                )
                break
    grade = "A"
    for reason in reasons:
        grade = worse(grade, reason.grade)
    reasons.sort(key=lambda r: (-GRADES.index(r.grade), r.code))
    return Grade(grade=grade, reasons=tuple(reasons))
