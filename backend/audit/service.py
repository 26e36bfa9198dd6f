"""The audit log: append-only, hash-chained, readable by the `authority` role.

Two entry points. Mutations call `authorize_and_audit`: it authorizes and appends the entry
in the mutation's unit of work, so a write that rolls back leaves no entry claiming it
happened. Reads go through a per-request `AuditTrail` (`authorize_read`, `decide_reads` for
DataLoaders), which collects the restricted reads and writes them in one transaction when the
request ends (`flush`).

Entries name actors by pseudonymous subject only (`driver:<uuid>`, `org:<did>`); `details`
must never carry personal data, because a hashed entry cannot be edited later — that is what
lets a driver's anonymisation leave the chain intact.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Final

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
    decide,
)
from backend.auth.principal import Principal
from backend.kit.db import Database
from backend.kit.models import as_utc, utcnow

GENESIS: Final = "0" * 64
# Serialises appends on PostgreSQL (SQLite's BEGIN IMMEDIATE already does): two concurrent
# writers must not both chain onto the same previous entry.
_ADVISORY_LOCK_ID: Final = 0x6270_7061_7564_6974  # "bppaudit"
MAX_PAGE: Final = 500


def entry_digest(entry: AuditEntry) -> str:
    """SHA-256 over the entry's fields and the previous hash (canonical JSON)."""
    # Microsecond timestamps: what PostgreSQL and SQLite both store exactly, so the digest
    # recomputed from a stored row is the one written.
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


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """An audit entry decided but not yet written (see `AuditTrail`)."""

    principal: Principal
    action: str
    resource: Resource
    at: datetime
    outcome: str = "allowed"
    reason: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


async def append_entries(
    session: AsyncSession, pending: Sequence[PendingEntry]
) -> list[AuditEntry]:
    """Append entries in order, in the caller's unit of work: one lock and one read of the
    chain head for the whole batch."""
    if not pending:
        return []
    await _lock_head(session)
    head = (
        await session.exec(
            select(AuditEntry.entry_hash).order_by(col(AuditEntry.id).desc()).limit(1)
        )
    ).first()
    previous = head or GENESIS
    entries = []
    for item in pending:
        entry = AuditEntry(
            at=item.at,
            actor=item.principal.subject,
            actor_role=item.principal.role.value if item.principal.role else None,
            action=item.action,
            resource_kind=str(item.resource.kind),
            resource_id=item.resource.id,
            outcome=item.outcome,
            reason=(item.reason or "")[:500] or None,
            request_id=item.request_id,
            details=dict(item.details),
            prev_hash=previous,
            entry_hash="",
        )
        entry.entry_hash = entry_digest(entry)
        previous = entry.entry_hash
        entries.append(entry)
    session.add_all(entries)
    await session.flush()
    return entries


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
    pending = PendingEntry(
        principal=principal,
        action=str(action),
        resource=resource,
        at=utcnow(),
        outcome=outcome,
        reason=reason,
        request_id=request_id,
        details=dict(details or {}),
    )
    return (await append_entries(session, [pending]))[0]


def _details(
    decision: Decision, resource: Resource, details: Mapping[str, Any] | None
) -> dict[str, Any]:
    merged = {"basis": str(decision.basis), **(details or {})}
    if resource.data_group is not None:
        merged["data_group"] = resource.data_group
    return merged


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
        await record(
            session,
            principal,
            action,
            resource,
            reason=why or decision.reason,
            request_id=request_id,
            details=_details(decision, resource, details),
        )
    return decision


class AuditTrail:
    """Restricted reads of one request, audited without a write in the read path.

    Resolvers and DataLoaders call `authorize_read` / `decide_reads` while they read (often in
    a read-only session, where an entry could not be committed — and on SQLite a second,
    writing transaction would wait for the first); the request's end calls `flush(db)`, which
    appends every collected entry in one transaction. Writes use `authorize_and_audit` in the
    mutation's own unit of work instead, so they are audited exactly when they commit.
    """

    def __init__(self, principal: Principal, request_id: str | None = None) -> None:
        self.principal = principal
        self.request_id = request_id
        self.pending: list[PendingEntry] = []

    def _collect(
        self,
        action: Action,
        resource: Resource,
        decision: Decision,
        why: str | None,
        details: Mapping[str, Any] | None,
    ) -> None:
        if decision.allowed and action in AUDITED_ACTIONS:
            self.pending.append(
                PendingEntry(
                    principal=self.principal,
                    action=str(action),
                    resource=resource,
                    at=utcnow(),
                    reason=why or decision.reason,
                    request_id=self.request_id,
                    details=_details(decision, resource, details),
                )
            )

    def note(
        self,
        action: Action,
        resource: Resource,
        decision: Decision,
        *,
        why: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Remember a read the caller already decided (e.g. through a `BatteryView`)."""
        self._collect(action, resource, decision, why, details)

    def authorize_read(
        self,
        action: Action,
        resource: Resource,
        consents: ConsentGrants = NO_CONSENTS,
        *,
        why: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> Decision:
        """`authorize` (raising when refused), remembering the read for the audit log."""
        decision = authorize(self.principal, action, resource, consents)
        self._collect(action, resource, decision, why, details)
        return decision

    def decide_reads(
        self,
        action: Action,
        resources: Sequence[Resource],
        consents: ConsentGrants = NO_CONSENTS,
        *,
        why: str | None = None,
    ) -> list[Decision]:
        """One decision per resource, never raising (a DataLoader maps refusals to per-item
        errors); the allowed ones are remembered for the audit log."""
        decisions = []
        for resource in resources:
            decision = decide(self.principal, action, resource, consents)
            self._collect(action, resource, decision, why, None)
            decisions.append(decision)
        return decisions

    async def flush(self, db: Database) -> int:
        """Write what was collected; the number of entries written. Returns once they are
        committed (through the database's `GroupCommit`, shared with concurrent requests)."""
        pending, self.pending = self.pending, []
        if not pending:
            return 0
        await GroupCommit.of(db).append(pending)
        return len(pending)


class GroupCommit:
    """Read audit entries of concurrent requests appended in shared transactions.

    Every read of restricted data appends to one hash chain, so appends serialise on the
    chain head; one transaction per request would cap the whole API at the database's
    commit rate. Here a request hands its entries over and waits until they are committed:
    whatever arrives while a transaction is running goes into the next one, in arrival
    order. Nothing is answered before its entries are durable, and a failed transaction
    fails exactly the requests whose entries it held.
    """

    _by_database: ClassVar[weakref.WeakKeyDictionary[Database, GroupCommit]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, db: Database) -> None:
        self._db = db
        self._loop = asyncio.get_running_loop()
        self._waiting: list[tuple[Sequence[PendingEntry], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, db: Database) -> GroupCommit:
        """The database's group commit on the running event loop (one loop at a time)."""
        found = cls._by_database.get(db)
        if found is None or found._loop is not asyncio.get_running_loop():
            found = cls._by_database[db] = cls(db)
        return found

    async def append(self, pending: Sequence[PendingEntry]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((pending, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="audit-group-commit")
        await done

    async def _write_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._db.unit_of_work() as session:
                    await append_entries(session, [e for entries, _ in batch for e in entries])
            except BaseException as error:
                for _, done in batch:
                    if done.done():
                        continue
                    if isinstance(error, Exception):
                        done.set_exception(error)
                    else:  # cancelled (shutdown): the waiting requests are cancelled too
                        done.cancel()
                if not isinstance(error, Exception):
                    raise
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)


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
