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
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.access.policy import PUBLIC, visible_attributes
from backend.auth.principal import Principal
from backend.issuance import statuslists
from backend.issuance.models import IssuedCredential, StatusList
from backend.issuance.verification import PlatformVerifier
from backend.kit.errors import DomainError, ErrorCode, ForbiddenError, NotFoundError
from backend.kit.models import as_utc
from backend.orgs.roles import BATTERY_WRITERS, CREDENTIAL_ISSUERS, Role
from backend.passports.models import Battery
from backend.passports.service import get_battery
from contracts.status import pack_values
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.dataintegrity import Cryptosuite
from credentials.did import did_web_to_url
from credentials.issuance import issue
from credentials.jose import ENVELOPED_SD_JWT_PREFIX, envelope, issue_vc_jwt
from credentials.keys import KeyAlgorithm, PublicKey
from credentials.model import parse_datetime_stamp, validate_credential
from credentials.sdjwt import issue_sd_jwt_vc
from credentials.statuslist import (
    Bitstring,
    StatusListCredentialBuilder,
    StatusPurpose,
    make_status_entry,
)
from credentials.tokenstatus import TokenStatusList, issue_status_list_token, status_reference
from credentials.verifier import ChainConsistency, IssuerAccreditation
from credentials.vocab import BATTERY_CONTEXT_URL, vct_for

if TYPE_CHECKING:
    from backend.chain.outbox import OutboxWriter
    from backend.kit.db import Database
    from backend.platform import PlatformIdentity
    from backend.settings import Settings

log = structlog.get_logger("bpp.issuance")

PASSPORT_TYPE = "BatteryPassportCredential"
# How long a verifier may cache a served status list token (its `ttl` claim), the same as
# the HTTP max-age of both status list forms.
STATUS_TOKEN_TTL_S = 30


class CredentialFormat(StrEnum):
    """How `issue_credential` secures a credential (VC-API `options.format`)."""

    DATA_INTEGRITY = "data-integrity"
    VC_JWT = "vc+jwt"
    SD_JWT = "dc+sd-jwt"


def parse_format(value: object) -> CredentialFormat:
    """A known format or a `DomainError` naming the field."""
    try:
        return CredentialFormat(str(value))
    except ValueError:
        known = ", ".join(f.value for f in CredentialFormat)
        raise DomainError(f"options.format must be one of {known}", field="format") from None


class ChainIssuers(Protocol):
    """The chain service's issuer accounts (`backend.chain.issuers.IssuerAccounts`)."""

    async def issuer_address(self, did: str, session: AsyncSession | None = None) -> str: ...


class AlreadyRevokedError(DomainError):
    code = ErrorCode.ALREADY_REVOKED
    status_code = 409


def xsd_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ServedStatusList:
    credential: dict[str, Any]
    etag: str


@dataclass(frozen=True, slots=True)
class ServedStatusToken:
    """A list as an IETF Token Status List (`statuslist+jwt`)."""

    token: str
    etag: str


