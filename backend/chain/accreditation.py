"""`credentials.verifier.IssuerAccreditation` on the `IssuerRegistry` mirror.

An issuer is accredited for a credential when one of the roles that may issue its type has a
window covering the time asked about, for the issuer's DID subject (`keccak256(did)`) or, when
the issuer has a chain account, for its address subject. Reads come from the Redis mirror;
an unreachable chain with a stale mirror answers None (the check is `unknown`), never a crash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

import structlog

from backend.chain.errors import ChainError
from backend.chain.mirror import ChainMirror
from contracts import ContractError
from contracts.issuers import Role, subject_for_address, subject_for_did
from credentials.snapshot import AccreditationRecord
from credentials.vocab import VCT_BASE

log = structlog.get_logger("bpp.chain.accreditation")

# Which organisation roles may issue which credential type (PRODUCT.md §4.1). Role
# credentials are issued by the city itself, whose key is the registry root, not a subject.
CREDENTIAL_ROLES: Final[Mapping[str, frozenset[Role]]] = {
    "BatteryPassportCredential": frozenset({Role.PLATFORM, Role.ISSUER, Role.MANUFACTURER}),
    "BatteryConditionCredential": frozenset({Role.PLATFORM}),
    "BatteryInspectionCredential": frozenset({Role.INSPECTOR}),
    "ChargingSafetyCredential": frozenset({Role.PLATFORM, Role.CHARGE_POINT_OPERATOR}),
    "BitstringStatusListCredential": frozenset(Role),
}


class RegistryAccreditation:
    """Answers `is_accredited(issuer, types, at)` from the mirrored issuer registry."""

    def __init__(
        self,
        mirror: ChainMirror,
        address_of: Callable[[str], Awaitable[str | None]] | None = None,
        credential_roles: Mapping[str, frozenset[Role]] = CREDENTIAL_ROLES,
    ) -> None:
        self.mirror = mirror
        self.address_of = address_of
        self.credential_roles = credential_roles

    def roles_for(self, credential_types: Sequence[str]) -> frozenset[Role]:
        roles: set[Role] = set()
        for kind in credential_types:
            # an SD-JWT VC names its type by `vct` (VCT_BASE + the credential type)
            roles |= self.credential_roles.get(kind.removeprefix(VCT_BASE), frozenset())
        return frozenset(roles)

    async def is_accredited(
        self, issuer: str, credential_types: Sequence[str], at: datetime
    ) -> bool | None:
        """True / False, or None when the types name no known role or the chain is out of
        reach."""
        roles = self.roles_for(credential_types)
        if not roles:
            return None
        try:
            subjects = [subject_for_did(issuer)] if issuer.startswith("did:") else []
            address = await self.address_of(issuer) if self.address_of else None
            if address is None and issuer.startswith("0x"):
                address = issuer
            if address is not None:
                subjects.append(subject_for_address(address))
        except ContractError:
            return None
        if not subjects:
            return None
        timestamp = int(at.timestamp())
        try:
            for subject in subjects:
                for role in sorted(roles, key=lambda r: r.number):
                    windows = await self.mirror.windows(subject, role.number)
                    if any(window.covers(timestamp) for window in windows):
                        return True
        except ChainError as exc:
            log.warning("issuer registry unreachable", error=exc.message)
            return None
        return False


def _timestamp(seconds: int) -> str | None:
    if seconds >= 2**63:  # an open-ended window
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def accreditation_records(
    accreditation: RegistryAccreditation, issuers: Sequence[str]
) -> list[AccreditationRecord]:
    """The registry's windows for `issuers`, as offline snapshot records (`issuers.json`).

    Each window of each role becomes one record naming the credential types that role may
    issue, so an offline verifier answers `issuer_accredited` the way the online one does.
    """
    records: list[AccreditationRecord] = []
    for issuer in issuers:
        subjects = [subject_for_did(issuer)]
        address = await accreditation.address_of(issuer) if accreditation.address_of else None
        if address is not None:
            subjects.append(subject_for_address(address))
        for role in Role:
            types = tuple(
                sorted(
                    kind for kind, roles in accreditation.credential_roles.items() if role in roles
                )
            )
            if not types:
                continue
            for subject in subjects:
                windows = await accreditation.mirror.windows(subject, role.number)
                records.extend(
                    AccreditationRecord(
                        issuer=issuer,
                        credential_types=types,
                        valid_from=_timestamp(window.valid_from),
                        valid_until=_timestamp(window.valid_until),
                    )
                    for window in windows
                )
    return records
