"""The audit log: append-only, hash-chained, readable by the `authority` role.

`authorize_and_audit` is the one call resolvers make for anything audited: it authorizes and,
when the action is a write or a restricted read, appends an entry in the caller's unit of work
(so a write that rolls back leaves no entry claiming it happened).

Entries name actors by pseudonymous subject only (`driver:<uuid>`, `org:<did>`); `details`
must never carry personal data, because a hashed entry cannot be edited later — that is what
lets a driver's anonymisation leave the chain intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit.models import AuditEntry
from backend.auth.policy import (
    AUDITED_ACTIONS,
    NO_CONSENTS,
    Action,
    ConsentGrants,
    Decision,
    Resource,
    ResourceKind,
    authorize,
)
from backend.auth.principal import Principal
from backend.kit.models import as_utc, utcnow

GENESIS: Final = "0" * 64
# Serialises appends on PostgreSQL (SQLite's BEGIN IMMEDIATE already does): two concurrent
# writers must not both chain onto the same previous entry.
_ADVISORY_LOCK_ID: Final = 0x6270_7061_7564_6974  # "bppaudit"
MAX_PAGE: Final = 500


def entry_digest(entry: AuditEntry) -> str:
    """SHA-256 over the entry's fields and the previous hash (canonical JSON)."""
    body = {
        "at": as_utc(entry.at).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "resource_kind": entry.resource_kind,
        "resource_id": entry.resource_id,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "request_id": entry.request_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    text_form = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text_form.encode()).hexdigest()


async def _lock_head(session: AsyncSession) -> None:
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})"))


async def record(
    session: AsyncSession,
    principal: Principal,
    action: Action | str,
    resource: Resource,
    *,
    outcome: str = "allowed",
    reason: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry (in the caller's unit of work)."""
    await _lock_head(session)
    head = (
        await session.exec(
            select(AuditEntry.entry_hash).order_by(col(AuditEntry.id).desc()).limit(1)
        )
    ).first()
    # Microseconds only: what PostgreSQL and SQLite both store exactly, so the digest
    # recomputed from the stored row is the one written.
    entry = AuditEntry(
        at=utcnow(),
        actor=principal.subject,
        actor_role=principal.role.value if principal.role else None,
        action=str(action),
        resource_kind=str(resource.kind),
        resource_id=resource.id,
        outcome=outcome,
        reason=(reason or "")[:500] or None,
        request_id=request_id,
        details=dict(details or {}),
        prev_hash=head or GENESIS,
        entry_hash="",
    )
    entry.entry_hash = entry_digest(entry)
    session.add(entry)
    await session.flush()
    return entry


async def authorize_and_audit(
    session: AsyncSession,
    principal: Principal,
    action: Action,
    resource: Resource,
    consents: ConsentGrants = NO_CONSENTS,
    *,
    why: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Decision:
    """Authorize (raising when refused) and audit the allowed action if it is audited."""
    decision = authorize(principal, action, resource, consents)
    if action in AUDITED_ACTIONS:
        merged = {"basis": str(decision.basis), **(details or {})}
        if resource.data_group is not None:
            merged["data_group"] = resource.data_group
        await record(
            session,
            principal,
            action,
            resource,
            reason=why or decision.reason,
            request_id=request_id,
            details=merged,
        )
    return decision


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    resource_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def read_entries(
    session: AsyncSession,
    principal: Principal,
    filters: AuditFilter = AuditFilter(),
    *,
    after_id: int = 0,
    limit: int = 100,
    request_id: str | None = None,
) -> list[AuditEntry]:
    """Entries after `after_id` (keyset paging), oldest first; authority only. Reading the
    log is itself audited."""
    await authorize_and_audit(
        session,
        principal,
        Action.READ_AUDIT_LOG,
        Resource(ResourceKind.AUDIT_LOG),
        request_id=request_id,
        details={"after_id": after_id},
    )
    query = select(AuditEntry).where(col(AuditEntry.id) > after_id)
    if filters.actor is not None:
        query = query.where(AuditEntry.actor == filters.actor)
    if filters.action is not None:
        query = query.where(AuditEntry.action == filters.action)
    if filters.resource_id is not None:
        query = query.where(AuditEntry.resource_id == filters.resource_id)
    if filters.since is not None:
        query = query.where(col(AuditEntry.at) >= filters.since)
    if filters.until is not None:
        query = query.where(col(AuditEntry.at) < filters.until)
    query = query.order_by(col(AuditEntry.id)).limit(max(1, min(limit, MAX_PAGE)))
    return list((await session.exec(query)).all())


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str = ""


async def verify_chain(session: AsyncSession, batch: int = 1000) -> ChainCheck:
    """Recompute every entry's hash and link; the first entry that does not match."""
    previous = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = (
            await session.exec(
                select(AuditEntry)
                .where(col(AuditEntry.id) > last_id)
                .order_by(col(AuditEntry.id))
                .limit(batch)
            )
        ).all()
        if not rows:
            return ChainCheck(ok=True, entries=count)
        for row in rows:
            assert row.id is not None
            if row.prev_hash != previous:
                return ChainCheck(False, count, row.id, "link to the previous entry is broken")
            if entry_digest(row) != row.entry_hash:
                return ChainCheck(False, count, row.id, "entry was altered")
            previous = row.entry_hash
            count += 1
            last_id = row.id
