"""Issuing, revoking and verifying credentials, and serving status lists.

The platform's organisations sign with their own keys from the key store (for the first slice
the platform itself issues passports); every JSON-LD credential gets a
`BitstringStatusListEntry` on its issuer's revocation list, and status changes travel to the
on-chain registry through the transaction outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.issuance import statuslists
from backend.issuance.models import IssuedCredential, StatusList
from backend.issuance.verification import PlatformVerifier
from backend.kit.errors import DomainError, ErrorCode, ForbiddenError, NotFoundError
from backend.orgs.roles import BATTERY_WRITERS, CREDENTIAL_ISSUERS, Role
from backend.passports.models import Battery
from backend.passports.service import get_battery
from contracts.status import pack_values
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.dataintegrity import Cryptosuite, ProofOptions, add_proof
from credentials.statuslist import (
    Bitstring,
    StatusListCredentialBuilder,
    StatusPurpose,
    make_status_entry,
)
from credentials.vocab import BATTERY_CONTEXT_URL

if TYPE_CHECKING:
    from backend.chain.client import ChainClient
    from backend.chain.outbox import OutboxWriter
    from backend.kit.db import Database
    from backend.platform import PlatformIdentity
    from backend.settings import Settings

log = structlog.get_logger("bpp.issuance")

PASSPORT_TYPE = "BatteryPassportCredential"


class AlreadyRevokedError(DomainError):
    code = ErrorCode.ALREADY_REVOKED
    status_code = 409


def xsd_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ServedStatusList:
    credential: dict[str, Any]
    etag: str


class IssuanceService:
    def __init__(
        self,
        *,
        db: Database,
        platform: PlatformIdentity,
        chain: ChainClient,
        outbox: OutboxWriter,
        settings: Settings,
    ) -> None:
        self.db = db
        self.platform = platform
        self.chain = chain
        self.outbox = outbox
        self.settings = settings
        self.verifier = PlatformVerifier(
            platform=platform, db=db, serve_status_list=self.status_list_credential
        )
        self._served: dict[str, tuple[int, ServedStatusList]] = {}
        self._publish_now = asyncio.Event()
        # One publisher at a time in this process; across processes the list row lock
        # (SELECT … FOR UPDATE) serialises them.
        self._publishing = asyncio.Lock()

    async def bootstrap(self) -> None:
        """Make sure the platform has its signing key (and thereby its DID document)."""
        self.platform.ensure_key(self.platform.did)

    @property
    def issuer_address(self) -> str:
        return str(self.chain.relayer.address)

    # -- issuing -----------------------------------------------------------------------------

    async def issue_passport(
        self, session: AsyncSession, principal: Principal, battery_id: str
    ) -> tuple[Battery, IssuedCredential]:
        principal.require_role(BATTERY_WRITERS)
        battery = await get_battery(session, battery_id)
        if (
            principal.role is not Role.PLATFORM
            and battery.organisation_id != principal.organisation_id
        ):
            raise ForbiddenError("only the battery's own organisation may issue its passport")
        previous = await current_passport_credential(session, battery.id)
        if previous is not None:
            await self._revoke_row(
                session, previous, reason="superseded by a new passport version", urgent=False
            )
        subject = passport_subject(battery)
        row = await self._issue(
            session, credential_type=PASSPORT_TYPE, subject=subject, battery_id=battery.id
        )
        return battery, row

    async def _issue(
        self,
        session: AsyncSession,
        *,
        credential_type: str,
        subject: dict[str, Any],
        battery_id: str | None,
    ) -> IssuedCredential:
        issuer = self.platform.did
        status_list, index = await statuslists.allocate_index(
            session,
            issuer_did=issuer,
            issuer_address=self.issuer_address,
            purpose=StatusPurpose.REVOCATION.value,
            size=self.settings.status_list_size,
        )
        credential_id = f"urn:uuid:{uuid.uuid4()}"
        unsigned = {
            "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
            "id": credential_id,
            "type": ["VerifiableCredential", credential_type],
            "issuer": issuer,
            "validFrom": xsd_now(),
            "credentialSubject": subject,
            "credentialStatus": make_status_entry(
                self.status_list_url(status_list.id), index, StatusPurpose.REVOCATION
            ),
        }
        signed = self.sign(unsigned, issuer)
        row = IssuedCredential(
            id=credential_id,
            type=credential_type,
            battery_id=battery_id,
            issuer_did=issuer,
            document=signed,
            status_list_id=status_list.id,
            status_index=index,
        )
        session.add(row)
        await session.flush()
        return row

    def sign(
        self,
        unsigned: dict[str, Any],
        issuer: str,
        cryptosuite: Cryptosuite = Cryptosuite.ECDSA_RDFC_2019,
    ) -> dict[str, Any]:
        signer = self.platform.ensure_key(issuer)
        return add_proof(
            unsigned,
            signer,
            ProofOptions(
                cryptosuite=cryptosuite, verification_method=signer.key_id, created=xsd_now()
            ),
        )

    def status_list_url(self, list_id: str) -> str:
        return f"{self.platform.base_url}/status/{list_id}"

    # -- revoking ----------------------------------------------------------------------------

    async def revoke(
        self,
        session: AsyncSession,
        principal: Principal,
        credential_id: str,
        *,
        reason: str | None,
        urgent: bool,
    ) -> IssuedCredential:
        principal.require_role(CREDENTIAL_ISSUERS)
        row = await find_credential(session, credential_id)
        if row is None:
            raise NotFoundError(f"no credential {credential_id!r}", field="credentialId")
        if principal.role is not Role.PLATFORM:
            battery = await session.get(Battery, row.battery_id) if row.battery_id else None
            if battery is None or battery.organisation_id != principal.organisation_id:
                raise ForbiddenError("only the issuing organisation may revoke this credential")
        return await self._revoke_row(session, row, reason=reason, urgent=urgent)

    async def _revoke_row(
        self, session: AsyncSession, row: IssuedCredential, *, reason: str | None, urgent: bool
    ) -> IssuedCredential:
        if row.revoked_at is not None:
            raise AlreadyRevokedError(
                f"credential {row.id} is already revoked", field="credentialId"
            )
        if reason is not None and len(reason) > 500:
            raise DomainError("a revocation reason is at most 500 characters", field="reason")
        assert row.status_list_id is not None
        assert row.status_index is not None
        await statuslists.set_status(
            session, row.status_list_id, row.status_index, 1, urgent=urgent
        )
        row.revoked_at = datetime.now(UTC)
        row.revocation_reason = reason
        session.add(row)
        return row

    def status_changed(self, *, urgent: bool) -> None:
        """A committed status change: publish now if urgent, else with the next batch."""
        if urgent:
            self._publish_now.set()

    async def publish_status_changes(self) -> list[statuslists.PublishedVersion]:
        async with self._publishing, self.db.unit_of_work() as session:
            published = await statuslists.publish_pending(session, self.issuer_address)
        if published:
            self.outbox.wake()
            log.info(
                "status lists published",
                versions=[(p.list_id, p.version, p.changes) for p in published],
            )
        return published

    async def publish_status_forever(self) -> None:
        interval = self.settings.status_publish_interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._publish_now.wait(), timeout=interval)
            self._publish_now.clear()
            try:
                await self.publish_status_changes()
            except Exception:
                log.exception("status publish failed; retrying")

    # -- serving -----------------------------------------------------------------------------

    async def status_list_credential(self, list_id: str) -> ServedStatusList:
        """The signed status list credential, re-signed only when the list changed."""
        try:
            uuid.UUID(list_id)
        except ValueError:
            raise NotFoundError(f"no status list {list_id!r}") from None
        async with self.db.read_only() as session:
            row = await session.get(StatusList, list_id)
            if row is None:
                raise NotFoundError(f"no status list {list_id!r}")
        cached = self._served.get(list_id)
        if cached is not None and cached[0] == row.revision:
            return cached[1]
        bitstring = Bitstring.from_bytes(
            pack_values(row.bits, statuslists.shape_of(row)), row.status_size
        )
        unsigned = StatusListCredentialBuilder(
            url=self.status_list_url(list_id),
            issuer=row.issuer_did,
            purpose=row.purpose,
            bitstring=bitstring,
            valid_from=xsd_now(),
        ).build()
        signed = self.sign(unsigned, row.issuer_did)
        etag = hashlib.sha256(f"{list_id}:{row.revision}".encode()).hexdigest()[:32]
        served = ServedStatusList(credential=signed, etag=etag)
        self._served[list_id] = (row.revision, served)
        return served

    # -- verifying ---------------------------------------------------------------------------

    async def verify(self, credential: dict[str, Any]) -> dict[str, Any]:
        return await self.verifier.verify_credential(credential)


def passport_subject(battery: Battery) -> dict[str, Any]:
    """Public passport data of a battery (Annex XIII, access group `public`)."""
    passport_id = f"urn:uuid:{battery.id}"
    return {
        "id": passport_id,
        "type": "Battery",
        "batteryPassportIdentifier": passport_id,
        "name": battery.model,
        "batteryIdentifier": battery.identifier,
        "manufacturerInformation": battery.manufacturer,
        "batteryChemistry": battery.chemistry,
        "ratedCapacity": {"value": battery.rated_capacity_ah, "unit": "Ah"},
        "nominalVoltage": {"value": battery.nominal_voltage_v, "unit": "V"},
    }


async def find_credential(session: AsyncSession, credential_id: str) -> IssuedCredential | None:
    return await session.get(IssuedCredential, credential_id)


async def current_passport_credential(
    session: AsyncSession, battery_id: str
) -> IssuedCredential | None:
    return (
        await session.exec(
            select(IssuedCredential)
            .where(
                IssuedCredential.battery_id == battery_id,
                IssuedCredential.type == PASSPORT_TYPE,
                col(IssuedCredential.revoked_at).is_(None),
            )
            .order_by(col(IssuedCredential.issued_at).desc())
            .limit(1)
        )
    ).first()
