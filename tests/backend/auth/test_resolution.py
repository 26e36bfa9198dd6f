"""Bearer resolution: API keys (revocation at once), our tokens, OIDC tokens via a locally
generated JWKS."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from jwcrypto import jwk, jwt

from backend.auth.errors import AuthUnavailableError, TokenExpiredError, TokenInvalidError
from backend.auth.oidc import OidcVerifier, fetch_jwks_over_http
from backend.auth.principal import ANONYMOUS, AuthMethod, PrincipalKind
from backend.auth.service import AuthServices
from backend.auth.tokens import TokenKind
from backend.kit.db import Database
from backend.orgs.roles import Role
from backend.orgs.service import create_api_key, get_or_create_organisation, revoke_api_key
from backend.settings import Settings
from tests.backend.auth.conftest import org_did

# Real database and Redis: repeated on PostgreSQL + Redis in CI.
pytestmark = pytest.mark.integration

ISSUER = "https://id.example.org"
AUDIENCE = "bpp-mobile"


async def _key(auth: AuthServices, db: Database, settings: Settings, role: Role) -> tuple[str, str]:
    slug = f"org-{uuid.uuid4().hex[:8]}"
    async with db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, slug)
        row, plaintext = await create_api_key(
            session, organisation, role, settings.secret_key.get_secret_value()
        )
    return row.prefix, plaintext


async def test_api_key_becomes_an_organisation_principal_with_scopes(
    auth: AuthServices, auth_db: Database, auth_settings: Settings
) -> None:
    _, key = await _key(auth, auth_db, auth_settings, Role.RECYCLER)
    principal = await auth.resolver.resolve_header(f"Bearer {key}")
    assert principal.kind is PrincipalKind.ORGANISATION
    assert principal.role is Role.RECYCLER
    assert principal.auth_method is AuthMethod.API_KEY
    assert principal.did == org_did(principal.organisation_slug or "")
    assert principal.scopes is not None
    assert "lifecycle:write" in principal.scopes


async def test_revoked_api_key_stops_at_once(
    auth: AuthServices, auth_db: Database, auth_settings: Settings
) -> None:
    prefix, key = await _key(auth, auth_db, auth_settings, Role.MANUFACTURER)
    assert (await auth.resolver.resolve(key)).is_organisation
    async with auth_db.unit_of_work() as session:
        await revoke_api_key(session, prefix)
    with pytest.raises(TokenInvalidError):
        await auth.resolver.resolve(key)


async def test_malformed_headers_and_keys(auth: AuthServices) -> None:
    assert await auth.resolver.resolve_header(None) is ANONYMOUS
    with pytest.raises(TokenInvalidError):
        await auth.resolver.resolve_header("Basic dXNlcjpwYXNz")
    with pytest.raises(TokenInvalidError):
        await auth.resolver.resolve("bpp_short_key")
    with pytest.raises(TokenInvalidError):
        await auth.resolver.resolve("bpprt_" + "x" * 43)  # a refresh token is no bearer


async def test_role_session_token_resolves_to_the_role(auth: AuthServices) -> None:
    did = "did:web:platform.example:orgs:inspecta"
    token, claims = auth.tokens.issue(TokenKind.ROLE, did, "s-1", role="inspector")
    principal = await auth.resolver.resolve(token)
    assert principal.kind is PrincipalKind.ORGANISATION
    assert principal.role is Role.INSPECTOR
    assert principal.did == did
    assert principal.auth_method is AuthMethod.PRESENTATION
    await auth.revocations.revoke_session(claims.session_id)
    with pytest.raises(Exception, match="signed out"):
        await auth.resolver.resolve(token)


class FakeIdp:
    """A local OpenID provider: an RSA and an EC key, a JWKS endpoint that counts fetches."""

    def __init__(self) -> None:
        self.keys = [
            jwk.JWK.generate(kty="RSA", size=2048, kid="rsa-1"),
            jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-1"),
        ]
        self.fetches = 0
        self.down = False

    async def fetch(self, url: str) -> Mapping[str, Any]:
        assert url == ISSUER + "/.well-known/jwks.json"
        self.fetches += 1
        if self.down:
            raise ConnectionError("idp down")
        return {"keys": [json.loads(k.export_public()) for k in self.keys]}

    def token(self, key_index: int = 0, **overrides: Any) -> str:
        key = self.keys[key_index]
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-42", "iat": now, "exp": now + 300}
        claims.update(overrides)
        alg = "RS256" if key["kty"] == "RSA" else "ES256"
        token = jwt.JWT(header={"alg": alg, "kid": key["kid"]}, claims=claims)
        token.make_signed_token(key)
        return str(token.serialize())


@pytest.fixture(scope="module")
def idp() -> FakeIdp:
    return FakeIdp()


@pytest.fixture
def oidc_auth(auth_settings: Settings, auth_db: Database, redis: Any, idp: FakeIdp) -> AuthServices:
    settings = auth_settings.model_copy(update={"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE})
    return AuthServices.build(settings, auth_db, redis, org_did, fetch_jwks=idp.fetch)


async def test_oidc_token_becomes_a_driver_and_the_same_driver_next_time(
    oidc_auth: AuthServices, idp: FakeIdp
) -> None:
    first = await oidc_auth.resolver.resolve(idp.token(0, sub="alice"))
    again = await oidc_auth.resolver.resolve(idp.token(1, sub="alice"))
    other = await oidc_auth.resolver.resolve(idp.token(0, sub="bob"))
    assert first.kind is PrincipalKind.DRIVER
    assert first.auth_method is AuthMethod.OIDC
    assert first.driver_id == again.driver_id
    assert other.driver_id != first.driver_id
    assert idp.fetches == 1  # cached


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"iss": "https://evil.example"}, TokenInvalidError),
        ({"aud": "someone-else"}, TokenInvalidError),
        ({"exp": int(time.time()) - 3600}, TokenExpiredError),
        ({"nbf": int(time.time()) + 3600}, TokenInvalidError),
        ({"sub": ""}, TokenInvalidError),
    ],
)
async def test_oidc_claims_are_checked(
    oidc_auth: AuthServices, idp: FakeIdp, overrides: dict[str, Any], error: type[Exception]
) -> None:
    token = idp.token(0, **overrides)
    if overrides.get("iss") == "https://evil.example":
        # Not our issuer: it is not routed to the OIDC verifier at all.
        assert oidc_auth.oidc is not None
        with pytest.raises(error):
            await oidc_auth.oidc.verify(token)
        with pytest.raises(TokenInvalidError):
            await oidc_auth.resolver.resolve(token)
        return
    with pytest.raises(error):
        await oidc_auth.resolver.resolve(token)


async def test_oidc_refuses_unknown_keys_and_symmetric_tricks(
    oidc_auth: AuthServices, idp: FakeIdp
) -> None:
    stranger = jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-1")  # same kid, other key
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 60}
    forged = jwt.JWT(header={"alg": "ES256", "kid": "ec-1"}, claims=claims)
    forged.make_signed_token(stranger)
    with pytest.raises(TokenInvalidError):
        await oidc_auth.resolver.resolve(forged.serialize())
    # HS256 "signed" with the public RSA key as the secret (alg confusion).
    public = json.loads(idp.keys[0].export_public())
    secret = jwk.JWK(kty="oct", k=public["n"])
    confused = jwt.JWT(header={"alg": "HS256", "kid": "rsa-1"}, claims=claims)
    confused.make_signed_token(secret)
    with pytest.raises(TokenInvalidError):
        await oidc_auth.resolver.resolve(confused.serialize())


async def test_jwks_rotation_refetches_once_and_an_unreachable_idp_fails_closed(
    auth_settings: Settings, auth_db: Database, redis: Any
) -> None:
    idp = FakeIdp()
    clock = [1000.0]
    verifier = OidcVerifier(
        issuer=ISSUER, audience=AUDIENCE, fetch_jwks=idp.fetch, clock=lambda: clock[0]
    )
    now = int(time.time())
    await verifier.verify(idp.token(0, iat=now, exp=now + 10**6))
    idp.keys.append(jwk.JWK.generate(kty="EC", crv="P-256", kid="ec-2"))
    clock[0] += 60  # past the refetch guard, within the cache lifetime
    identity = await verifier.verify(idp.token(2, exp=now + 10**6))
    assert identity.subject == "user-42"
    assert idp.fetches == 2
    cold = OidcVerifier(issuer=ISSUER, audience=AUDIENCE, fetch_jwks=idp.fetch)
    idp.down = True
    with pytest.raises(AuthUnavailableError):
        await cold.verify(idp.token(0))


@pytest.mark.parametrize(
    "url", ["http://id.example.org/jwks", "http://localhost.evil.example/jwks", "ftp://x/jwks"]
)
async def test_default_jwks_fetcher_refuses_plain_http_before_any_request(url: str) -> None:
    with pytest.raises(AuthUnavailableError):
        await fetch_jwks_over_http(url)


def test_oidc_issuer_without_audience_is_a_configuration_error(
    auth_settings: Settings, auth_db: Database, redis: Any
) -> None:
    settings = auth_settings.model_copy(update={"oidc_issuer": ISSUER})
    with pytest.raises(ValueError, match="AUDIENCE"):
        AuthServices.build(settings, auth_db, redis, org_did)
