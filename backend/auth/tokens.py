"""The platform's own access tokens: short-lived JWTs (HS256) under a key derived from
`BPP_SECRET_KEY`.

Every token belongs to a session (`sid`): a driver's refresh-token family or one role-credential
presentation. Revoking the session in Redis stops its access tokens at once (checked on every
request by `SessionRevocations`), without waiting for them to expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from jwcrypto import jwk, jws
from jwcrypto.common import JWException, json_encode

from backend.auth.errors import TokenExpiredError, TokenInvalidError

ISSUER: Final = "bpp"
AUDIENCE: Final = "bpp-api"
TOKEN_TYPE: Final = "at+jwt"  # noqa: S105 - the JWT `typ` of RFC 9068
_ALGORITHM: Final = "HS256"
# Two servers' clocks may differ a little; a token is not refused for a second or two.
_LEEWAY_S: Final = 5.0
_MAX_TOKEN_LENGTH: Final = 8192


class TokenKind(StrEnum):
    DRIVER = "driver"
    ROLE = "role"  # an organisation that proved its role with a presentation


@dataclass(frozen=True, slots=True)
class AccessClaims:
    kind: TokenKind
    subject: str  # driver id, or the organisation's DID
    session_id: str
    token_id: str
    issued_at: float
    expires_at: float
    role: str | None = None


def derive_key(secret_key: str, purpose: str) -> bytes:
    """A key for one purpose, so API-key hashes, refresh-token hashes and JWT signatures never
    share a key even though they all come from `BPP_SECRET_KEY`."""
    return hmac.new(secret_key.encode(), f"bpp/{purpose}/v1".encode(), hashlib.sha256).digest()


class AccessTokens:
    def __init__(
        self,
        secret_key: str,
        *,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = jwk.JWK(kty="oct", k=_b64(derive_key(secret_key, "access-token")))
        self.ttl_s = ttl_s
        self.clock = clock

    def issue(
        self,
        kind: TokenKind,
        subject: str,
        session_id: str,
        *,
        role: str | None = None,
        ttl_s: int | None = None,
    ) -> tuple[str, AccessClaims]:
        # Millisecond `iat` (RFC 7519 allows non-integer NumericDates) so that a revocation
        # marker set in the same second as a later login does not catch the new token (the
        # same millisecond does: see `SessionRevocations.check`).
        now = round(self.clock(), 3)
        claims = AccessClaims(
            kind=kind,
            subject=subject,
            session_id=session_id,
            token_id=secrets.token_urlsafe(12),
            issued_at=now,
            expires_at=now + (ttl_s or self.ttl_s),
            role=role,
        )
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": subject,
            "knd": kind.value,
            "sid": session_id,
            "jti": claims.token_id,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
        }
        if role is not None:
            payload["role"] = role
        token = jws.JWS(json.dumps(payload, separators=(",", ":")).encode())
        token.add_signature(
            self._key, alg=_ALGORITHM, protected=json_encode({"alg": _ALGORITHM, "typ": TOKEN_TYPE})
        )
        return token.serialize(compact=True), claims

    def decode(self, token: str) -> AccessClaims:
        """The claims of a token this platform signed and that has not expired."""
        if len(token) > _MAX_TOKEN_LENGTH or token.count(".") != 2:
            raise TokenInvalidError("not an access token")
        parsed = jws.JWS()
        try:
            parsed.deserialize(token)
            header = parsed.jose_header
            if not isinstance(header, dict) or header.get("typ") != TOKEN_TYPE:
                raise TokenInvalidError("not an access token")
            parsed.verify(self._key, alg=_ALGORITHM)
            payload = json.loads(parsed.payload)
        except (JWException, ValueError, TypeError):
            raise TokenInvalidError("access token signature or format is invalid") from None
        return self._claims(payload)

    def _claims(self, payload: Any) -> AccessClaims:
        if not isinstance(payload, dict):
            raise TokenInvalidError("access token payload is not an object")
        try:
            if payload["iss"] != ISSUER or payload["aud"] != AUDIENCE:
                raise TokenInvalidError("access token issuer or audience is wrong")
            claims = AccessClaims(
                kind=TokenKind(payload["knd"]),
                subject=str(payload["sub"]),
                session_id=str(payload["sid"]),
                token_id=str(payload["jti"]),
                issued_at=float(payload["iat"]),
                expires_at=float(payload["exp"]),
                role=str(payload["role"]) if "role" in payload else None,
            )
        except (KeyError, ValueError, TypeError):
            raise TokenInvalidError("access token claims are incomplete") from None
        now = self.clock()
        if claims.expires_at + _LEEWAY_S < now:
            raise TokenExpiredError("access token has expired; refresh it")
        if claims.issued_at - _LEEWAY_S > now:
            raise TokenInvalidError("access token is issued in the future")
        return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