class IssuanceService:
    def __init__(
        self,
        *,
        db: Database,
        platform: PlatformIdentity,
        relayer_address: str,
        outbox: OutboxWriter | None,
        settings: Settings,
        chain_issuers: ChainIssuers | None = None,
        accreditation: IssuerAccreditation | None = None,
        chain_check: ChainConsistency | None = None,
    ) -> None:
        self.db = db
        self.platform = platform
        self.relayer_address = relayer_address
        self.chain_issuers = chain_issuers
        self.outbox = outbox
        self.settings = settings
        self.verifier = PlatformVerifier(
            platform=platform,
            db=db,
            serve_status_list=self.status_list_credential,
            serve_status_token=self.status_list_token,
            accreditation=accreditation,
            chain_check=chain_check,
        )
        self._served: dict[str, tuple[int, ServedStatusList]] = {}
        self._served_tokens: dict[str, tuple[int, ServedStatusToken]] = {}
        self._publish_now = asyncio.Event()
        # One publisher at a time in this process; across processes the list row lock
        # (SELECT … FOR UPDATE) serialises them.
        self._publishing = asyncio.Lock()

    async def bootstrap(self) -> None:
        """Make sure the platform has its signing key (and thereby its DID document)."""
        self.platform.ensure_key(self.platform.did)

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
        unsigned = {
            "@context": [CREDENTIALS_V2_URL, BATTERY_CONTEXT_URL],
            "id": f"urn:uuid:{uuid.uuid4()}",
            "type": ["VerifiableCredential", credential_type],
            "issuer": self.platform.did,
            "validFrom": xsd_now(),
            "credentialSubject": subject,
        }
        return await self.issue_credential(session, unsigned, battery_id=battery_id)

    async def issue_credential(
        self,
        session: AsyncSession,
        credential: dict[str, Any],
        *,
        cryptosuite: Cryptosuite = Cryptosuite.ECDSA_RDFC_2019,
        battery_id: str | None = None,
        credential_format: CredentialFormat = CredentialFormat.DATA_INTEGRITY,
        holder_jwk: dict[str, Any] | None = None,
    ) -> IssuedCredential:
        """Sign a credential as its issuer (a DID the platform hosts) and record it.

        Without a `credentialStatus` it gets a revocation entry on its issuer's own list;
        status entries the caller put in are carried as given. The data model is validated
        before anything is allocated, so a refused credential writes nothing.

        `vc+jwt` and `dc+sd-jwt` are stored (and returned) as an
        `EnvelopedVerifiableCredential`. A `dc+sd-jwt` carries the subject's claims (every
        one selectively disclosable), `cnf.jwk` = `holder_jwk`, and a Token Status List
        reference to the same revocation list (served as `statuslist+jwt`), so its revocation
        is published on chain like every other; caller status entries cannot be carried.
        """
        issuer = issuer_id_of(credential)
        validate_credential(credential)
        sd_jwt = credential_format is CredentialFormat.SD_JWT
        if sd_jwt and "credentialStatus" in credential:
            raise DomainError(
                "a dc+sd-jwt credential gets the platform's Token Status List entry; "
                "leave credentialStatus out",
                field="credentialStatus",
            )
        if holder_jwk is not None and not sd_jwt:
            raise DomainError(
                "a holder key (holderJwk) binds dc+sd-jwt credentials only", field="holderJwk"
            )
        if holder_jwk is not None:
            holder_jwk = public_holder_jwk(holder_jwk)
        sd_claims = sd_jwt_claims(credential) if sd_jwt else None
        unsigned = dict(credential)
        # Every credential the platform signs has an id, so it can be found and revoked.
        unsigned.setdefault("id", f"urn:uuid:{uuid.uuid4()}")
        status_list_id: str | None = None
        status_index: int | None = None
        if "credentialStatus" not in unsigned:
            status_list, status_index = await statuslists.allocate_index(
                session,
                issuer_did=issuer,
                chain_issuer=lambda session: self.chain_issuer_address(session, issuer),
                sender=self.relayer_address,
                purpose=StatusPurpose.REVOCATION.value,
                size=self.settings.status_list_size,
            )
            status_list_id = status_list.id
            if not sd_jwt:
                unsigned["credentialStatus"] = make_status_entry(
                    self.status_list_url(status_list.id), status_index, StatusPurpose.REVOCATION
                )
        if sd_claims is not None:
            assert status_list_id is not None
            assert status_index is not None
            signed = self.sign_sd_jwt(
                unsigned,
                sd_claims,
                issuer,
                status=status_reference(self.status_token_url(status_list_id), status_index),
                holder_jwk=holder_jwk,
            )
        elif credential_format is CredentialFormat.VC_JWT:
            signed = envelope(
                issue_vc_jwt(unsigned, self.platform.ensure_key(issuer, KeyAlgorithm.P256))
            )
        else:
            signed = self.sign(unsigned, issuer, cryptosuite)
        types = unsigned.get("type")
        type_list = types if isinstance(types, list) else [types]
        row = IssuedCredential(
            id=str(uuid.uuid4()),
            credential_id=str(unsigned["id"]),
            type=str(next((t for t in type_list if t != "VerifiableCredential"), type_list[0]))[
                :80
            ],
            battery_id=battery_id,
            issuer_did=issuer,
            document=signed,
            status_list_id=status_list_id,
            status_index=status_index,
        )
        session.add(row)
        await session.flush()
        return row

    async def chain_issuer_address(self, session: AsyncSession, did: str) -> str:
        """The chain account `did`'s status lists are registered under.

        Each issuer its own account, with the relayer as its delegate, when the chain service
        is at hand; admin commands without a chain connection register under the relayer.
        """
        if self.chain_issuers is None:
            return self.relayer_address
        return await self.chain_issuers.issuer_address(did, session)

    def sign(
        self,
        unsigned: dict[str, Any],
        issuer: str,
        cryptosuite: Cryptosuite = Cryptosuite.ECDSA_RDFC_2019,
    ) -> dict[str, Any]:
        algorithm = (
            KeyAlgorithm.ED25519 if cryptosuite.value.startswith("eddsa") else KeyAlgorithm.P256
        )
        signer = self.platform.ensure_key(issuer, algorithm)
        return issue(unsigned, signer, cryptosuite=cryptosuite, created=xsd_now())

    def sign_sd_jwt(
        self,
        unsigned: dict[str, Any],
        claims: dict[str, Any],
        issuer: str,
        *,
        status: dict[str, Any],
        holder_jwk: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """The SD-JWT VC of `unsigned`, enveloped: `jti` = its id, `nbf` / `exp` from
        `validFrom` / `validUntil`, `vct` from its type."""
        signer = self.platform.ensure_key(issuer, KeyAlgorithm.P256)
        token = issue_sd_jwt_vc(
            claims,
            signer,
            vct=vct_of(unsigned),
            issuer=issuer,
            holder_jwk=holder_jwk,
            status=status,
            jti=str(unsigned["id"]),
            nbf=_epoch(unsigned.get("validFrom"), "validFrom"),
            exp=_epoch(unsigned.get("validUntil"), "validUntil"),
        )
        return envelope(token, ENVELOPED_SD_JWT_PREFIX)

    def status_list_url(self, list_id: str) -> str:
        return f"{self.platform.base_url}/status/{list_id}"

    def status_token_url(self, list_id: str) -> str:
        """Where the list is served as a `statuslist+jwt` (the SD-JWT `status_list.uri`)."""
        return f"{self.platform.base_url}/status/{list_id}/token"

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
        if not await self._may_revoke(session, principal, row):
            raise ForbiddenError("only the issuing organisation may revoke this credential")
        return await self._revoke_row(session, row, reason=reason, urgent=urgent)

    async def _may_revoke(
        self, session: AsyncSession, principal: Principal, row: IssuedCredential
    ) -> bool:
        if principal.role is Role.PLATFORM:
            return True
        assert principal.organisation_slug is not None
        if row.issuer_did == self.platform.organisation_did(principal.organisation_slug):
            return True
        battery = await session.get(Battery, row.battery_id) if row.battery_id else None
        return battery is not None and battery.organisation_id == principal.organisation_id

    async def _revoke_row(
        self, session: AsyncSession, row: IssuedCredential, *, reason: str | None, urgent: bool
    ) -> IssuedCredential:
        if row.revoked_at is not None:
            raise AlreadyRevokedError(
                f"credential {row.credential_id} is already revoked", field="credentialId"
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
            published = await statuslists.publish_pending(session, self.relayer_address)
        if published and self.outbox is not None:
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
        row = await self._status_row(list_id)
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
            # Not the signing time: a verifier that read its clock just before fetching the
            # list would see a list "not yet valid". The list is valid since it was created.
            valid_from=as_utc(row.created_at)
            .replace(microsecond=0)
            .isoformat()
            .replace("+00:00", "Z"),
        ).build()
        # The version these values are on chain (or will be, once the pending publish lands):
        # what a verifier's chain_consistency check compares with the registry.
        unsigned["@context"] = [*unsigned["@context"], BATTERY_CONTEXT_URL]
        unsigned["credentialSubject"]["statusListVersion"] = row.served_version
        signed = self.sign(unsigned, row.issuer_did)
        etag = hashlib.sha256(f"{list_id}:{row.revision}".encode()).hexdigest()[:32]
        served = ServedStatusList(credential=signed, etag=etag)
        self._served[list_id] = (row.revision, served)
        return served

    async def status_list_token(self, list_id: str) -> ServedStatusToken:
        """The same list as a signed IETF Token Status List, re-signed only when it changed.

        Entries are one bit (0 valid, 1 invalid = revoked), least significant bit first; the
        values are the ones the Bitstring form and the chain's digest cover.
        """
        row = await self._status_row(list_id)
        cached = self._served_tokens.get(list_id)
        if cached is not None and cached[0] == row.revision:
            return cached[1]
        token_list = token_status_list(row.bits)
        token = issue_status_list_token(
            token_list,
            self.platform.ensure_key(row.issuer_did, KeyAlgorithm.P256),
            uri=self.status_token_url(list_id),
            ttl=STATUS_TOKEN_TTL_S,
        )
        etag = hashlib.sha256(f"{list_id}:{row.revision}:token".encode()).hexdigest()[:32]
        served = ServedStatusToken(token=token, etag=etag)
        self._served_tokens[list_id] = (row.revision, served)
        return served

    async def _status_row(self, list_id: str) -> StatusList:
        try:
            uuid.UUID(list_id)
        except ValueError:
            raise NotFoundError(f"no status list {list_id!r}") from None
        async with self.db.read_only() as session:
            row = await session.get(StatusList, list_id)
        if row is None:
            raise NotFoundError(f"no status list {list_id!r}")
        return row

    def hosted_dids(self) -> list[str]:
        """The DIDs the platform hosts (those with keys in its key store)."""
        controllers = {record.controller for record in self.platform.keystore.list()}
        return sorted(did for did in controllers if did.startswith("did:web:"))

    async def snapshot_urls(self) -> list[str]:
        """Everything a verifier needs offline: hosted DID documents and status lists."""
        urls = [did_web_to_url(did) for did in self.hosted_dids()]
        async with self.db.read_only() as session:
            list_ids = await session.exec(select(StatusList.id).order_by(col(StatusList.id)))
            urls += [self.status_list_url(list_id) for list_id in list_ids]
        return urls

    # -- verifying ---------------------------------------------------------------------------

    async def verify(self, credential: dict[str, Any]) -> dict[str, Any]:
        return await self.verifier.verify_credential(credential)


def issuer_id_of(credential: dict[str, Any]) -> str:
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str):
        raise DomainError("the credential has no issuer", field="issuer")
    return issuer_id


