"""Drivers: passwords, login without enumeration, token expiry, refresh rotation and reuse,
logout effective at once."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher

from backend.auth.drivers import TokenPair
from backend.auth.errors import (
    InvalidCredentialsError,
    RefreshTokenReusedError,
    TokenExpiredError,
    TokenInvalidError,
    TokenRevokedError,
)
from backend.auth.models import Driver
from backend.auth.passwords import PasswordHashing
from backend.auth.principal import AuthMethod, Principal, PrincipalKind
from backend.auth.service import AuthServices
from backend.auth.tokens import AccessTokens, TokenKind
from backend.kit.db import Database
from backend.kit.errors import AlreadyExistsError, ErrorCode, InvalidInputError
from backend.orgs.roles import Role
from tests.backend.auth.conftest import FAST_HASHER, unique_email

# Real database and Redis: repeated on PostgreSQL + Redis in CI.
pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


async def _sign_up(auth: AuthServices, db: Database, email: str) -> Driver:
    async with db.unit_of_work() as session:
        return await auth.drivers.sign_up(session, email=email, password=PASSWORD)


def test_password_hash_is_argon2id_and_verifies() -> None:
    hashing = PasswordHashing(FAST_HASHER)
    stored = hashing.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert hashing.verify(stored, PASSWORD).ok
    assert not hashing.verify(stored, PASSWORD + "!").ok
    assert not hashing.verify(None, PASSWORD).ok


def test_changed_parameters_ask_for_a_rehash() -> None:
    old = PasswordHashing(FAST_HASHER).hash(PASSWORD)
    stronger = PasswordHashing(PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    check = stronger.verify(old, PASSWORD)
    assert check.ok
    assert check.new_hash is not None
    assert "t=2" in check.new_hash
    assert stronger.verify(check.new_hash, PASSWORD).new_hash is None


@pytest.mark.parametrize("password", ["short", "x" * 1025])
def test_password_length_bounds(password: str) -> None:
    with pytest.raises(InvalidInputError):
        PasswordHashing(FAST_HASHER).hash(password)


async def test_login_by_email_or_phone_returns_a_driver_principal(
    auth: AuthServices, auth_db: Database
) -> None:
    email = unique_email()
    async with auth_db.unit_of_work() as session:
        driver = await auth.drivers.sign_up(
            session, email=email.upper(), phone="+82 10-5555-0101", password=PASSWORD
        )
    for identifier in (email, "+821055550101"):
        async with auth_db.unit_of_work() as session:
            pair = await auth.drivers.login(session, identifier, PASSWORD)
        principal = await auth.resolver.resolve_header(f"Bearer {pair.access_token}")
        assert principal.kind is PrincipalKind.DRIVER
        assert principal.driver_id == driver.id
        assert principal.auth_method is AuthMethod.ACCESS_TOKEN
    await _cleanup_phone(auth_db, driver.id)


async def _cleanup_phone(db: Database, driver_id: str) -> None:
    async with db.unit_of_work() as session:
        row = await session.get(Driver, driver_id)
        assert row is not None
        row.phone = None
        session.add(row)


async def test_login_failures_are_indistinguishable(auth: AuthServices, auth_db: Database) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    messages = set()
    for identifier, password in [
        (email, "wrong password!"),
        (unique_email(), PASSWORD),
        ("not an identifier", PASSWORD),
    ]:
        with pytest.raises(InvalidCredentialsError) as raised:
            async with auth_db.unit_of_work() as session:
                await auth.drivers.login(session, identifier, password)
        assert raised.value.code is ErrorCode.INVALID_CREDENTIALS
        messages.add(raised.value.message)
    assert len(messages) == 1


async def test_login_rehashes_an_outdated_hash(auth: AuthServices, auth_db: Database) -> None:
    email = unique_email()
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1)
    async with auth_db.unit_of_work() as session:
        driver = Driver(id="rehash-" + email[:20], email=email, password_hash=weak.hash(PASSWORD))
        session.add(driver)
    async with auth_db.unit_of_work() as session:
        await auth.drivers.login(session, email, PASSWORD)
    async with auth_db.read_only() as session:
        row = await session.get(Driver, driver.id)
    assert row is not None
    assert row.password_hash is not None
    assert "m=1024" in row.password_hash


async def test_duplicate_sign_up_is_refused(auth: AuthServices, auth_db: Database) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    with pytest.raises(AlreadyExistsError):
        await _sign_up(auth, auth_db, email)


async def test_expired_access_token_is_refused(auth: AuthServices) -> None:
    clock = [1_000_000.0]
    tokens = AccessTokens("dev-secret-key-change-me", ttl_s=60, clock=lambda: clock[0])
    token, _ = tokens.issue(TokenKind.DRIVER, "driver-1", "session-1")
    assert tokens.decode(token).subject == "driver-1"
    clock[0] += 60 + 10
    with pytest.raises(TokenExpiredError):
        tokens.decode(token)


async def test_tampered_or_foreign_tokens_are_refused(auth: AuthServices) -> None:
    token, _ = auth.tokens.issue(TokenKind.DRIVER, "driver-1", "session-1")
    other = AccessTokens("another-secret", ttl_s=60)
    forged, _ = other.issue(TokenKind.DRIVER, "driver-1", "session-1")
    header, payload, signature = token.split(".")
    for bad in (forged, f"{header}.{payload}.{signature[:-2]}AA", "a.b.c", "garbage"):
        with pytest.raises(TokenInvalidError):
            await auth.resolver.resolve(bad)


async def test_refresh_rotates_and_reuse_revokes_the_family(
    auth: AuthServices, auth_db: Database
) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    async with auth_db.unit_of_work() as session:
        first = await auth.drivers.login(session, email, PASSWORD)
    async with auth_db.unit_of_work() as session:
        second = await auth.drivers.refresh(session, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    await auth.resolver.resolve(second.access_token)

    # The first token again: a thief (or the driver) replays it -> the whole family dies,
    # even though the refused request's unit of work rolls back.
    with pytest.raises(RefreshTokenReusedError):
        async with auth_db.unit_of_work() as session:
            await auth.drivers.refresh(session, first.refresh_token)
    with pytest.raises(TokenRevokedError):
        await auth.resolver.resolve(second.access_token)
    with pytest.raises((TokenRevokedError, RefreshTokenReusedError)):
        async with auth_db.unit_of_work() as session:
            await auth.drivers.refresh(session, second.refresh_token)


async def test_logout_stops_access_and_refresh_tokens_at_once(
    auth: AuthServices, auth_db: Database
) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    async with auth_db.unit_of_work() as session:
        kept = await auth.drivers.login(session, email, PASSWORD)
    async with auth_db.unit_of_work() as session:
        pair = await auth.drivers.login(session, email, PASSWORD)
    async with auth_db.unit_of_work() as session:
        await auth.drivers.logout(session, pair.refresh_token)
    with pytest.raises(TokenRevokedError):
        await auth.resolver.resolve(pair.access_token)
    with pytest.raises(TokenRevokedError):
        async with auth_db.unit_of_work() as session:
            await auth.drivers.refresh(session, pair.refresh_token)
    # Another device's session is untouched.
    assert (await auth.resolver.resolve(kept.access_token)).is_driver


async def test_logout_everywhere_stops_every_session(auth: AuthServices, auth_db: Database) -> None:
    email = unique_email()
    driver = await _sign_up(auth, auth_db, email)
    pairs = []
    for _ in range(2):
        async with auth_db.unit_of_work() as session:
            pairs.append(await auth.drivers.login(session, email, PASSWORD))
    async with auth_db.unit_of_work() as session:
        await auth.drivers.logout_everywhere(session, driver.id)
    for pair in pairs:
        with pytest.raises(TokenRevokedError):
            await auth.resolver.resolve(pair.access_token)
    # A login after the logout works again.
    async with auth_db.unit_of_work() as session:
        fresh = await auth.drivers.login(session, email, PASSWORD)
    assert (await auth.resolver.resolve(fresh.access_token)).driver_id == driver.id


async def test_expired_refresh_token_is_refused(auth: AuthServices, auth_db: Database) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    async with auth_db.unit_of_work() as session:
        pair = await auth.drivers.login(session, email, PASSWORD)
    real_clock = auth.tokens.clock
    auth.tokens.clock = lambda: real_clock() + 3600 + 1
    try:
        with pytest.raises(TokenExpiredError):
            async with auth_db.unit_of_work() as session:
                await auth.drivers.refresh(session, pair.refresh_token)
    finally:
        auth.tokens.clock = real_clock


async def test_two_concurrent_refreshes_with_one_token_let_exactly_one_win(
    auth: AuthServices, auth_db: Database
) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    async with auth_db.unit_of_work() as session:
        pair = await auth.drivers.login(session, email, PASSWORD)

    async def refresh() -> object:
        try:
            async with auth_db.unit_of_work() as session:
                return await auth.drivers.refresh(session, pair.refresh_token)
        except RefreshTokenReusedError as exc:
            return exc

    outcomes = await asyncio.gather(refresh(), refresh())
    assert sum(isinstance(o, RefreshTokenReusedError) for o in outcomes) == 1
    # The race counts as reuse: the family is revoked, the winner's tokens included.
    winner = next(o for o in outcomes if not isinstance(o, RefreshTokenReusedError))
    assert isinstance(winner, TokenPair)
    with pytest.raises(TokenRevokedError):
        await auth.resolver.resolve(winner.access_token)


async def test_logout_current_ends_the_callers_session_only(
    auth: AuthServices, auth_db: Database
) -> None:
    email = unique_email()
    await _sign_up(auth, auth_db, email)
    async with auth_db.unit_of_work() as session:
        phone_app = await auth.drivers.login(session, email, PASSWORD)
        tablet = await auth.drivers.login(session, email, PASSWORD)
    caller = await auth.resolver.resolve(phone_app.access_token)
    async with auth_db.unit_of_work() as session:
        await auth.drivers.logout_current(session, caller)
    with pytest.raises(TokenRevokedError):
        await auth.resolver.resolve(phone_app.access_token)
    assert (await auth.resolver.resolve(tablet.access_token)).is_driver
    with pytest.raises(TokenInvalidError):
        async with auth_db.unit_of_work() as session:
            await auth.drivers.logout_current(
                session, Principal(organisation_id=1, role=Role.PLATFORM)
            )
