"""Turning `Authorization: Bearer …` into a `Principal`.

Three kinds of bearer: an API key (`bpp_…`, looked up on every request so a revoked key stops
at once), one of our access tokens (driver or role session; signature and expiry locally, then
one Redis round trip for revocation), or a trusted OIDC issuer's token (JWKS, cached). Anything
presented that does not authenticate raises a typed `UnauthenticatedError`; no header at all is
the anonymous principal.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from backend.auth.errors import TokenInvalidError, TokenRevokedError
from backend.auth.models import Driver
from backend.auth.oidc import OidcVerifier, peek_issuer
from backend.auth.principal import ANONYMOUS, AuthMethod, Principal
from backend.auth.revocation import SessionRevocations
from backend.auth.tokens import ISSUER, AccessTokens, TokenKind
from backend.kit.db import Database
from backend.orgs.apikeys import api_key_matches, parse_api_key
from backend.orgs.models import ApiKey, Organisation
from backend.orgs.roles import Role


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (None otherwise)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class PrincipalResolver:
    def __init__(
        self,
        *,
        db: Database,
        secret_key: str,
        tokens: AccessTokens,
        revocations: SessionRevocations,
        organisation_did: Callable[[str, Role], str],
        oidc: OidcVerifier | None = None,
    ) -> None:
        self.db = db
        self.secret_key = secret_key
        self.tokens = tokens
        self.revocations = revocations
        self.organisation_did = organisation_did
        self.oidc = oidc

    async def resolve_header(self, authorization: str | None) -> Principal:
        if authorization is None or not authorization.strip():
            return ANONYMOUS
        token = bearer_token(authorization)
        if token is None:
            raise TokenInvalidError("use `Authorization: Bearer <token>`")
        return await self.resolve(token)

    async def resolve(self, token: str) -> Principal:
        if token.startswith("bpp_"):
            return await self._api_key(token)
        # Our tokens and OIDC tokens are both JWTs; the unverified `iss` only routes.
        issuer = peek_issuer(token)
        if self.oidc is not None and issuer == self.oidc.issuer:
            return await self._oidc(token)
        if issuer == ISSUER:
            return await self._access_token(token)
        raise TokenInvalidError("unrecognised bearer token")

    async def _api_key(self, token: str) -> Principal:
        prefix = parse_api_key(token)
        if prefix is None:
            raise TokenInvalidError("malformed API key")
        # One joined query per request, no cache: a revoked key stops at the next request.
        async with self.db.read_only() as session:
            found = (
                await session.exec(
                    select(ApiKey, Organisation)
                    .join(Organisation, col(Organisation.id) == col(ApiKey.organisation_id))
                    .where(ApiKey.prefix == prefix)
                )
            ).first()
        if found is None:
            raise TokenInvalidError("unknown or revoked API key")
        key, organisation = found
        if key.revoked_at is not None or not api_key_matches(token, key.key_hash, self.secret_key):
            raise TokenInvalidError("unknown or revoked API key")
        role = Role(key.role)
        return Principal(
            organisation_id=organisation.id,
            organisation_slug=organisation.slug,
            role=role,
            api_key_id=key.id,
            did=self.organisation_did(organisation.slug, role),
            auth_method=AuthMethod.API_KEY,
        )

    async def _access_token(self, token: str) -> Principal:
        claims = self.tokens.decode(token)
        await self.revocations.check(claims)
        if claims.kind is TokenKind.DRIVER:
            return Principal(
                driver_id=claims.subject,
                auth_method=AuthMethod.ACCESS_TOKEN,
                session_id=claims.session_id,
            )
        try:
            role = Role(claims.role or "")
        except ValueError:
            raise TokenInvalidError("role session token names no role") from None
        return Principal(
            did=claims.subject,
            role=role,
            auth_method=AuthMethod.PRESENTATION,
            session_id=claims.session_id,
        )

    async def _oidc(self, token: str) -> Principal:
        assert self.oidc is not None
        identity = await self.oidc.verify(token)
        async with self.db.read_only() as session:
            driver = (
                await session.exec(
                    select(Driver).where(
                        Driver.oidc_issuer == identity.issuer,
                        Driver.oidc_subject == identity.subject,
                    )
                )
            ).first()
        if driver is None:
            driver = await self._provision(identity.issuer, identity.subject)
        if driver.anonymised_at is not None:
            raise TokenRevokedError("this account was erased")
        return Principal(driver_id=driver.id, auth_method=AuthMethod.OIDC)

    async def _provision(self, issuer: str, subject: str) -> Driver:
        """First sight of an OIDC subject: a driver record holding only the link (no email is
        copied: the identity provider keeps the personal data)."""
        try:
            async with self.db.unit_of_work() as session:
                driver = Driver(id=str(uuid.uuid4()), oidc_issuer=issuer, oidc_subject=subject)
                session.add(driver)
            return driver
        except IntegrityError:
            # Another request provisioned the same subject meanwhile.
            async with self.db.read_only() as session:
                return (
                    await session.exec(
                        select(Driver).where(
                            Driver.oidc_issuer == issuer, Driver.oidc_subject == subject
                        )
                    )
                ).one()
