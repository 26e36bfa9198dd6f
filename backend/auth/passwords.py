"""Password hashing with argon2id: verify, rehash when the parameters change, and spend the
same work on failure paths (unknown account, anonymised account) as on a real check."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from backend.kit.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 10
# argon2 hashes any length, but an unbounded input is free CPU for an attacker.
MAX_PASSWORD_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used outdated parameters


class PasswordHashing:
    """argon2id with the library's RFC 9106 defaults unless parameters are given (tests use
    cheap ones)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        return self.hasher.hash("not a password of anyone")

    def hash(self, password: str) -> str:
        validate_password(password)
        return self.hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check `password`; with no stored hash, burn the same time and fail."""
        if stored_hash is None or len(password) > MAX_PASSWORD_LENGTH:
            self._burn(password[:MAX_PASSWORD_LENGTH])
            return PasswordCheck(ok=False)
        try:
            self.hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(ok=False)
        if self.hasher.check_needs_rehash(stored_hash):
            return PasswordCheck(ok=True, new_hash=self.hasher.hash(password))
        return PasswordCheck(ok=True)

    def _burn(self, password: str) -> None:
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy_hash, password)


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"a password has at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"a password has at most {MAX_PASSWORD_LENGTH} characters", field="password"
        )
