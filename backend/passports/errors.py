"""Typed errors of the passport domain."""

from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode


class PassportCeasedError(DomainError):
    """The battery was recycled or succeeded by a new passport: its record is read-only."""

    code = ErrorCode.PASSPORT_CEASED
    status_code = 409
