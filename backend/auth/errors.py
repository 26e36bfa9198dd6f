"""Typed authentication failures (each has a machine code from `backend.kit.errors.ErrorCode`)."""

from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode, UnauthenticatedError


class InvalidCredentialsError(UnauthenticatedError):
    """Login failed. One message for every cause, so it reveals nothing about accounts."""

    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self) -> None:
        super().__init__("the identifier or the password is wrong")


class TokenInvalidError(UnauthenticatedError):
    code = ErrorCode.TOKEN_INVALID


class TokenExpiredError(UnauthenticatedError):
    code = ErrorCode.TOKEN_EXPIRED


class TokenRevokedError(UnauthenticatedError):
    code = ErrorCode.TOKEN_REVOKED


class RefreshTokenReusedError(UnauthenticatedError):
    """A refresh token was presented twice: its whole family is now revoked."""

    code = ErrorCode.REFRESH_TOKEN_REUSED


class ChallengeInvalidError(UnauthenticatedError):
    code = ErrorCode.CHALLENGE_INVALID


class PresentationRejectedError(UnauthenticatedError):
    code = ErrorCode.PRESENTATION_REJECTED


class AuthUnavailableError(DomainError):
    """A store the check depends on (Redis, the JWKS) cannot answer: refuse, never guess."""

    code = ErrorCode.UNAVAILABLE
    status_code = 503
