"""The auth services of one running server, built from the settings."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from redis.asyncio import Redis

from backend.auth.challenges import ChallengeStore
from backend.auth.drivers import DriverAuth
from backend.auth.oidc import JwksFetcher, OidcVerifier, fetch_jwks_over_http
from backend.auth.passwords import PasswordHashing
from backend.auth.resolve import PrincipalResolver
from backend.auth.revocation import SessionRevocations
from backend.auth.role_credentials import RoleCredentialAuthenticator
from backend.auth.tokens import AccessTokens
from backend.kit.db import Database
from backend.orgs.roles import Role
from backend.settings import Settings
from credentials.verifier import IssuerAccreditation, Verifier


@dataclass
class AuthServices:
    tokens: AccessTokens
    revocations: SessionRevocations
    drivers: DriverAuth
    challenges: ChallengeStore
    resolver: PrincipalResolver
    oidc: OidcVerifier | None = None
    role_session_ttl_s: int = 600
    role_credential_issuers: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        redis: Redis,
        organisation_did: Callable[[str, Role], str],
        *,
        fetch_jwks: JwksFetcher | None = None,
        passwords: PasswordHashing | None = None,
    ) -> AuthServices:
        """`organisation_did(slug, role)` names an API key's organisation by DID (the
        platform's own DID for the `platform` role); `fetch_jwks` (default: over HTTPS) is
        used only when `BPP_OIDC_ISSUER` is set."""
        secret = settings.secret_key.get_secret_value()
        tokens = AccessTokens(secret, ttl_s=settings.access_token_ttl_s)
        # A revocation marker must outlive every token it stops: refresh tokens included.
        revocations = SessionRevocations(
            redis,
            marker_ttl_s=max(
                settings.refresh_token_ttl_s,
                settings.access_token_ttl_s,
                settings.role_session_ttl_s,
            )
            + 60,
        )
        oidc = None
        if settings.oidc_issuer:
            if not settings.oidc_audience:
                raise ValueError("BPP_OIDC_ISSUER needs BPP_OIDC_AUDIENCE")
            oidc = OidcVerifier(
                issuer=settings.oidc_issuer,
                audience=settings.oidc_audience,
                fetch_jwks=fetch_jwks or fetch_jwks_over_http,
                jwks_url=settings.oidc_jwks_url,
                cache_s=settings.oidc_jwks_cache_s,
            )
        return cls(
            tokens=tokens,
            revocations=revocations,
            drivers=DriverAuth(
                secret_key=secret,
                tokens=tokens,
                revocations=revocations,
                passwords=passwords or PasswordHashing(),
                refresh_ttl_s=settings.refresh_token_ttl_s,
            ),
            challenges=ChallengeStore(redis, ttl_s=settings.challenge_ttl_s),
            resolver=PrincipalResolver(
                db=db,
                secret_key=secret,
                tokens=tokens,
                revocations=revocations,
                organisation_did=organisation_did,
                oidc=oidc,
            ),
            oidc=oidc,
            role_session_ttl_s=settings.role_session_ttl_s,
            role_credential_issuers=tuple(settings.role_credential_issuers),
        )

    def role_authenticator(
        self,
        *,
        verifier: Verifier,
        accreditation: IssuerAccreditation,
        domain: str,
        trusted_issuers: Collection[str] | None = None,
    ) -> RoleCredentialAuthenticator:
        """Role-credential sign-in over the platform's verifier and an issuer registry (the
        chain's `RegistryAccreditation`, with `REGISTRY_ROLES` merged into its
        `credential_roles`). Trusted roots default to `BPP_ROLE_CREDENTIAL_ISSUERS`."""
        return RoleCredentialAuthenticator(
            verifier=verifier,
            accreditation=accreditation,
            trusted_issuers=(
                self.role_credential_issuers if trusted_issuers is None else trusted_issuers
            ),
            challenges=self.challenges,
            tokens=self.tokens,
            domain=domain,
            session_ttl_s=self.role_session_ttl_s,
        )