def public_holder_jwk(jwk: Any) -> dict[str, Any]:
    """A holder key for `cnf.jwk`: a public JWK of a supported curve, or a `DomainError`."""
    if not isinstance(jwk, dict) or "d" in jwk:
        raise DomainError(
            "the holder key (holderJwk) must be a public JWK object", field="holderJwk"
        )
    try:
        PublicKey.from_jwk(jwk)
    except Exception:
        raise DomainError(
            "the holder key (holderJwk) is not a usable public key", field="holderJwk"
        ) from None
    return {str(k): v for k, v in jwk.items()}


def sd_jwt_claims(credential: dict[str, Any]) -> dict[str, Any]:
    """The SD-JWT VC claims of a VC-API credential: its one subject's properties, with the
    subject's `id` as `sub` (claims keep the JSON-LD property names, see `vct_for`)."""
    subject = credential.get("credentialSubject")
    if not isinstance(subject, dict):
        raise DomainError(
            "a dc+sd-jwt credential has exactly one credentialSubject object",
            field="credentialSubject",
        )
    claims = {name: value for name, value in subject.items() if name != "id"}
    reserved = sorted(set(claims) & {"iss", "vct", "cnf", "status", "iat", "nbf", "exp", "jti"})
    if reserved:
        raise DomainError(
            f"subject properties {reserved} clash with SD-JWT VC claims", field="credentialSubject"
        )
    if isinstance(subject.get("id"), str):
        claims["sub"] = subject["id"]
    return claims


