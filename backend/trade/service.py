"""Used-battery trade: shares (time-limited, selective disclosure, the buyer's nonce), the
buyer's verification with the service checks, and ownership transfer by both parties'
consent. SQL stays here; the caller's unit of work commits.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import string
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal, PrincipalKind
from backend.inspection.models import Inspection
from backend.inspection.service import INSPECTION_TYPE, latest_inspection
from backend.issuance.service import (
    PASSPORT_TYPE,
    current_passport_credential,
    find_credential,
)
from backend.kit.errors import (
    DomainError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from backend.kit.models import as_utc
from backend.lifecycle import service as lifecycle
from backend.lifecycle.models import LifecycleEvent
from backend.passports.models import Battery
from backend.passports.service import ensure_writable, get_battery
from backend.trade.holder import battery_holder
from backend.trade.models import CredentialShare, TransferOffer
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.errors import CredentialError
from credentials.jose import ENVELOPED_SD_JWT_PREFIX, envelope, unwrap_enveloped
from credentials.sdjwt import present_sd_jwt
from credentials.verifier import (
    PLATFORM_POLICY,
    Check,
    CheckName,
    CheckStatus,
    VerificationResult,
)
from credentials.vocab import VCT_BASE

if TYPE_CHECKING:
    from backend.runtime import Runtime

DEFAULT_SHARE_S: Final = 24 * 3600
MAX_SHARE_S: Final = 30 * 24 * 3600
DEFAULT_OFFER_S: Final = 7 * 24 * 3600
# The buyer's policy: an inspection older than this fails `inspection_recency`.
DEFAULT_INSPECTION_MAX_AGE_DAYS: Final = 180
MAX_PRESENTED_CREDENTIALS: Final = 8
# What a seller may disclose of the inspection credential (its claims, by name).
DISCLOSABLE: Final = frozenset(
    {
        "batteryIdentifier",
        "stateOfHealth",
        "inspectionGrade",
        "reuseEligible",
        "inspectionMethod",
        "inspectedAt",
        "stateOfCertifiedEnergy",
        "remainingCapacity",
        "capacityFade",
        "internalResistanceIncrease",
        "cellVoltageSpread",
        "cellStateOfHealthSpread",
        "insulationResistance",
        "energyThroughput",
        "fullCycleCount",
        "vehicleIdentificationNumber",
        "type",
        "sub",
    }
)
DEFAULT_DISCLOSE: Final = (
    "sub",
    "type",
    "batteryIdentifier",
    "stateOfHealth",
    "inspectionGrade",
    "inspectedAt",
)
# Required for a trade verdict: the library's platform policy plus the service checks.
SERVICE_CHECKS: Final = ("inspection_recency", "same_battery")
REQUIRED: Final = frozenset(
    {
        *PLATFORM_POLICY.required,
        "status_revocation",
        "status_suspension",
        "disclosures",
        "key_binding",
        *SERVICE_CHECKS,
    }
)
# The chain consistency of status lists is shown but not part of the verdict (`REQUIRED`): a
# publish still pending makes it `unknown` for a few seconds, which must not fail a sale. The
# library runs that check only for a policy that requires it, hence this policy.
VERIFY_POLICY: Final = PLATFORM_POLICY.with_required(CheckName.CHAIN_CONSISTENCY)
_CHECK_ORDER: Final = (
    "schema",
    "signature",
    "validity_period",
    "issuer_accredited",
    "status_revocation",
    "status_suspension",
    "chain_consistency",
    "disclosures",
    "key_binding",
    *SERVICE_CHECKS,
)
_NONCE_CHARS: Final = frozenset(string.ascii_letters + string.digits + "-._~")


class ShareExpiredError(DomainError):
    code = ErrorCode.NOT_FOUND
    status_code = 410


class TradeStateError(DomainError):
    code = ErrorCode.CONFLICT
    status_code = 409


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _seconds(value: int | None, default: int, maximum: int, name: str) -> int:
    if value is None:
        return default
    if not 60 <= value <= maximum:
        raise InvalidInputError(f"{name} is 60 to {maximum} seconds", field=name)
    return value


def owner_id_of(runtime: Runtime, principal: Principal) -> str:
    """How the battery record names this caller as its owner: a driver's id, or an
    organisation's DID."""
    if principal.kind is PrincipalKind.DRIVER and principal.driver_id is not None:
        return principal.driver_id
    if principal.organisation_slug is not None:
        return runtime.platform.organisation_did(principal.organisation_slug)
    if principal.did is not None:
        return principal.did
    raise ForbiddenError("only a driver or an organisation can own a battery")


