"""Safety thresholds as data (`thresholds.toml`): one profile per chemistry, model overrides.

The file is read once per process; `profile_for(chemistry, model)` answers the merged values.
Every value is documented with its source or rationale in docs/SAFETY.md.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

THRESHOLDS_FILE: Final = Path(__file__).with_name("thresholds.toml")


@dataclass(frozen=True, slots=True)
class Thresholds:
    name: str
    cell_overvoltage_v: float
    cell_undervoltage_v: float
    overcharge_cell_v: float
    deep_discharge_cell_v: float
    overcharge_soc_pct: float
    deep_discharge_soc_pct: float
    cell_spread_warning_v: float
    cell_spread_critical_v: float
    pack_temperature_warning_c: float
    pack_temperature_critical_c: float
    module_temperature_warning_c: float
    module_temperature_critical_c: float
    temperature_clear_margin_c: float
    temperature_rise_c_per_min: float
    temperature_spread_c: float
    isolation_warning_ohm_per_v: float
    isolation_critical_ohm_per_v: float
    isolation_reference_voltage_v: float
    soh_drop_pct: float
    charge_min_c: float
    charge_max_c: float


_VALUES: Final = tuple(f.name for f in fields(Thresholds) if f.name != "name")


class ThresholdFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ThresholdTable:
    default: Thresholds
    chemistries: tuple[tuple[tuple[str, ...], Thresholds], ...]
    models: dict[str, dict[str, float]]

    def profile_for(self, chemistry: str | None, model: str | None = None) -> Thresholds:
        base = self.default
        upper = (chemistry or "").upper()
        for matches, profile in self.chemistries:
            if any(m in upper for m in matches):
                base = profile
                break
        override = self.models.get(model or "")
        if not override:
            return base
        values = {name: getattr(base, name) for name in _VALUES}
        values.update(override)
        return Thresholds(name=f"{base.name}+{model}", **values)


def _numbers(table: dict[str, Any], where: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in table.items():
        if key == "match":
            continue
        if key not in _VALUES:
            raise ThresholdFileError(f"{where}: unknown threshold {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ThresholdFileError(f"{where}.{key} must be a number")
        out[key] = float(value)
    return out


def parse(document: dict[str, Any]) -> ThresholdTable:
    chemistry = document.get("chemistry")
    if not isinstance(chemistry, dict) or not isinstance(chemistry.get("default"), dict):
        raise ThresholdFileError("[chemistry.default] is required")
    base = _numbers(chemistry["default"], "chemistry.default")
    missing = [name for name in _VALUES if name not in base]
    if missing:
        raise ThresholdFileError(f"chemistry.default lacks {', '.join(missing)}")
    default = Thresholds(name="default", **base)
    profiles: list[tuple[tuple[str, ...], Thresholds]] = []
    for name, table in chemistry.items():
        if name == "default":
            continue
        if not isinstance(table, dict):
            raise ThresholdFileError(f"chemistry.{name} must be a table")
        matches = table.get("match", [name])
        if not isinstance(matches, list) or not all(isinstance(m, str) for m in matches):
            raise ThresholdFileError(f"chemistry.{name}.match must be a list of strings")
        values = {**base, **_numbers(table, f"chemistry.{name}")}
        profiles.append((tuple(m.upper() for m in matches), Thresholds(name=name, **values)))
    models_table = document.get("model", {})
    if not isinstance(models_table, dict):
        raise ThresholdFileError("[model] must be a table of tables")
    models = {
        str(model): _numbers(table, f"model.{model}")
        for model, table in models_table.items()
        if isinstance(table, dict)
    }
    return ThresholdTable(default=default, chemistries=tuple(profiles), models=models)


@functools.cache
def table() -> ThresholdTable:
    with THRESHOLDS_FILE.open("rb") as handle:
        return parse(tomllib.load(handle))


def profile_for(chemistry: str | None, model: str | None = None) -> Thresholds:
    return table().profile_for(chemistry, model)
