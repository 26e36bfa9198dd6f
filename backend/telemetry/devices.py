"""Gateway devices: registered, rotated and revoked by their organisation.

A device's id is its Ed25519 did:key, so rotating the key means a new id: the new row names
its predecessor, inherits the source → battery bindings, and the old id is refused from then
on (`rotated`), like a revoked one. Sequences belong to a device id (a new key is a new
outbox on the gateway), so de-duplication is unaffected by a rotation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit.service import authorize_and_audit
from backend.auth.policy import Action, Resource, ResourceKind
from backend.auth.principal import Principal
from backend.auth.scopes import Scope
from backend.kit.errors import (
    AlreadyExistsError,
    DomainError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
)
from backend.kit.models import utcnow
from backend.orgs.roles import Role
from backend.passports import service as passports
from backend.telemetry import didkey
from backend.telemetry.models import TelemetryDevice, TelemetrySource

MAX_SOURCES = 64


class DeviceRetiredError(DomainError):
    """The device was revoked or rotated: it can no longer change."""

    code = ErrorCode.ALREADY_REVOKED
    status_code = 409


@dataclass(frozen=True, slots=True)
class SourceBinding:
    """The gateway's `sourceId` (its config's device id) reads this battery."""

    source_id: str
    battery_id: str  # UUID or urn:uuid passport id


def _require_manager(principal: Principal) -> int:
    if not principal.is_authenticated:
        raise UnauthenticatedError("this operation needs an API key (Authorization: Bearer)")
    if principal.organisation_id is None or principal.device_id is not None:
        raise ForbiddenError("gateways are managed with an organisation's API key")
    if not principal.has_scope(Scope.TELEMETRY_UPLOAD):
        raise ForbiddenError(f"missing scope {Scope.TELEMETRY_UPLOAD}")
    return principal.organisation_id


def _check_did(did: str, field: str) -> None:
    if not didkey.is_ed25519_did_key(did):
        raise InvalidInputError("must be an Ed25519 did:key (did:key:z6Mk…)", field=field)


async def _owned(session: AsyncSession, principal: Principal, did: str) -> TelemetryDevice:
    organisation_id = _require_manager(principal)
    device = await session.get(TelemetryDevice, did, with_for_update=True)
    # Another organisation's device is "not found": ids are not confirmed to outsiders.
    if device is None or (
        device.organisation_id != organisation_id and principal.role is not Role.PLATFORM
    ):
        raise NotFoundError("no such device", field="deviceId")
    if device.status != "active":
        raise DeviceRetiredError(f"the device is {device.status}", field="deviceId")
    return device


async def _bind(
    session: AsyncSession, principal: Principal, did: str, sources: Sequence[SourceBinding]
) -> None:
    if len(sources) > MAX_SOURCES:
        raise InvalidInputError(f"at most {MAX_SOURCES} sources", field="sources")
    seen: set[str] = set()
    for source in sources:
        if not 0 < len(source.source_id) <= 120 or source.source_id in seen:
            raise InvalidInputError("source ids must be 1-120 chars, unique", field="sources")
        seen.add(source.source_id)
        battery = await passports.get_battery(session, source.battery_id)
        await authorize_and_audit(
            session,
            principal,
            Action.UPLOAD_TELEMETRY,
            Resource(ResourceKind.BATTERY, id=battery.id, owner_id=battery.owner_id),
            details={"device": did, "source": source.source_id, "operation": "bind"},
        )
        session.add(
            TelemetrySource(device_id=did, source_id=source.source_id, battery_id=battery.id)
        )


async def register_device(
    session: AsyncSession,
    principal: Principal,
    did: str,
    *,
    label: str | None = None,
    sources: Sequence[SourceBinding] = (),
) -> TelemetryDevice:
    """Register a gateway's did:key for the caller's organisation, with its sources' batteries."""
    organisation_id = _require_manager(principal)
    _check_did(did, "deviceId")
    if label is not None and len(label) > 200:
        raise InvalidInputError("label: at most 200 characters", field="label")
    if await session.get(TelemetryDevice, did) is not None:
        raise AlreadyExistsError("this device is already registered", field="deviceId")
    device = TelemetryDevice(id=did, organisation_id=organisation_id, label=label)
    session.add(device)
    await session.flush()
    await _audit_device(session, principal, did, "register")
    await _bind(session, principal, did, sources)
    await session.flush()
    return device


async def rotate_device_key(
    session: AsyncSession, principal: Principal, did: str, new_did: str
) -> TelemetryDevice:
    """The new did:key succeeds the old one; the old one is refused from now on."""
    old = await _owned(session, principal, did)
    _check_did(new_did, "newDeviceId")
    if await session.get(TelemetryDevice, new_did) is not None:
        raise AlreadyExistsError("the new key is already registered", field="newDeviceId")
    new = TelemetryDevice(
        id=new_did, organisation_id=old.organisation_id, label=old.label, predecessor_id=did
    )
    session.add(new)
    await session.flush()
    for source in (
        await session.exec(select(TelemetrySource).where(TelemetrySource.device_id == did))
    ).all():
        session.add(
            TelemetrySource(
                device_id=new_did, source_id=source.source_id, battery_id=source.battery_id
            )
        )
    old.status, old.successor_id, old.retired_at = "rotated", new_did, utcnow()
    session.add(old)
    await session.flush()
    await _audit_device(session, principal, did, "rotate", successor=new_did)
    return new


async def revoke_device(session: AsyncSession, principal: Principal, did: str) -> TelemetryDevice:
    device = await _owned(session, principal, did)
    device.status, device.retired_at = "revoked", utcnow()
    session.add(device)
    await session.flush()
    await _audit_device(session, principal, did, "revoke")
    return device


async def list_devices(
    session: AsyncSession, principal: Principal, *, organisation_id: int | None = None
) -> list[TelemetryDevice]:
    """The caller's organisation's devices (the platform may name any organisation)."""
    own = _require_manager(principal)
    wanted = organisation_id if principal.role is Role.PLATFORM and organisation_id else own
    rows = await session.exec(
        select(TelemetryDevice)
        .where(TelemetryDevice.organisation_id == wanted)
        .order_by(col(TelemetryDevice.created_at), col(TelemetryDevice.id))
    )
    return list(rows.all())


async def sources_of(session: AsyncSession, did: str) -> Mapping[str, str]:
    rows = await session.exec(select(TelemetrySource).where(TelemetrySource.device_id == did))
    return {row.source_id: row.battery_id for row in rows.all()}


async def _audit_device(
    session: AsyncSession,
    principal: Principal,
    did: str,
    operation: str,
    *,
    successor: str | None = None,
) -> None:
    details = {"device": did, "operation": operation}
    if successor is not None:
        details["successor"] = successor
    await authorize_and_audit(
        session,
        principal,
        Action.UPLOAD_TELEMETRY,
        Resource(ResourceKind.ORGANISATION, id=str(principal.organisation_id)),
        details=details,
    )
