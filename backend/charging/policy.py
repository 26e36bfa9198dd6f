"""The charging policy as data (`policy.toml`): credential lifetime and SoC caps."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from backend.safety.grade import GRADES

POLICY_FILE: Final = Path(__file__).with_name("policy.toml")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ChargingPolicy:
    credential_ttl_s: int
    underground: dict[str, float]
    surface: dict[str, float]

    def soc_cap(self, grade: str, *, underground: bool) -> float | None:
        """The highest SoC a battery of `grade` may charge to there; None: refused."""
        return (self.underground if underground else self.surface).get(grade)


def _caps(table: Any, where: str) -> dict[str, float]:
    if not isinstance(table, dict):
        raise PolicyFileError(f"[{where}] must be a table")
    caps: dict[str, float] = {}
    for grade, cap in table.items():
        if grade not in GRADES:
            raise PolicyFileError(f"{where}: {grade!r} is not a grade ({', '.join(GRADES)})")
        if isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 < cap <= 100:
            raise PolicyFileError(f"{where}.{grade} must be a percentage in (0, 100]")
        caps[grade] = float(cap)
    return caps


def parse(document: dict[str, Any]) -> ChargingPolicy:
    ttl = document.get("credential_ttl_s")
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= 86_400:
        raise PolicyFileError("credential_ttl_s must be an integer of 60-86400 seconds")
    caps = document.get("soc_cap")
    if not isinstance(caps, dict):
        raise PolicyFileError("[soc_cap.underground] and [soc_cap.surface] are required")
    return ChargingPolicy(
        credential_ttl_s=ttl,
        underground=_caps(caps.get("underground"), "soc_cap.underground"),
        surface=_caps(caps.get("surface"), "soc_cap.surface"),
    )


@functools.cache
def policy() -> ChargingPolicy:
    with POLICY_FILE.open("rb") as handle:
        return parse(tomllib.load(handle))
