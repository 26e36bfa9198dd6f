"""Data-protection requests: export everything held about a driver or a battery as one package
signed by the platform key, and erase a driver's personal data.

Erasure empties the driver's personal columns and ends every session and consent, but keeps
the row: its random id is the pseudonym that vehicles, lifecycle events and audit entries
refer to, so passports, event hash chains and the audit chain stay intact and verifiable.

The package is a compact JWS (`typ` `bpp-export+jws`) over the canonical JSON (RFC 8785) of
the package, signed by a `credentials.keys.Signer` (the platform's key store entry); the
verification method in `kid` resolves through the platform's DID document.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import rfc8785
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit.models import AuditEntry
from backend.auth.models import Driver, RefreshToken
from backend.auth.revocation import SessionRevocations
from backend.consent.models import Consent
from backend.consent.service import withdraw_all
from backend.issuance.models import IssuedCredential
from backend.kit.errors import InvalidInputError, NotFoundError
from backend.kit.models import as_utc
from backend.passports.models import Battery
from credentials.did import DidResolver
from credentials.errors import CredentialError
from credentials.keys import KeyAlgorithm, PublicKey, Signer

EXPORT_TYPE: Final = "bpp-export+jws"
_JWS_ALG: Final = {
    KeyAlgorithm.P256: "ES256",
    KeyAlgorithm.P384: "ES384",
    KeyAlgorithm.ED25519: "EdDSA",
}

# More sections (vehicles, lifecycle events, telemetry) plug in from other domains: an async
# function of (session, subject id) returning JSON data, registered under a name.
ExportSection = Callable[[AsyncSession, str], Awaitable[Any]]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_package(package: Mapping[str, Any], signer: Signer) -> str:
    """A compact JWS over the RFC 8785 form of `package`."""
    header = {"alg": _JWS_ALG[signer.algorithm], "typ": EXPORT_TYPE, "kid": signer.key_id}
    signing_input = (
        _b64(rfc8785.dumps(header)) + "." + _b64(rfc8785.dumps(dict(package)))
    ).encode()
    return signing_input.decode() + "." + _b64(signer.sign(signing_input))


def verify_package(token: str, public_key: PublicKey) -> dict[str, Any]:
    """The package if the signature verifies with `public_key`; `InvalidInputError` if not."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidInputError("not a compact JWS", field="package")
    try:
        header = json.loads(_b64decode(parts[0]))
        payload = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, TypeError):
        raise InvalidInputError("not a compact JWS", field="package") from None
    if not isinstance(header, dict) or header.get("typ") != EXPORT_TYPE:
        raise InvalidInputError("not an export package", field="package")
    if header.get("alg") != _JWS_ALG.get(public_key.algorithm):
        raise InvalidInputError("algorithm does not match the key", field="package")
    if not public_key.verify(f"{parts[0]}.{parts[1]}".encode(), signature):
        raise InvalidInputError("export package signature does not verify", field="package")
    if not isinstance(payload, dict):
        raise InvalidInputError("export package is not an object", field="package")
    return payload


async def verify_package_via_did(
    token: str, resolver: DidResolver, *, expected_controller: str | None = None
) -> dict[str, Any]:
    """Verify with the key the header's `kid` names, resolved through its DID document (an
    `assertionMethod` of `expected_controller`, e.g. the platform's DID, when given)."""
    try:
        header = json.loads(_b64decode(token.split(".", 1)[0]))
    except (ValueError, TypeError):
        raise InvalidInputError("not a compact JWS", field="package") from None
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(kid, str) or "#" not in kid:
        raise InvalidInputError("the package names no verification method", field="package")
    if expected_controller is not None and kid.split("#", 1)[0] != expected_controller:
        raise InvalidInputError(f"the package is not signed by {expected_controller}")
    try:
        method = await resolver.verification_method(kid)
    except CredentialError as exc:
        raise InvalidInputError(f"cannot resolve {kid}: {exc.message}", field="package") from None
    if "assertionMethod" not in method.relationships:
        raise InvalidInputError(f"{kid} may not sign assertions", field="package")
    return verify_package(token, method.public_key)


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "resource": {"kind": entry.resource_kind, "id": entry.resource_id},
        "reason": entry.reason,
        "entryHash": entry.entry_hash,
    }