def ensure_seller(runtime: Runtime, principal: Principal, battery: Battery) -> str:
    """The caller may sell the battery: its owner, or, when no one owns it, the responsible
    organisation. Returns the seller's owner id."""
    if not principal.is_authenticated:
        raise UnauthenticatedError("sharing and selling need the owner's credentials")
    me = owner_id_of(runtime, principal)
    if battery.owner_id is not None:
        if battery.owner_id != me:
            raise ForbiddenError("only the battery's owner may share or sell it")
        return me
    if (
        principal.organisation_id is not None
        and principal.organisation_id == battery.organisation_id
    ):
        return me
    raise ForbiddenError("only the battery's owner may share or sell it")


# ------------------------------------------------------------------------------ shares


@dataclass(frozen=True, slots=True)
class NewShare:
    share: CredentialShare
    token: str
    url: str


def share_url(runtime: Runtime, token: str) -> str:
    return f"{runtime.platform.base_url}/share/{token}"


def validate_disclose(disclose: Iterable[str] | None) -> list[str]:
    chosen = list(DEFAULT_DISCLOSE if disclose is None else disclose)
    unknown = sorted(set(chosen) - DISCLOSABLE)
    if unknown:
        raise InvalidInputError(
            f"not claims of the inspection credential: {', '.join(unknown)}", field="disclose"
        )
    # the subject (the passport id) is always disclosed: `same_battery` needs it
    return sorted({*chosen, "sub"})


async def create_share(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    battery_id: str,
    *,
    disclose: Iterable[str] | None = None,
    expires_in_s: int | None = None,
) -> NewShare:
    battery = await get_battery(session, battery_id)
    ensure_writable(battery)
    ensure_seller(runtime, principal, battery)
    chosen = validate_disclose(disclose)
    inspection = await latest_inspection(session, battery.id)
    if inspection is None:
        raise NotFoundError("the battery has no inspection to share", field="batteryId")
    seconds = _seconds(expires_in_s, DEFAULT_SHARE_S, MAX_SHARE_S, "expiresInS")
    token = secrets.token_urlsafe(24)
    row = CredentialShare(
        id=str(uuid.uuid4()),
        token_hash=_digest(token),
        battery_id=battery.id,
        created_by=principal.subject[:120],
        disclose=chosen,
        inspection_id=inspection.id,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
    )
    session.add(row)
    await session.flush()
    return NewShare(row, token, share_url(runtime, token))


async def find_share(session: AsyncSession, token: str) -> CredentialShare:
    if not isinstance(token, str) or not 8 <= len(token) <= 100:
        raise NotFoundError("no such share", field="token")
    row = (
        await session.exec(
            select(CredentialShare).where(CredentialShare.token_hash == _digest(token))
        )
    ).first()
    if row is None or row.revoked_at is not None:
        raise NotFoundError("no such share (or the seller withdrew it)", field="token")
    if as_utc(row.expires_at) <= datetime.now(UTC):
        raise ShareExpiredError("this share link has expired", field="token")
    return row


def validate_nonce(nonce: str) -> str:
    if not 8 <= len(nonce) <= 128 or not set(nonce) <= _NONCE_CHARS:
        raise InvalidInputError("a nonce is 8-128 characters of A-Z a-z 0-9 - . _ ~", field="nonce")
    return nonce


@dataclass(frozen=True, slots=True)
class SharedPresentation:
    presentation: dict[str, Any]
    nonce: str
    audience: str
    expires_at: datetime
    disclose: list[str]
    battery_id: str


