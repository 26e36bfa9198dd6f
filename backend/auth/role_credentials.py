"""Role-credential holders: an organisation proves it is an accredited inspector or a
legitimate-interest organisation (repairer, second-life operator, recycler) by presenting the
city's role credential in a presentation that answers the server's challenge.

Checks, all required: the challenge is the server's and unused (spent first, so a failed try
cannot be replayed); the presentation verifies with that challenge and the platform's domain
(holder's `authentication` proof, each credential's signature, validity and status); a role
credential in it is issued by a trusted root (the city) to the holder itself; and the holder is
accredited for that role now, asked through any `IssuerAccreditation` (the chain's registry in
the server). The result is a short-lived role session token.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from backend.auth.challenges import ChallengeStore
from backend.auth.errors import PresentationRejectedError
from backend.auth.principal import AuthMethod, Principal
from backend.auth.tokens import AccessTokens, TokenKind
from backend.orgs.roles import Role
from contracts.issuers import Role as RegistryRole
from credentials import jose
from credentials.errors import CredentialError
from credentials.verifier import CheckStatus, IssuerAccreditation, Verifier

CHALLENGE_PURPOSE: Final = "role-presentation"

# Which roles each role-credential type can attest (`credentialSubject.role` picks one).
ROLE_CREDENTIAL_TYPES: Final[Mapping[str, frozenset[Role]]] = {
    "AccreditedInspectorCredential": frozenset({Role.INSPECTOR}),
    "LegitimateInterestCredential": frozenset(
        {Role.REPAIRER, Role.SECOND_LIFE_OPERATOR, Role.RECYCLER}
    ),
}

# What `IssuerAccreditation.is_accredited(holder, [type], now)` is asked for each role. The
# inspector's is the credential type it issues; the others issue nothing, so they get a
# type name of their own, mapped to their registry role by `REGISTRY_ROLES` below.
ACCREDITATION_TYPE: Final[Mapping[Role, str]] = {
    Role.INSPECTOR: "BatteryInspectionCredential",
    Role.REPAIRER: "LegitimateInterest:repairer",
    Role.SECOND_LIFE_OPERATOR: "LegitimateInterest:second-life-operator",
    Role.RECYCLER: "LegitimateInterest:recycler",
}

REGISTRY_ROLES: Final[Mapping[str, frozenset[RegistryRole]]] = {
    "LegitimateInterest:repairer": frozenset({RegistryRole.REPAIRER}),
    "LegitimateInterest:second-life-operator": frozenset({RegistryRole.SECOND_LIFE_OPERATOR}),
    "LegitimateInterest:recycler": frozenset({RegistryRole.RECYCLER}),
}
"""Merge into `backend.chain.accreditation.RegistryAccreditation(credential_roles=…)` so the
on-chain registry answers for the legitimate-interest roles too."""


@dataclass(frozen=True, slots=True)
class RoleSession:
    access_token: str
    expires_in: int
    principal: Principal


def _types(credential: Mapping[str, Any]) -> list[str]:
    raw = credential.get("type")
    return [str(t) for t in (raw if isinstance(raw, list) else [raw]) if t]


def _issuer(credential: Mapping[str, Any]) -> str | None:
    issuer = credential.get("issuer")
    if isinstance(issuer, Mapping):
        issuer = issuer.get("id")
    return issuer if isinstance(issuer, str) else None


def _embedded_credentials(presentation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = presentation.get("verifiableCredential", [])
    out: list[Mapping[str, Any]] = []
    for item in raw if isinstance(raw, list) else [raw]:
        token = jose.unwrap_enveloped(item)
        if token is not None:
            try:
                out.append(jose.parse_vc_jwt(token).payload)
            except CredentialError:
                continue
        elif isinstance(item, Mapping):
            out.append(item)
    return out


class RoleCredentialAuthenticator:
    def __init__(
        self,
        *,
        verifier: Verifier,
        accreditation: IssuerAccreditation,
        trusted_issuers: Collection[str],
        challenges: ChallengeStore,
        tokens: AccessTokens,
        domain: str,
        session_ttl_s: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.verifier = verifier
        self.accreditation = accreditation
        self.trusted_issuers = frozenset(trusted_issuers)
        self.challenges = challenges
        self.tokens = tokens
        self.domain = domain
        self.session_ttl_s = session_ttl_s
        self.clock = clock

    async def challenge(self) -> str:
        """A fresh single-use challenge for the next presentation."""
        return await self.challenges.issue(CHALLENGE_PURPOSE)

    async def authenticate(self, presentation: Any, challenge: str) -> RoleSession:
        await self.challenges.consume(challenge, CHALLENGE_PURPOSE)
        if not isinstance(presentation, Mapping):
            raise PresentationRejectedError("a presentation is a JSON object")
        result = await self.verifier.verify(
            dict(presentation), challenge=challenge, domain=self.domain
        )
        if not result.verified:
            failed = [
                f"{c.name}: {c.reason}"
                for c in result.checks
                if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)
            ]
            raise PresentationRejectedError(
                "presentation does not verify: " + "; ".join(failed)[:400]
            )
        # The verifier checked the proof came from the holder's key; without a holder there
        # is nobody to bind the role to.
        holder = presentation.get("holder")
        holder_id = holder.get("id") if isinstance(holder, Mapping) else holder
        if not isinstance(holder_id, str) or not holder_id.startswith("did:"):
            raise PresentationRejectedError("the presentation names no holder DID")
        now = self.clock()
        refusals: list[str] = []
        for credential in _embedded_credentials(presentation):
            role = self._claimed_role(credential, holder_id, refusals)
            if role is None:
                continue
            accredited = await self.accreditation.is_accredited(
                holder_id, [ACCREDITATION_TYPE[role]], now
            )
            if accredited is not True:
                refusals.append(
                    f"{holder_id} is not accredited as {role} now"
                    if accredited is False
                    else "the issuer registry cannot tell"
                )
                continue
            return self._session(holder_id, role)
        raise PresentationRejectedError(
            "no acceptable role credential: " + ("; ".join(refusals) or "none presented")
        )

    def _claimed_role(
        self, credential: Mapping[str, Any], holder_id: str, refusals: list[str]
    ) -> Role | None:
        kinds = [t for t in _types(credential) if t in ROLE_CREDENTIAL_TYPES]
        if not kinds:
            return None
        issuer = _issuer(credential)
        if issuer not in self.trusted_issuers:
            refusals.append(f"role credential issuer {issuer} is not a trusted root")
            return None
        subject = credential.get("credentialSubject")
        if not isinstance(subject, Mapping) or subject.get("id") != holder_id:
            refusals.append("the role credential was not issued to the presentation's holder")
            return None
        allowed = ROLE_CREDENTIAL_TYPES[kinds[0]]
        claimed = subject.get("role")
        if claimed is None and len(allowed) == 1:
            return next(iter(allowed))
        try:
            role = Role(str(claimed))
        except ValueError:
            refusals.append(f"unknown role {claimed!r}")
            return None
        if role not in allowed:
            refusals.append(f"{kinds[0]} cannot attest the role {role}")
            return None
        return role

    def _session(self, holder_id: str, role: Role) -> RoleSession:
        session_id = str(uuid.uuid4())
        token, _ = self.tokens.issue(
            TokenKind.ROLE, holder_id, session_id, role=role.value, ttl_s=self.session_ttl_s
        )
        principal = Principal(
            did=holder_id,
            role=role,
            auth_method=AuthMethod.PRESENTATION,
            session_id=session_id,
        )
        return RoleSession(access_token=token, expires_in=self.session_ttl_s, principal=principal)
