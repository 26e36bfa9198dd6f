"""Typed domain errors: expected failures that map to GraphQL union results and problem details."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ALREADY_REVOKED = "ALREADY_REVOKED"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    # passport domain
    PASSPORT_CEASED = "PASSPORT_CEASED"
    INVALID_VIN = "INVALID_VIN"
    LIFECYCLE_TRANSITION = "LIFECYCLE_TRANSITION"
    BATTERY_INSTALLED = "BATTERY_INSTALLED"
    EVENT_NOT_ANCHORED = "EVENT_NOT_ANCHORED"
    EVENT_CHAIN_BROKEN = "EVENT_CHAIN_BROKEN"
    # authentication (backend.auth)
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOKEN_INVALID = "TOKEN_INVALID"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"
    CHALLENGE_INVALID = "CHALLENGE_INVALID"
    PRESENTATION_REJECTED = "PRESENTATION_REJECTED"


class DomainError(Exception):
    """An expected failure: it has a machine code, a human message and maybe the input field."""

    code: ErrorCode = ErrorCode.INVALID_INPUT
    status_code: int = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFoundError(DomainError):
    code = ErrorCode.NOT_FOUND
    status_code = 404


class InvalidInputError(DomainError):
    code = ErrorCode.INVALID_INPUT
    status_code = 422


class AlreadyExistsError(DomainError):
    code = ErrorCode.ALREADY_EXISTS
    status_code = 409


class ForbiddenError(DomainError):
    code = ErrorCode.FORBIDDEN
    status_code = 403


class UnauthenticatedError(DomainError):
    code = ErrorCode.UNAUTHENTICATED
    status_code = 401
