"""Drivers: sign-up, login, rotating refresh tokens with reuse detection, logout.

Services take the caller's `AsyncSession` and never commit. The one exception to "the unit of
work decides" is revocation: reuse of a refresh token and logout are recorded in Redis before
anything can roll back, so a refused request still leaves the family revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit.service import record
from backend.auth.errors import (
    InvalidCredentialsError,
    RefreshTokenReusedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from backend.auth.models import Driver, RefreshToken
from backend.auth.passwords import PasswordHashing
from backend.auth.policy import Resource, ResourceKind
from backend.auth.principal import Principal
from backend.auth.revocation import SessionRevocations
from backend.auth.tokens import AccessTokens, TokenKind, derive_key
from backend.kit.errors import AlreadyExistsError, InvalidInputError
from backend.kit.models import as_utc

_EMAIL: Final = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_PHONE_SEPARATORS: Final = re.compile(r"[\s\-().]")
_REFRESH_PREFIX: Final = "bpprt_"

log = structlog.get_logger("bpp.auth")


def _driver_resource(driver_id: str) -> Resource:
    return Resource(ResourceKind.DRIVER, id=driver_id, owner_id=driver_id)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    driver_id: str
    session_id: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInputError("not an email address", field="email")
    return email


def normalise_phone(value: str) -> str:
    phone = _PHONE_SEPARATORS.sub("", value.strip())
    if not _PHONE.fullmatch(phone):
        raise InvalidInputError(
            "a phone number is in international form, e.g. +82 10 1234 5678", field="phone"
        )
    return phone


def _identifier_filter(identifier: str) -> tuple[str, str] | None:
    """`("email"|"phone", normalised)` or None for something that is neither."""
    text = identifier.strip()
    try:
        return ("email", normalise_email(text)) if "@" in text else ("phone", normalise_phone(text))
    except InvalidInputError:
        return None


class DriverAuth:
    def __init__(
        self,
        *,
        secret_key: str,
        tokens: AccessTokens,
        revocations: SessionRevocations,
        passwords: PasswordHashing,
        refresh_ttl_s: int,
    ) -> None:
        self._refresh_key = derive_key(secret_key, "refresh-token")
        self.tokens = tokens
        self.revocations = revocations
        self.passwords = passwords
        self.refresh_ttl_s = refresh_ttl_s

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.tokens.clock(), UTC)

    def hash_refresh_token(self, token: str) -> str:
        return hmac.new(self._refresh_key, token.encode(), hashlib.sha256).hexdigest()

    async def sign_up(
        self,
        session: AsyncSession,
        *,
        password: str,
        email: str | None = None,
        phone: str | None = None,
        display_name: str | None = None,
    ) -> Driver:
        if email is None and phone is None:
            raise InvalidInputError("an email address or a phone number is needed", field="email")
        driver = Driver(
            id=str(uuid.uuid4()),
            email=normalise_email(email) if email is not None else None,
            phone=normalise_phone(phone) if phone is not None else None,
            display_name=display_name,
            password_hash=self.passwords.hash(password),
        )
        clauses = []
        if driver.email is not None:
            clauses.append(col(Driver.email) == driver.email)
        if driver.phone is not None:
            clauses.append(col(Driver.phone) == driver.phone)
        for clause in clauses:
            if (await session.exec(select(Driver.id).where(clause))).first() is not None:
                # Deliberately not saying which identifier is taken.
                raise AlreadyExistsError("an account with these details exists; log in instead")
        session.add(driver)
        try:
            await session.flush()
        except IntegrityError:
            # A concurrent sign-up with the same identifier won the race.
            raise AlreadyExistsError(
                "an account with these details exists; log in instead"
            ) from None
        await record(
            session, Principal(driver_id=driver.id), "driver.sign_up", _driver_resource(driver.id)
        )
        return driver

    async def login(self, session: AsyncSession, identifier: str, password: str) -> TokenPair:
        """Tokens for a valid identifier + password. Every failure costs one argon2 check and
        raises the same `InvalidCredentialsError`, so timing and answers reveal no account."""
        driver: Driver | None = None
        parsed = _identifier_filter(identifier)
        if parsed is not None:
            column = Driver.email if parsed[0] == "email" else Driver.phone
            driver = (await session.exec(select(Driver).where(col(column) == parsed[1]))).first()
        stored = driver.password_hash if driver is not None else None
        check = self.passwords.verify(stored, password)
        if driver is None or not check.ok:
            # No audit row (the failed request rolls back); a log line for rate limiting and
            # alerting, without the identifier (personal data).
            log.info("login refused", known_account=driver is not None)
            raise InvalidCredentialsError()
        if check.new_hash is not None:
            driver.password_hash = check.new_hash
            session.add(driver)
        pair = await self._new_pair(session, driver.id, family_id=str(uuid.uuid4()))
        await record(
            session,
            Principal(driver_id=driver.id, session_id=pair.session_id),
            "driver.login",
            _driver_resource(driver.id),
            details={"session": pair.session_id, "rehashed": check.new_hash is not None},
        )
        return pair

    async def issue_session(self, session: AsyncSession, driver_id: str) -> TokenPair:
        """A new session for a driver authenticated another way (e.g. OIDC)."""
        return await self._new_pair(session, driver_id, family_id=str(uuid.uuid4()))

    async def _new_pair(self, session: AsyncSession, driver_id: str, family_id: str) -> TokenPair:
        plaintext = _REFRESH_PREFIX + secrets.token_urlsafe(32)
        now = self._now()
        session.add(
            RefreshToken(
                id=str(uuid.uuid4()),
                family_id=family_id,
                driver_id=driver_id,
                token_hash=self.hash_refresh_token(plaintext),
                issued_at=now,
                expires_at=now + timedelta(seconds=self.refresh_ttl_s),
            )
        )
        await session.flush()
        access, _ = self.tokens.issue(TokenKind.DRIVER, driver_id, family_id)
        return TokenPair(
            access_token=access,
            refresh_token=plaintext,
            expires_in=self.tokens.ttl_s,
            driver_id=driver_id,
            session_id=family_id,
        )

    async def _find(self, session: AsyncSession, refresh_token: str) -> RefreshToken:
        if not refresh_token.startswith(_REFRESH_PREFIX) or len(refresh_token) > 200:
            raise TokenInvalidError("not a refresh token")
        row = (
            await session.exec(
                select(RefreshToken).where(
                    RefreshToken.token_hash == self.hash_refresh_token(refresh_token)
                )
            )
        ).first()
        if row is None:
            raise TokenInvalidError("unknown refresh token")
        return row

    async def refresh(self, session: AsyncSession, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is spent and a new pair of the same family returned.

        A token presented a second time means it was copied: the whole family is revoked (the
        thief's and the driver's tokens alike) and `RefreshTokenReusedError` raised.
        """
        row = await self._find(session, refresh_token)
        if row.used_at is not None:
            await self._revoke_family(session, row.family_id)
            log.warning("refresh token reuse: session revoked", session=row.family_id)
            raise RefreshTokenReusedError("refresh token used twice: the session is revoked")
        if row.revoked_at is not None or await self.revocations.is_session_revoked(row.family_id):
            raise TokenRevokedError("this session was signed out")
        if as_utc(row.expires_at) <= self._now():
            raise TokenExpiredError("refresh token has expired; log in again")
        # Mark as used with a guarded UPDATE: of two concurrent refreshes with the same token
        # exactly one wins; the other sees no row changed and counts as reuse.
        result = await session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.id) == row.id, col(RefreshToken.used_at).is_(None))
            .values(used_at=self._now())
        )
        if result.rowcount != 1:
            await self._revoke_family(session, row.family_id)
            log.warning("concurrent refresh: session revoked", session=row.family_id)
            raise RefreshTokenReusedError("refresh token used twice: the session is revoked")
        return await self._new_pair(session, row.driver_id, family_id=row.family_id)

    async def _revoke_family(self, session: AsyncSession, family_id: str) -> None:
        await self.revocations.revoke_session(family_id)
        await session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
            .values(revoked_at=self._now())
        )

    async def logout(self, session: AsyncSession, refresh_token: str) -> None:
        """End the session the refresh token belongs to (its access tokens stop at once)."""
        row = await self._find(session, refresh_token)
        await self._revoke_family(session, row.family_id)
        await record(
            session,
            Principal(driver_id=row.driver_id, session_id=row.family_id),
            "driver.logout",
            _driver_resource(row.driver_id),
            details={"session": row.family_id},
        )

    async def logout_current(self, session: AsyncSession, principal: Principal) -> None:
        """End the session the caller's access token belongs to."""
        if not principal.is_driver or principal.session_id is None:
            raise TokenInvalidError("not a driver's session")
        await self._revoke_family(session, principal.session_id)
        assert principal.driver_id is not None
        await record(
            session,
            principal,
            "driver.logout",
            _driver_resource(principal.driver_id),
            details={"session": principal.session_id},
        )

    async def logout_everywhere(self, session: AsyncSession, driver_id: str) -> None:
        await self.revocations.revoke_subject(driver_id)
        families = (
            await session.exec(
                select(RefreshToken.family_id)
                .where(RefreshToken.driver_id == driver_id, col(RefreshToken.revoked_at).is_(None))
                .distinct()
            )
        ).all()
        for family_id in families:
            await self._revoke_family(session, family_id)
        await record(
            session,
            Principal(driver_id=driver_id),
            "driver.logout_everywhere",
            _driver_resource(driver_id),
            details={"sessions": len(families)},
        )