def vct_of(credential: dict[str, Any]) -> str:
    """`vct` of the credential's one platform type (a `DomainError` for anything else)."""
    types = credential.get("type")
    named = [
        t for t in (types if isinstance(types, list) else [types]) if t != "VerifiableCredential"
    ]
    if len(named) != 1 or not isinstance(named[0], str):
        raise DomainError("a dc+sd-jwt credential has exactly one platform type", field="type")
    return vct_for(named[0])


def _epoch(stamp: Any, name: str) -> int | None:
    if stamp is None:
        return None
    return int(parse_datetime_stamp(stamp, name).timestamp())


def token_status_list(values: bytes) -> TokenStatusList:
    """One-bit Token Status List of decoded values (one byte per entry, 0 or 1)."""
    token_list = TokenStatusList(len(values), bits=1)
    index = values.find(1)
    while index != -1:
        token_list.set(index, 1)
        index = values.find(1, index + 1)
    return token_list


def passport_subject(battery: Battery) -> dict[str, Any]:
    """Public passport data of a battery (Annex XIII, access group `public`)."""
    passport_id = f"urn:uuid:{battery.id}"
    attributes = {
        "batteryPassportIdentifier": passport_id,
        "batteryIdentifier": battery.identifier,
        "manufacturerInformation": battery.manufacturer,
        "batteryChemistry": battery.chemistry,
        "ratedCapacity": {"value": battery.rated_capacity_ah, "unit": "Ah"},
        "nominalVoltage": {"value": battery.nominal_voltage_v, "unit": "V"},
    }
    # Every read path goes through the access policy (backend.access); the full passport with
    # all attributes and versions is backend.passports.issuing.PassportIssuer.
    return {
        "id": passport_id,
        "type": "Battery",
        "name": battery.model,
        **visible_attributes(attributes, PUBLIC),
    }


async def find_credential(session: AsyncSession, credential_id: str) -> IssuedCredential | None:
    """The newest credential the platform issued with this `id`."""
    return (
        await session.exec(
            select(IssuedCredential)
            .where(IssuedCredential.credential_id == credential_id)
            .order_by(col(IssuedCredential.issued_at).desc())
            .limit(1)
        )
    ).first()


async def current_passport_credentials(
    session: AsyncSession, battery_ids: list[str]
) -> dict[str, IssuedCredential]:
    """The current passport credential of each battery, in one query."""
    rows = await session.exec(
        select(IssuedCredential)
        .where(
            col(IssuedCredential.battery_id).in_(battery_ids),
            IssuedCredential.type == PASSPORT_TYPE,
            col(IssuedCredential.revoked_at).is_(None),
        )
        .order_by(col(IssuedCredential.issued_at))
    )
    # Newest last, so it wins: a battery has one active passport credential at a time anyway.
    return {row.battery_id: row for row in rows if row.battery_id is not None}


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