async def present_share(
    session: AsyncSession,
    runtime: Runtime,
    token: str,
    *,
    nonce: str,
    audience: str | None = None,
) -> SharedPresentation:
    """The seller's credentials as a presentation for this buyer: the public passport and
    the inspection SD-JWT VC with only the chosen disclosures, key-bound to the buyer's
    nonce (and audience) by the custodial holder key."""
    share = await find_share(session, token)
    validate_nonce(nonce)
    aud = audience or runtime.platform.base_url
    if len(aud) > 300:
        raise InvalidInputError("audience is at most 300 characters", field="audience")
    inspection = await session.get(Inspection, share.inspection_id) if share.inspection_id else None
    if inspection is None or inspection.sd_jwt_credential_id is None:
        raise NotFoundError("the shared inspection is gone", field="token")
    sd_row = await find_credential(session, inspection.sd_jwt_credential_id)
    sd_jwt = unwrap_enveloped(sd_row.document) if sd_row is not None else None
    if sd_jwt is None:
        raise NotFoundError("the shared inspection credential is gone", field="token")
    chosen = set(share.disclose)
    presented = present_sd_jwt(
        sd_jwt,
        lambda path: path[0] in chosen,
        holder=battery_holder(runtime.platform),
        nonce=nonce,
        aud=aud,
    )
    credentials: list[Any] = []
    passport = await current_passport_credential(session, share.battery_id)
    if passport is not None:
        credentials.append(passport.document)
    credentials.append(envelope(presented, ENVELOPED_SD_JWT_PREFIX))
    share.views += 1
    session.add(share)
    return SharedPresentation(
        presentation={
            "@context": [CREDENTIALS_V2_URL],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": credentials,
        },
        nonce=nonce,
        audience=aud,
        expires_at=as_utc(share.expires_at),
        disclose=list(share.disclose),
        battery_id=share.battery_id,
    )


async def withdraw_share(
    session: AsyncSession, runtime: Runtime, principal: Principal, share_id: str
) -> CredentialShare:
    if not principal.is_authenticated:
        raise UnauthenticatedError("withdrawing a share needs the seller's credentials")
    try:
        share_id = str(uuid.UUID(share_id))
    except ValueError:
        raise NotFoundError(f"no share {share_id!r}", field="shareId") from None
    row = await session.get(CredentialShare, share_id, with_for_update=True)
    if row is None or row.created_by != principal.subject[:120]:
        raise NotFoundError(f"no share {share_id}", field="shareId")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
    return row


# ------------------------------------------------------------------------ verification


@dataclass(frozen=True, slots=True)
class PresentedCredential:
    kind: str  # "passport" | "inspection" | "other"
    result: VerificationResult
    claims: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TradeVerification:
    verified: bool
    checks: tuple[Check, ...]
    credentials: tuple[PresentedCredential, ...] = field(default=())

    @property
    def inspection_claims(self) -> dict[str, Any] | None:
        found = next((c for c in self.credentials if c.kind == "inspection"), None)
        return None if found is None else found.claims

    @property
    def passport_claims(self) -> dict[str, Any] | None:
        found = next((c for c in self.credentials if c.kind == "passport"), None)
        return None if found is None else found.claims

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.verified,
            "checks": [c.to_json() for c in self.checks],
            "disclosed": public_claims(self.inspection_claims),
        }


_HIDDEN_CLAIMS: Final = frozenset({"cnf", "status", "_sd_alg"})


def public_claims(claims: dict[str, Any] | None) -> dict[str, Any] | None:
    """The disclosed claims as a buyer reads them (the binding and status plumbing left out)."""
    if claims is None:
        return None
    return {k: v for k, v in claims.items() if k not in _HIDDEN_CLAIMS}


def _kind_of(document: Any, result: VerificationResult) -> tuple[str, dict[str, Any]]:
    if result.claims is not None:
        vct = result.claims.get("vct")
        name = vct.removeprefix(VCT_BASE) if isinstance(vct, str) else ""
        kind = "inspection" if name == INSPECTION_TYPE else "other"
        return kind, dict(result.claims)
    if isinstance(document, dict):
        types = document.get("type")
        names = types if isinstance(types, list) else [types]
        subject = document.get("credentialSubject")
        claims = dict(subject) if isinstance(subject, dict) else {}
        if PASSPORT_TYPE in names:
            return "passport", claims
        if INSPECTION_TYPE in names:
            claims.setdefault("sub", claims.get("id"))
            return "inspection", claims
    return "other", {}


