"""Passport credentials: built through the access policy, signed by the responsible
organisation, re-issued when their data changes with the version chain kept.

- `BatteryPassportCredential`: the public attributes (Annex XIII, access group `public`),
  issued by the battery's responsible organisation under its own did:web.
- `BatteryConditionCredential`: the legitimate-interest dynamic data (each value with
  `measuredAt`, `originator`, `method`, `uncertainty`), issued by the platform (PRODUCT 4.1:
  "platform (from collected data)").

A new version revokes the previous one and names it in `relatedResource` (VC 2.0: id plus a
`digestSRI` of the previous signed credential's JCS bytes), so a holder of any version can
walk to the next and prove what it replaced. The version number and the SHA-256 of the
subject (to skip re-issuing unchanged data) are kept in `passport_version`.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.policy import ALL_GROUPS, PUBLIC, Entitlements, visible_attributes
from backend.auth.principal import Principal
from backend.issuance.models import IssuedCredential
from backend.orgs.models import Organisation
from backend.passports.attributes import BY_TERM
from backend.passports.models import Battery, PassportVersion
from backend.passports.service import (
    battery_attributes,
    get_battery,
    get_writable_battery,
    passport_id,
    set_item_attributes,
    update_model_attributes,
    xsd_datetime,
)
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.jcs import canonicalize
from credentials.vocab import BATTERY_CONTEXT_URL

if TYPE_CHECKING:
    from backend.issuance.service import IssuanceService


class PassportCredentialType(StrEnum):
    PASSPORT = "BatteryPassportCredential"
    CONDITION = "BatteryConditionCredential"


@dataclass(frozen=True, slots=True)
class IssuedVersion:
    battery: Battery
    version: PassportVersion
    credential: IssuedCredential
    reissued: bool  # False when the data was unchanged and the current version stands


def subject_digest(subject: dict[str, Any]) -> str:
    return hashlib.sha256(canonicalize(subject).encode("utf-8")).hexdigest()


def digest_sri(document: dict[str, Any]) -> str:
    """`sha384-<base64>` of the JCS bytes of a signed credential (VC 2.0 `digestSRI`)."""
    digest = hashlib.sha384(canonicalize(document).encode("utf-8")).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def _links(battery: Battery) -> dict[str, Any]:
    links: dict[str, Any] = {}
    if battery.model_id is not None:
        links["batteryModel"] = f"urn:uuid:{battery.model_id}"
    if battery.predecessor_id is not None:
        links["predecessorPassport"] = f"urn:uuid:{battery.predecessor_id}"
    return links


async def passport_subject(session: AsyncSession, battery: Battery) -> dict[str, Any]:
    """The public passport data: every attribute the `public` audience may see."""
    attributes = visible_attributes(await battery_attributes(session, battery), PUBLIC)
    return {"id": passport_id(battery), "type": "Battery", **attributes, **_links(battery)}


CONDITION_READERS = Entitlements.legitimate_interest(ALL_GROUPS)


async def condition_subject(session: AsyncSession, battery: Battery) -> dict[str, Any]:
    """The legitimate-interest dynamic data (never authorities-only data)."""
    visible = visible_attributes(await battery_attributes(session, battery), CONDITION_READERS)
    dynamic = {term: value for term, value in visible.items() if BY_TERM[term].is_dynamic}
    return {"id": passport_id(battery), "type": "Battery", **dynamic}


class PassportIssuer:
    """Issues and re-issues a battery's passport credentials through `IssuanceService`."""

    def __init__(
        self, issuance: IssuanceService, *, condition_validity: timedelta = timedelta(days=7)
    ) -> None:
        self.issuance = issuance
        # A condition credential is a snapshot: it expires, a fresh one is issued on demand.
        self.condition_validity = condition_validity

    async def organisation_did(self, session: AsyncSession, organisation_id: int) -> str:
        organisation = await session.get(Organisation, organisation_id)
        assert organisation is not None  # a foreign key
        return self.issuance.platform.organisation_did(organisation.slug)

    async def issue(
        self,
        session: AsyncSession,
        principal: Principal | None,
        battery_id: str,
        credential_type: PassportCredentialType = PassportCredentialType.PASSPORT,
    ) -> IssuedVersion:
        """Issue the credential if its data changed since the current version (or none is
        active); revoke the version it replaces. `principal` None = the platform itself."""
        battery = await get_writable_battery(session, principal, battery_id)
        if credential_type is PassportCredentialType.PASSPORT:
            subject = await passport_subject(session, battery)
            issuer = await self.organisation_did(session, battery.organisation_id)
        else:
            subject = await condition_subject(session, battery)
            issuer = self.issuance.platform.did
        digest = subject_digest(subject)
        latest = await latest_version(session, battery.id, credential_type)
        active = await active_credentials(session, battery.id, credential_type)
        if latest is not None and latest.digest == digest:
            current = next((c for c in active if c.id == latest.issued_credential_id), None)
            if (
                current is not None
                and current.issuer_did == issuer
                and not self._expiring(credential_type, current.document)
            ):
                return IssuedVersion(battery, latest, current, reissued=False)
        unsigned: dict[str, Any] = {
            "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", credential_type.value],
            "issuer": issuer,
            "validFrom": xsd_datetime(datetime.now(UTC)),
            "credentialSubject": subject,
        }
        if credential_type is PassportCredentialType.CONDITION:
            unsigned["validUntil"] = xsd_datetime(datetime.now(UTC) + self.condition_validity)
        if latest is not None:
            previous = await session.get(IssuedCredential, latest.issued_credential_id)
            assert previous is not None
            unsigned["relatedResource"] = [
                {"id": previous.credential_id, "digestSRI": digest_sri(previous.document)}
            ]
        for row in active:
            await self.issuance._revoke_row(
                session,
                row,
                reason=f"superseded by version {(latest.version if latest else 0) + 1}",
                urgent=False,
            )
        row = await self.issuance.issue_credential(session, unsigned, battery_id=battery.id)
        version = PassportVersion(
            battery_id=battery.id,
            credential_type=credential_type.value,
            version=(latest.version if latest else 0) + 1,
            issued_credential_id=row.id,
            credential_id=row.credential_id,
            previous_credential_id=None if latest is None else latest.credential_id,
            digest=digest,
        )
        session.add(version)
        await session.flush()
        return IssuedVersion(battery, version, row, reissued=True)

    def _expiring(self, credential_type: PassportCredentialType, document: dict[str, Any]) -> bool:
        """A condition snapshot past half its validity is re-issued even if unchanged."""
        if credential_type is not PassportCredentialType.CONDITION:
            return False
        valid_until = document.get("validUntil")
        if not isinstance(valid_until, str):
            return True
        expires = datetime.fromisoformat(valid_until.replace("Z", "+00:00"))
        return expires - datetime.now(UTC) < self.condition_validity / 2

    async def sync(self, session: AsyncSession, battery_id: str) -> list[IssuedVersion]:
        """Re-issue every credential type the battery has, where its data changed."""
        battery = await get_battery(session, battery_id)
        return [
            await self.issue(session, None, battery.id, credential_type)
            for credential_type in PassportCredentialType
            if await latest_version(session, battery.id, credential_type) is not None
        ]

    async def sync_model(self, session: AsyncSession, model_id: str) -> list[IssuedVersion]:
        """After a model's attributes changed: re-issue its batteries' passports."""
        battery_ids = list(
            await session.exec(
                select(Battery.id).where(
                    Battery.model_id == model_id, col(Battery.ceased_at).is_(None)
                )
            )
        )
        issued = []
        for battery_id in battery_ids:
            issued += await self.sync(session, battery_id)
        return issued

    async def update_model(
        self,
        session: AsyncSession,
        principal: Principal,
        model_id: str,
        attributes: Mapping[str, Any],
    ) -> list[IssuedVersion]:
        """Change model attributes and re-issue the affected passports, in one unit of work."""
        await update_model_attributes(session, principal, model_id, attributes)
        return await self.sync_model(session, model_id)

    async def update_battery(
        self,
        session: AsyncSession,
        principal: Principal,
        battery_id: str,
        attributes: Mapping[str, Any],
    ) -> list[IssuedVersion]:
        """Change item attributes and re-issue the battery's credentials where they changed."""
        await set_item_attributes(session, principal, battery_id, attributes)
        return await self.sync(session, battery_id)

    async def revoke_all(
        self, session: AsyncSession, battery: Battery, *, reason: str, urgent: bool
    ) -> list[IssuedCredential]:
        """Revoke every active credential about the battery (the passport ceases)."""
        rows = list(
            await session.exec(
                select(IssuedCredential).where(
                    IssuedCredential.battery_id == battery.id,
                    col(IssuedCredential.revoked_at).is_(None),
                    col(IssuedCredential.status_list_id).is_not(None),
                )
            )
        )
        for row in rows:
            await self.issuance._revoke_row(session, row, reason=reason, urgent=urgent)
        return rows


