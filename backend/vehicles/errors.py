"""Typed errors of vehicles and installations."""

from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode


class InvalidVinError(DomainError):
    code = ErrorCode.INVALID_VIN
    status_code = 422


class BatteryInstalledError(DomainError):
    """The battery (or the vehicle's battery slot) is already taken, or nothing is installed."""

    code = ErrorCode.BATTERY_INSTALLED
    status_code = 409