def _merge(name: str, checks: list[Check]) -> Check:
    for status in (CheckStatus.FAIL, CheckStatus.UNKNOWN, CheckStatus.PASS, CheckStatus.SKIPPED):
        matching = [c for c in checks if c.status is status]
        if matching:
            return Check(name, status, "; ".join(c.reason for c in matching))
    return Check(name, CheckStatus.SKIPPED, "not applicable")


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def inspection_recency(claims: dict[str, Any] | None, now: datetime, max_age: timedelta) -> Check:
    """The inspection is no older than the buyer's policy allows (its `inspectedAt` when
    disclosed, else the credential's issuance time `iat`)."""
    name = "inspection_recency"
    if claims is None:
        return Check(name, CheckStatus.UNKNOWN, "no inspection credential presented")
    when = _stamp(claims.get("inspectedAt")) or _stamp(claims.get("iat"))
    if when is None:
        return Check(name, CheckStatus.UNKNOWN, "the inspection time is not disclosed")
    age = now - when
    days = age.total_seconds() / 86400
    limit = max_age.total_seconds() / 86400
    if age < timedelta(seconds=-300):
        return Check(name, CheckStatus.FAIL, "inspected in the future")
    if age > max_age:
        return Check(name, CheckStatus.FAIL, f"inspected {days:.0f} days ago; policy {limit:.0f}")
    return Check(name, CheckStatus.PASS, f"inspected {days:.1f} days ago; policy {limit:.0f}")


def same_battery(inspection: dict[str, Any] | None, passport: dict[str, Any] | None) -> Check:
    """The inspection and the passport name the same battery (passport id, and the battery
    identifier when both state it)."""
    name = "same_battery"
    if inspection is None or passport is None:
        missing = "inspection" if inspection is None else "passport"
        return Check(name, CheckStatus.UNKNOWN, f"no {missing} credential presented")
    subject = inspection.get("sub")
    passport_id = passport.get("id")
    if not isinstance(subject, str) or not isinstance(passport_id, str):
        return Check(name, CheckStatus.UNKNOWN, "the inspection's subject is not disclosed")
    if subject != passport_id:
        return Check(
            name, CheckStatus.FAIL, f"inspection is about {subject}, passport is {passport_id}"
        )
    ours, theirs = inspection.get("batteryIdentifier"), passport.get("batteryIdentifier")
    if ours is not None and theirs is not None and ours != theirs:
        return Check(name, CheckStatus.FAIL, f"battery identifiers differ: {ours} / {theirs}")
    return Check(name, CheckStatus.PASS, f"both name {passport_id}")


async def verify_trade_presentation(
    runtime: Runtime,
    presentation: Any,
    *,
    nonce: str | None,
    audience: str | None,
    max_age_days: int = DEFAULT_INSPECTION_MAX_AGE_DAYS,
) -> TradeVerification:
    """Every credential of the presentation with the platform's verifier (issuer
    accreditation required; the SD-JWT's key binding checked against the nonce and
    audience), then the service checks `inspection_recency` and `same_battery`."""
    if not isinstance(presentation, dict):
        raise InvalidInputError("a presentation is a JSON object", field="presentation")
    types = presentation.get("type")
    if "VerifiablePresentation" not in (types if isinstance(types, list) else [types]):
        raise InvalidInputError("not a VerifiablePresentation", field="presentation")
    raw = presentation.get("verifiableCredential")
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    if not items or len(items) > MAX_PRESENTED_CREDENTIALS:
        raise InvalidInputError(
            f"a presentation carries 1-{MAX_PRESENTED_CREDENTIALS} credentials",
            field="presentation",
        )
    if not 1 <= max_age_days <= 3650:
        raise InvalidInputError("maxAgeDays is 1-3650", field="maxAgeDays")
    verifier = runtime.issuance.verifier.verifier
    presented: list[PresentedCredential] = []
    grouped: dict[str, list[Check]] = {}
    for index, item in enumerate(items):
        try:
            result = await verifier.verify(
                item, challenge=nonce, domain=audience, policy=VERIFY_POLICY
            )
        except (CredentialError, ValueError, TypeError, KeyError):
            result = VerificationResult(
                False, (Check("schema", CheckStatus.FAIL, "not a verifiable credential"),)
            )
        kind, claims = _kind_of(item, result)
        presented.append(PresentedCredential(kind, result, claims))
        label = kind if kind != "other" else f"verifiableCredential[{index}]"
        for check in result.checks:
            if check.status is CheckStatus.SKIPPED and check.name in grouped:
                continue
            grouped.setdefault(check.name, []).append(
                Check(check.name, check.status, f"{label}: {check.reason}")
            )
    now = datetime.now(UTC)
    inspection = next((p for p in presented if p.kind == "inspection"), None)
    passport = next((p for p in presented if p.kind == "passport"), None)
    inspection_claims = inspection.claims if inspection is not None else None
    service = [
        inspection_recency(inspection_claims, now, timedelta(days=max_age_days)),
        same_battery(inspection_claims, passport.claims if passport is not None else None),
    ]
    for check in service:
        grouped[check.name] = [check]
    checks = [_merge(name, grouped[name]) for name in _CHECK_ORDER if name in grouped]
    checks += [_merge(name, grouped[name]) for name in grouped if name not in _CHECK_ORDER]
    verified = all(c.status is not CheckStatus.FAIL for c in checks) and all(
        c.status is CheckStatus.PASS for c in checks if c.name in REQUIRED
    )
    return TradeVerification(verified, tuple(checks), tuple(presented))


