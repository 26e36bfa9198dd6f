"""Ingest refusals of a whole batch: the `IngestError` codes of docs/BRIDGE.md."""

from __future__ import annotations

from enum import StrEnum


class IngestErrorCode(StrEnum):
    UNKNOWN_DEVICE = "UNKNOWN_DEVICE"
    DEVICE_REVOKED = "DEVICE_REVOKED"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    INVALID_BATCH = "INVALID_BATCH"
    BATCH_TOO_LARGE = "BATCH_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    UNAVAILABLE = "UNAVAILABLE"


class IngestRefused(Exception):  # noqa: N818 - a refusal, answered as a union member
    """The whole batch is refused; nothing was stored."""

    def __init__(self, code: IngestErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SampleCode(StrEnum):
    """Why one sample was REJECTED (the gateway keeps it and never resends it)."""

    INVALID = "INVALID"  # shape: a field missing or of the wrong type, deviceId mismatch
    CLOCK_OUT_OF_RANGE = "CLOCK_OUT_OF_RANGE"  # wall time in the future or implausibly old
    OUT_OF_RANGE = "OUT_OF_RANGE"  # a measurement no battery can have (SoC 250 %, …)
