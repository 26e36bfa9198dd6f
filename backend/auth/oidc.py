"""Trusting an external OpenID Connect issuer's access tokens through its JWKS.

The JWKS comes from an injected async fetcher (no HTTP client here), cached for a while; a
token signed with a key id the cache does not know triggers one early refetch (the issuer
rotated its keys), at most every `min_refetch_s`. Only asymmetric algorithms are accepted, so a
token can never be "signed" with the public key used as an HMAC secret, and never `none`.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from jwcrypto import jwk, jws
from jwcrypto.common import JWException

from backend.auth.errors import AuthUnavailableError, TokenExpiredError, TokenInvalidError

JwksFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]

ALLOWED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_LEEWAY_S: Final = 30.0
_MAX_JWKS_BYTES: Final = 256 * 1024
_MAX_TOKEN_LENGTH: Final = 16384


@dataclass(frozen=True, slots=True)
class OidcIdentity:
    issuer: str
    subject: str
    email: str | None
    expires_at: float


class OidcVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        fetch_jwks: JwksFetcher,
        jwks_url: str | None = None,
        cache_s: float = 600.0,
        min_refetch_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json"
        self._fetch = fetch_jwks
        self.cache_s = cache_s
        self.min_refetch_s = min_refetch_s
        self.clock = clock
        self._keys: dict[str, jwk.JWK] = {}
        self._fetched_at: float | None = None

    async def _load(self, *, force: bool) -> None:
        now = self.clock()
        fresh = self._fetched_at is not None and now - self._fetched_at < self.cache_s
        recent = self._fetched_at is not None and now - self._fetched_at < self.min_refetch_s
        if fresh and not force:
            return
        if force and recent:
            return
        try:
            document = await self._fetch(self.jwks_url)
            keys: dict[str, jwk.JWK] = {}
            for entry in document.get("keys", []):
                if not isinstance(entry, Mapping) or entry.get("kty") == "oct":
                    continue  # a symmetric key in a public JWKS is never trusted
                key = jwk.JWK(**entry)
                keys[str(entry.get("kid", key.thumbprint()))] = key
        except AuthUnavailableError:
            raise
        except Exception as exc:
            if self._keys:
                return  # keep serving the keys we have; the issuer's endpoint may come back
            raise AuthUnavailableError(f"cannot load the OIDC issuer's JWKS: {exc}") from None
        self._keys = keys
        self._fetched_at = now

    async def verify(self, token: str) -> OidcIdentity:
        if len(token) > _MAX_TOKEN_LENGTH:
            raise TokenInvalidError("token too long")
        parsed = jws.JWS()
        try:
            parsed.deserialize(token)
            header = parsed.jose_header
        except (JWException, ValueError, TypeError):
            raise TokenInvalidError("not a JWT") from None
        if not isinstance(header, dict) or header.get("alg") not in ALLOWED_ALGORITHMS:
            raise TokenInvalidError("token algorithm is not accepted")
        kid = header.get("kid")
        await self._load(force=False)
        key = self._pick(kid)
        if key is None:
            await self._load(force=True)
            key = self._pick(kid)
        if key is None:
            raise TokenInvalidError("token signed with an unknown key")
        try:
            parsed.verify(key, alg=str(header["alg"]))
            payload = json.loads(parsed.payload)
        except (JWException, ValueError, TypeError):
            raise TokenInvalidError("token signature is invalid") from None
        return self._identity(payload)

    def _pick(self, kid: Any) -> jwk.JWK | None:
        if isinstance(kid, str):
            return self._keys.get(kid)
        return next(iter(self._keys.values())) if len(self._keys) == 1 else None

    def _identity(self, payload: Any) -> OidcIdentity:
        if not isinstance(payload, dict):
            raise TokenInvalidError("token payload is not an object")
        if payload.get("iss") != self.issuer:
            raise TokenInvalidError("token issuer is not trusted")
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise TokenInvalidError("token audience is not this platform")
        subject = payload.get("sub")
        exp = payload.get("exp")
        if not isinstance(subject, str) or not subject or not isinstance(exp, int | float):
            raise TokenInvalidError("token lacks sub or exp")
        now = self.clock()
        if exp + _LEEWAY_S < now:
            raise TokenExpiredError("token has expired")
        nbf = payload.get("nbf")
        if isinstance(nbf, int | float) and nbf - _LEEWAY_S > now:
            raise TokenInvalidError("token is not valid yet")
        email = payload.get("email")
        return OidcIdentity(
            issuer=self.issuer,
            subject=subject,
            email=email if isinstance(email, str) else None,
            expires_at=float(exp),
        )


def peek_issuer(token: str) -> str | None:
    """The unverified `iss` of a JWT, only to route it to the right verifier (None if the
    token is not a JWT)."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > _MAX_TOKEN_LENGTH:
        return None
    try:
        payload = json.loads(_b64decode(parts[1]))
    except (ValueError, TypeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


async def fetch_jwks_over_http(url: str) -> Mapping[str, Any]:
    """The default JWKS fetcher: HTTPS (plain HTTP only for localhost), a short timeout and a
    size bound, no redirects (a JWKS that moves is a configuration change, not a hop)."""
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not local:
        raise AuthUnavailableError("the JWKS URL must use HTTPS")
    try:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
            response = await client.get(url, headers={"accept": "application/json"})
    except httpx.HTTPError as exc:
        raise AuthUnavailableError(f"JWKS fetch failed: {type(exc).__name__}") from None
    if response.status_code != 200 or len(response.content) > _MAX_JWKS_BYTES:
        raise AuthUnavailableError(f"JWKS fetch answered {response.status_code}")
    try:
        document = response.json()
    except ValueError:
        raise AuthUnavailableError("the JWKS is not JSON") from None
    if not isinstance(document, dict):
        raise AuthUnavailableError("the JWKS is not a JSON object")
    return document
