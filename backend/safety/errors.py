"""Typed failures of the safety, charging and parking services."""

from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode


class AlertAlreadyClearedError(DomainError):
    code = ErrorCode.CONFLICT
    status_code = 409