async def export_driver(
    session: AsyncSession,
    driver_id: str,
    sections: Mapping[str, ExportSection] | None = None,
    *,
    audit_limit: int = 10_000,
) -> dict[str, Any]:
    """Everything held about a driver (authorize `Action.EXPORT_DRIVER` first)."""
    driver = await session.get(Driver, driver_id)
    if driver is None:
        raise NotFoundError("no such driver", field="driverId")
    subject = f"driver:{driver.id}"
    consents = (
        await session.exec(
            select(Consent).where(Consent.driver_id == driver.id).order_by(col(Consent.id))
        )
    ).all()
    sessions = (
        await session.exec(
            select(RefreshToken)
            .where(RefreshToken.driver_id == driver.id)
            .order_by(col(RefreshToken.issued_at))
        )
    ).all()
    audit = (
        await session.exec(
            select(AuditEntry)
            .where((AuditEntry.actor == subject) | (AuditEntry.resource_id == driver.id))
            .order_by(col(AuditEntry.id))
            .limit(audit_limit)
        )
    ).all()
    package: dict[str, Any] = {
        "type": "DriverDataExport",
        "generatedAt": datetime.now(UTC).isoformat(),
        "driver": {
            "id": driver.id,
            "email": driver.email,
            "phone": driver.phone,
            "displayName": driver.display_name,
            "oidc": (
                {"issuer": driver.oidc_issuer, "subject": driver.oidc_subject}
                if driver.oidc_subject
                else None
            ),
            "createdAt": _iso(driver.created_at),
            "anonymisedAt": _iso(driver.anonymised_at),
        },
        "consents": [
            {
                "grantee": c.grantee_did,
                "dataGroup": c.data_group,
                "purpose": c.purpose,
                "grantedAt": _iso(c.granted_at),
                "withdrawnAt": _iso(c.withdrawn_at),
            }
            for c in consents
        ],
        # Token hashes are not the driver's data and would only help an attacker.
        "sessions": [
            {
                "session": t.family_id,
                "issuedAt": _iso(t.issued_at),
                "usedAt": _iso(t.used_at),
                "revokedAt": _iso(t.revoked_at),
            }
            for t in sessions
        ],
        "auditEntries": [_audit_json(e) for e in audit],
    }
    for name, collect in (sections or {}).items():
        package[name] = await collect(session, driver.id)
    return package


async def export_battery(
    session: AsyncSession,
    battery_id: str,
    sections: Mapping[str, ExportSection] | None = None,
    *,
    audit_limit: int = 10_000,
) -> dict[str, Any]:
    """Everything held about a battery (authorize `Action.EXPORT_BATTERY` first; the access
    module filters attribute groups the caller may not see)."""
    battery = await session.get(Battery, battery_id)
    if battery is None:
        raise NotFoundError("no such battery", field="batteryId")
    credentials = (
        await session.exec(
            select(IssuedCredential)
            .where(IssuedCredential.battery_id == battery.id)
            .order_by(col(IssuedCredential.issued_at))
        )
    ).all()
    audit = (
        await session.exec(
            select(AuditEntry)
            .where(AuditEntry.resource_id == battery.id)
            .order_by(col(AuditEntry.id))
            .limit(audit_limit)
        )
    ).all()
    package: dict[str, Any] = {
        "type": "BatteryDataExport",
        "generatedAt": datetime.now(UTC).isoformat(),
        # Identifiers only: the battery's attribute data (item-level and condition data are
        # restricted) reaches the package solely through the policy-filtered `sections`.
        "battery": {
            "id": battery.id,
            "identifier": battery.identifier,
            "passportId": f"urn:uuid:{battery.id}",
        },
        "credentials": [
            {
                "id": c.credential_id,
                "type": c.type,
                "issuer": c.issuer_did,
                "issuedAt": _iso(c.issued_at),
                "revokedAt": _iso(c.revoked_at),
                "document": c.document,
            }
            for c in credentials
        ],
        "auditEntries": [_audit_json(e) for e in audit],
    }
    for name, collect in (sections or {}).items():
        package[name] = await collect(session, battery.id)
    return package


# Erasure hooks of other domains (e.g. a vehicle's plate): called with the driver id.
ErasureHook = Callable[[AsyncSession, str], Awaitable[None]]


async def anonymise_driver(
    session: AsyncSession,
    driver_id: str,
    revocations: SessionRevocations,
    hooks: Sequence[ErasureHook] = (),
) -> Driver:
    """Erase a driver's personal data (authorize `Action.ERASE_DRIVER` first). Idempotent."""
    driver = await session.get(Driver, driver_id)
    if driver is None:
        raise NotFoundError("no such driver", field="driverId")
    # Sessions die first, in Redis, so no token outlives the erasure even if this rolls back.
    await revocations.revoke_subject(driver.id)
    driver.email = None
    driver.phone = None
    driver.display_name = None
    driver.password_hash = None
    driver.oidc_issuer = None
    driver.oidc_subject = None
    if driver.anonymised_at is None:
        driver.anonymised_at = datetime.now(UTC)
    session.add(driver)
    now = datetime.now(UTC)
    tokens = (
        await session.exec(
            select(RefreshToken).where(
                RefreshToken.driver_id == driver.id, col(RefreshToken.revoked_at).is_(None)
            )
        )
    ).all()
    for token in tokens:
        token.revoked_at = now
        session.add(token)
        await revocations.revoke_session(token.family_id)
    await withdraw_all(session, driver.id)
    for hook in hooks:
        await hook(session, driver.id)
    await session.flush()
    return driver
