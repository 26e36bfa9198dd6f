"""Role-credential holders: a presentation answering the server's challenge proves an
accredited inspector or a legitimate-interest organisation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from backend.auth.challenges import ChallengeStore
from backend.auth.errors import (
    ChallengeInvalidError,
    PresentationRejectedError,
    TokenRevokedError,
)
from backend.auth.principal import AuthMethod, PrincipalKind
from backend.auth.role_credentials import ACCREDITATION_TYPE, RoleCredentialAuthenticator
from backend.auth.service import AuthServices
from backend.kit.db import Database
from backend.orgs.roles import Role
from backend.settings import Settings
from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.issuance import issue, sign_presentation
from credentials.keys import KeyPair
from credentials.verifier import Verifier
from credentials.vocab import BATTERY_CONTEXT_URL
from tests.backend.auth.conftest import org_did

DOMAIN = "platform.example"
V2 = "https://www.w3.org/ns/credentials/v2"


class Party:
    def __init__(self) -> None:
        self.key = KeyPair.generate("P-256")
        self.did = did_key_from_public_key(self.key.public)
        self.signer = self.key.with_key_id(did_key_vm_id(self.did))


class Registry:
    """An `IssuerAccreditation`: who is accredited for which type (asked with the holder)."""

    def __init__(self) -> None:
        self.accredited: set[tuple[str, str]] = set()
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def is_accredited(
        self, issuer: str, credential_types: Sequence[str], at: datetime
    ) -> bool | None:
        self.asked.append((issuer, tuple(credential_types)))
        return any((issuer, t) in self.accredited for t in credential_types)


CITY = Party()


def role_credential(holder: str, kind: str, role: str | None, issuer: Party = CITY) -> Any:
    subject: dict[str, Any] = {"id": holder}
    if role is not None:
        subject["role"] = role
    return issue(
        {
            "@context": [V2, BATTERY_CONTEXT_URL],
            "type": ["VerifiableCredential", kind],
            "issuer": issuer.did,
            "validFrom": "2026-01-01T00:00:00Z",
            "validUntil": "2030-01-01T00:00:00Z",
            "credentialSubject": subject,
        },
        issuer.signer,
    )


def present(holder: Party, credentials: list[Any], challenge: str, domain: str = DOMAIN) -> Any:
    return sign_presentation(
        {
            "@context": [V2],
            "type": ["VerifiablePresentation"],
            "holder": holder.did,
            "verifiableCredential": credentials,
        },
        holder.signer,
        challenge=challenge,
        domain=domain,
    )


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def authenticator(
    auth: AuthServices, redis: Redis, registry: Registry
) -> RoleCredentialAuthenticator:
    return RoleCredentialAuthenticator(
        verifier=Verifier(),
        accreditation=registry,
        trusted_issuers={CITY.did},
        challenges=ChallengeStore(redis, ttl_s=60),
        tokens=auth.tokens,
        domain=DOMAIN,
        session_ttl_s=120,
    )


async def test_accredited_inspector_gets_a_role_session(
    authenticator: RoleCredentialAuthenticator, registry: Registry, auth: AuthServices
) -> None:
    inspector = Party()
    registry.accredited.add((inspector.did, ACCREDITATION_TYPE[Role.INSPECTOR]))
    challenge = await authenticator.challenge()
    vp = present(
        inspector,
        [role_credential(inspector.did, "AccreditedInspectorCredential", None)],
        challenge,
    )
    session = await authenticator.authenticate(vp, challenge)
    assert session.principal.role is Role.INSPECTOR
    assert session.principal.did == inspector.did
    principal = await auth.resolver.resolve(session.access_token)
    assert principal.kind is PrincipalKind.ORGANISATION
    assert principal.auth_method is AuthMethod.PRESENTATION
    assert principal.role is Role.INSPECTOR
    # The same challenge is spent: replaying the presentation is refused.
    with pytest.raises(ChallengeInvalidError):
        await authenticator.authenticate(vp, challenge)


async def test_legitimate_interest_recycler(
    authenticator: RoleCredentialAuthenticator, registry: Registry
) -> None:
    recycler = Party()
    registry.accredited.add((recycler.did, ACCREDITATION_TYPE[Role.RECYCLER]))
    challenge = await authenticator.challenge()
    vp = present(
        recycler,
        [role_credential(recycler.did, "LegitimateInterestCredential", "recycler")],
        challenge,
    )
    session = await authenticator.authenticate(vp, challenge)
    assert session.principal.role is Role.RECYCLER


async def _refused(
    authenticator: RoleCredentialAuthenticator, holder: Party, credentials: list[Any], **kw: Any
) -> str:
    challenge = await authenticator.challenge()
    vp = present(holder, credentials, kw.get("answer", challenge), kw.get("domain", DOMAIN))
    with pytest.raises(PresentationRejectedError) as raised:
        await authenticator.authenticate(vp, challenge)
    return raised.value.message


async def test_refusals(authenticator: RoleCredentialAuthenticator, registry: Registry) -> None:
    holder = Party()
    registry.accredited.add((holder.did, ACCREDITATION_TYPE[Role.INSPECTOR]))
    good = role_credential(holder.did, "AccreditedInspectorCredential", None)
    # answered another challenge / another domain
    assert "challenge" in await _refused(authenticator, holder, [good], answer="other")
    assert "domain" in await _refused(authenticator, holder, [good], domain="evil.example")
    # a role credential from an untrusted issuer
    fake_city = Party()
    forged = role_credential(holder.did, "AccreditedInspectorCredential", None, issuer=fake_city)
    assert "trusted root" in await _refused(authenticator, holder, [forged])
    # someone else's role credential
    someone = Party()
    theirs = role_credential(someone.did, "AccreditedInspectorCredential", None)
    assert "holder" in await _refused(authenticator, holder, [theirs])
    # a role the credential type cannot attest
    wrong = role_credential(holder.did, "LegitimateInterestCredential", "authority")
    assert "cannot attest" in await _refused(authenticator, holder, [wrong])
    # valid credential, but the registry no longer accredits the holder
    registry.accredited.clear()
    assert "not accredited" in await _refused(authenticator, holder, [good])
    # a tampered credential fails its signature
    tampered = dict(good)
    tampered["credentialSubject"] = {"id": holder.did, "role": "recycler"}
    assert "does not verify" in await _refused(authenticator, holder, [tampered])


async def test_unknown_challenge_is_refused_before_any_verification(
    authenticator: RoleCredentialAuthenticator,
) -> None:
    with pytest.raises(ChallengeInvalidError):
        await authenticator.authenticate({}, "never-issued")


async def test_settings_name_the_trusted_roots_and_withdrawal_ends_role_sessions(
    auth_settings: Settings, auth_db: Database, redis: Redis, registry: Registry
) -> None:
    settings = auth_settings.model_copy(update={"role_credential_issuers": [CITY.did]})
    services = AuthServices.build(settings, auth_db, redis, org_did)
    authenticator = services.role_authenticator(
        verifier=Verifier(), accreditation=registry, domain=DOMAIN
    )
    recycler = Party()
    registry.accredited.add((recycler.did, ACCREDITATION_TYPE[Role.RECYCLER]))
    challenge = await authenticator.challenge()
    vp = present(
        recycler,
        [role_credential(recycler.did, "LegitimateInterestCredential", "recycler")],
        challenge,
    )
    session = await authenticator.authenticate(vp, challenge)
    assert (await services.resolver.resolve(session.access_token)).role is Role.RECYCLER
    # The city withdraws the accreditation: the platform ends the organisation's sessions.
    await services.revocations.revoke_subject(recycler.did)
    with pytest.raises(TokenRevokedError):
        await services.resolver.resolve(session.access_token)