# ---------------------------------------------------------------------------- transfer


@dataclass(frozen=True, slots=True)
class NewOffer:
    offer: TransferOffer
    code: str


async def offer_transfer(
    session: AsyncSession,
    runtime: Runtime,
    principal: Principal,
    battery_id: str,
    *,
    expires_in_s: int | None = None,
) -> NewOffer:
    """The seller's consent: a one-time accept code for the buyer (earlier open offers of
    the battery are withdrawn)."""
    battery = await get_battery(session, battery_id, for_update=True)
    ensure_writable(battery)
    seller_owner = ensure_seller(runtime, principal, battery)
    seconds = _seconds(expires_in_s, DEFAULT_OFFER_S, MAX_SHARE_S, "expiresInS")
    for open_offer in await session.exec(
        select(TransferOffer).where(
            TransferOffer.battery_id == battery.id, TransferOffer.status == "offered"
        )
    ):
        open_offer.status = "withdrawn"
        session.add(open_offer)
    code = secrets.token_urlsafe(18)
    row = TransferOffer(
        id=str(uuid.uuid4()),
        code_hash=_digest(code),
        battery_id=battery.id,
        seller=principal.subject[:120],
        seller_owner_id=seller_owner if battery.owner_id is not None else None,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
    )
    session.add(row)
    await session.flush()
    return NewOffer(row, code)


async def accept_transfer(
    session: AsyncSession, runtime: Runtime, principal: Principal, code: str
) -> tuple[TransferOffer, LifecycleEvent]:
    """The buyer's consent: the ownership changes to the buyer, the lifecycle event is
    appended (anchored by the anchorer), and the seller's open shares end."""
    if not principal.is_authenticated:
        raise UnauthenticatedError("accepting a transfer needs the buyer's credentials")
    buyer_owner = owner_id_of(runtime, principal)
    if not isinstance(code, str) or not 8 <= len(code) <= 100:
        raise NotFoundError("no such transfer offer", field="code")
    offer = (
        await session.exec(
            select(TransferOffer).where(TransferOffer.code_hash == _digest(code)).with_for_update()
        )
    ).first()
    if offer is None or offer.status != "offered":
        raise NotFoundError("no such open transfer offer", field="code")
    if as_utc(offer.expires_at) <= datetime.now(UTC):
        raise ShareExpiredError("the transfer offer has expired", field="code")
    battery = await get_battery(session, offer.battery_id, for_update=True)
    if battery.owner_id != offer.seller_owner_id:
        raise TradeStateError("the battery changed hands since the offer", field="code")
    if battery.owner_id == buyer_owner:
        raise TradeStateError("the buyer already owns the battery", field="code")
    # Both consents are on record (the offer and this acceptance); the platform carries out
    # the transfer, so the event's recorder is the platform, never a person.
    event = await lifecycle.transfer_ownership(session, None, battery.id, buyer_owner)
    offer.status = "accepted"
    offer.buyer = principal.subject[:120]
    offer.accepted_at = datetime.now(UTC)
    offer.event_id = event.event_id
    session.add(offer)
    for share in await session.exec(
        select(CredentialShare).where(
            CredentialShare.battery_id == battery.id, col(CredentialShare.revoked_at).is_(None)
        )
    ):
        share.revoked_at = datetime.now(UTC)
        session.add(share)
    await session.flush()
    return offer, event
