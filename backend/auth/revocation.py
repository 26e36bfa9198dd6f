"""Revocation that takes effect at once: session and driver markers in Redis, read on every
request. A Redis that cannot answer makes the check fail closed (`AuthUnavailableError`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.auth.errors import AuthUnavailableError, TokenRevokedError
from backend.auth.tokens import AccessClaims

_PREFIX: Final = "bpp:auth:"


class SessionRevocations:
    """`revoke_session(sid)` kills every access token of a session (a driver's login, one
    role-credential sign-in); `revoke_subject(subject)` every token a driver (by id) or an
    organisation (by DID, e.g. when its accreditation is withdrawn) holds that was issued before
    now. Markers outlive the tokens they stop."""

    def __init__(
        self, redis: Redis, *, marker_ttl_s: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.redis = redis
        self.marker_ttl_s = marker_ttl_s
        self.clock = clock

    @staticmethod
    def _session_key(session_id: str) -> str:
        return f"{_PREFIX}revoked-session:{session_id}"

    @staticmethod
    def _subject_key(subject: str) -> str:
        return f"{_PREFIX}not-before:{subject}"

    async def revoke_session(self, session_id: str) -> None:
        try:
            await self.redis.set(self._session_key(session_id), b"1", ex=self.marker_ttl_s)
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot record the revocation: {exc}") from None

    async def revoke_subject(self, subject: str) -> None:
        """Every token of `subject` (driver id or organisation DID) issued until now dies."""
        try:
            await self.redis.set(
                self._subject_key(subject), str(round(self.clock(), 3)), ex=self.marker_ttl_s
            )
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot record the revocation: {exc}") from None

    async def is_session_revoked(self, session_id: str) -> bool:
        try:
            return bool(await self.redis.exists(self._session_key(session_id)))
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot check revocations: {exc}") from None

    async def check(self, claims: AccessClaims) -> None:
        """Raise `TokenRevokedError` when the token's session or subject was revoked."""
        try:
            session_marker, not_before = await self.redis.mget(
                [self._session_key(claims.session_id), self._subject_key(claims.subject)]
            )
        except RedisError as exc:
            raise AuthUnavailableError(f"cannot check revocations: {exc}") from None
        if session_marker is not None:
            raise TokenRevokedError("this session was signed out")
        # Issued in the same millisecond as the revocation counts as before it: a token the
        # revocation may have been meant for never survives it (a login racing the
        # revocation within that millisecond just signs in again).
        if not_before is not None and claims.issued_at <= float(not_before):
            raise TokenRevokedError("this token was revoked")