async def latest_version(
    session: AsyncSession, battery_id: str, credential_type: PassportCredentialType
) -> PassportVersion | None:
    return (
        await session.exec(
            select(PassportVersion)
            .where(
                PassportVersion.battery_id == battery_id,
                PassportVersion.credential_type == credential_type.value,
            )
            .order_by(col(PassportVersion.version).desc())
            .limit(1)
        )
    ).first()


async def active_credentials(
    session: AsyncSession, battery_id: str, credential_type: PassportCredentialType
) -> list[IssuedCredential]:
    """Unrevoked credentials of the type (also ones issued before versions were kept)."""
    return list(
        await session.exec(
            select(IssuedCredential).where(
                IssuedCredential.battery_id == battery_id,
                IssuedCredential.type == credential_type.value,
                col(IssuedCredential.revoked_at).is_(None),
                col(IssuedCredential.status_list_id).is_not(None),
            )
        )
    )


async def version_chain(
    session: AsyncSession, battery_id: str, credential_type: PassportCredentialType
) -> list[PassportVersion]:
    """Every version of the battery's credential of this type, oldest first."""
    return list(
        await session.exec(
            select(PassportVersion)
            .where(
                PassportVersion.battery_id == battery_id,
                PassportVersion.credential_type == credential_type.value,
            )
            .order_by(col(PassportVersion.version))
        )
    )
