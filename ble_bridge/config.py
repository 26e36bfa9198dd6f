"""Gateway configuration (TOML), validated with frozen pydantic models."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ble_bridge.errors import ConfigInvalidError
from ble_bridge.gatt import (
    ALL_LAYOUTS,
    DALY_LAYOUT,
    ELM327_LAYOUTS,
    JBD_LAYOUT,
    JK_LAYOUT,
    GattLayout,
)
from ble_bridge.polling import PollingPolicy
from ble_bridge.profiles import PROFILES, AdapterKind, get_profile
from ble_bridge.transport import ScanFilter


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PollingConfig(_Frozen):
    """Seconds between polls per device state (see :mod:`ble_bridge.polling`)."""

    charging_s: float = 5.0
    active_s: float = 10.0
    idle_s: float = 30.0
    parked_s: float = 600.0
    asleep_s: float | None = 1800.0
    unreachable_s: float = 60.0
    idle_current_a: float = 1.0
    idle_polls_before_parked: int = 10

    def policy(self) -> PollingPolicy:
        """As the pure policy object."""
        return PollingPolicy(**self.model_dump())


class DeviceConfig(_Frozen):
    """One BLE device the gateway reads."""

    id: str = Field(min_length=1, max_length=64)
    profile: str
    address: str | None = None
    name_pattern: str | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_id: int | None = None
    layout: str | None = None  # GATT layout id; default: by the profile's adapter kind
    release: bool = False  # single-connection peripherals: disconnect after every poll
    daly_legacy: bool = False
    polling: PollingConfig | None = None

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; known: {', '.join(sorted(PROFILES))}")
        return value

    @field_validator("layout")
    @classmethod
    def _known_layout(cls, value: str | None) -> str | None:
        if value is not None and value not in ALL_LAYOUTS:
            raise ValueError(f"unknown GATT layout {value!r}")
        return value

    def scan_filter(self) -> ScanFilter:
        """Advertisement filter; at least one criterion is required."""
        return ScanFilter(self.address, self.name_pattern, self.service_uuids, self.manufacturer_id)

    def layouts(self) -> tuple[GattLayout, ...]:
        """Candidate GATT layouts."""
        if self.layout is not None:
            return (ALL_LAYOUTS[self.layout],)
        kind = get_profile(self.profile).kind
        return {
            AdapterKind.ELM327: ELM327_LAYOUTS,
            AdapterKind.JBD: (JBD_LAYOUT,),
            AdapterKind.DALY: (DALY_LAYOUT,),
            AdapterKind.JK: (JK_LAYOUT,),
        }[kind]


class BridgeConfig(_Frozen):
    """The whole gateway."""

    server_url: str
    key_file: Path
    outbox: Path
    status_file: Path | None = None
    devices: tuple[DeviceConfig, ...] = ()
    polling: PollingConfig = PollingConfig()
    watchdog_timeouts: int = Field(default=3, ge=1)
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 120.0
    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 15.0
    reply_timeout_s: float = 2.0
    upload_batch: int = Field(default=500, ge=1, le=5000)
    upload_idle_s: float = 5.0

    def status_path(self) -> Path:
        """Where the running gateway writes link status for ``bpp-bridge status``."""
        return self.status_file or self.outbox.with_suffix(".status.json")


def load_config(path: Path) -> BridgeConfig:
    """Read and validate a TOML file; relative paths are taken from the file's folder."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigInvalidError(f"{path}: {exc}") from exc
    for key in ("key_file", "outbox", "status_file"):
        if key in raw and not Path(raw[key]).is_absolute():
            raw[key] = str(path.parent / raw[key])
    try:
        config = BridgeConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigInvalidError(f"{path}: {exc}") from exc
    for device in config.devices:
        if device.scan_filter() == ScanFilter():
            raise ConfigInvalidError(f"device {device.id}: give an address or a name pattern")
    return config
