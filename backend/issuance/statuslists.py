"""The platform's Bitstring status lists: allocation, changes, serving and on-chain publishing.

The database holds each list's decoded values (one byte per entry, the form
`contracts.status` digests), so a change is one byte write. Changes are rows too; a publisher
folds every unpublished change of a list into one on-chain version (`publishChanges`), at once
for urgent ones (accident, theft, fraud) and otherwise every `status_publish_interval_s`, and
every `CHECKPOINT_EVERY` versions as a full snapshot so a rebuild from the chain need not start
at version 0.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.chain.outbox import enqueue
from backend.issuance.models import IssuedCredential, StatusChange, StatusList
from backend.kit.errors import NotFoundError
from contracts.status import ListShape, encode_snapshot, pack_changes, status_digest

REGISTRY = "StatusListRegistry"
CHECKPOINT_EVERY = 64
# Stop allocating from a list at this fill so random probing stays cheap and the list keeps
# herd privacy (a verifier fetching it learns little about which credential is checked).
MAX_FILL = 0.5


def chain_list_id(list_id: str) -> bytes:
    """The registry's bytes32 list id: the list's UUID, left-padded."""
    return uuid.UUID(list_id).bytes.rjust(32, b"\0")


def shape_of(status_list: StatusList) -> ListShape:
    return ListShape(length=status_list.size, entry_size=status_list.status_size)


ChainIssuer = Callable[[AsyncSession], Awaitable[str]]
"""Gives the chain address a DID's lists live under (creating it on first use)."""


async def create_list(
    session: AsyncSession,
    *,
    issuer_did: str,
    issuer_address: str,
    sender: str,
    purpose: str,
    size: int,
) -> StatusList:
    """A new list of `issuer_did`, created on chain under `issuer_address` by `sender` (the
    relayer, as the issuer's delegate: issuers' keys hold no funds)."""
    status_list = StatusList(
        id=str(uuid.uuid4()),
        issuer_did=issuer_did,
        issuer_address=issuer_address,
        purpose=purpose,
        size=size,
        status_size=1,
        bits=bytes(size),
    )
    session.add(status_list)
    enqueue(
        session,
        contract=REGISTRY,
        function="createList",
        args=[issuer_address, "0x" + chain_list_id(status_list.id).hex(), size, 1],
        sender=sender,
    )
    await session.flush()
    return status_list


async def allocate_index(
    session: AsyncSession,
    *,
    issuer_did: str,
    chain_issuer: ChainIssuer,
    sender: str,
    purpose: str,
    size: int,
    taken: set[int] | None = None,
) -> tuple[StatusList, int]:
    """A random unused index on one of the issuer's lists (a new list when all are full).

    Random, never sequential, so an index reveals nothing about issuance order; uniqueness is
    also enforced by the database (one credential per list and index).
    """
    candidates = await session.exec(
        select(StatusList)
        .where(StatusList.issuer_did == issuer_did, StatusList.purpose == purpose)
        .order_by(col(StatusList.created_at))
    )
    status_list = next((row for row in candidates if row.allocated < row.size * MAX_FILL), None)
    if status_list is None:
        status_list = await create_list(
            session,
            issuer_did=issuer_did,
            issuer_address=await chain_issuer(session),
            sender=sender,
            purpose=purpose,
            size=size,
        )
    used = await _used_indices(session, status_list.id) | (taken or set())
    while True:
        index = secrets.randbelow(status_list.size)
        if index not in used:
            break
    status_list.allocated += 1
    session.add(status_list)
    return status_list, index


async def _used_indices(session: AsyncSession, list_id: str) -> set[int]:
    rows = await session.exec(
        select(IssuedCredential.status_index).where(IssuedCredential.status_list_id == list_id)
    )
    return {index for index in rows if index is not None}


async def set_status(
    session: AsyncSession, list_id: str, index: int, value: int, *, urgent: bool
) -> StatusList:
    status_list = await session.get(StatusList, list_id, with_for_update=True)
    if status_list is None:
        raise NotFoundError(f"no status list {list_id}")
    values = bytearray(status_list.bits)
    values[index] = value
    status_list.bits = bytes(values)
    status_list.revision += 1
    session.add(status_list)
    session.add(StatusChange(status_list_id=list_id, index=index, value=value, urgent=urgent))
    return status_list


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    list_id: str
    version: int
    changes: int


async def publish_pending(session: AsyncSession, sender: str) -> list[PublishedVersion]:
    """Fold every unpublished change into one new version per list, queued on chain.

    Each version is published under its list's issuer address, sent by `sender` (the relayer).
    """
    list_ids = list(
        await session.exec(
            select(StatusChange.status_list_id)
            .where(col(StatusChange.published_version).is_(None))
            .distinct()
        )
    )
    published: list[PublishedVersion] = []
    for list_id in sorted(list_ids):
        # Lock the list first, then read its changes: a change racing in after the lock
        # waits, so the digest below covers exactly the changes carried by this version.
        status_list = await session.get(StatusList, list_id, with_for_update=True)
        assert status_list is not None
        changes = list(
            await session.exec(
                select(StatusChange)
                .where(
                    StatusChange.status_list_id == list_id,
                    col(StatusChange.published_version).is_(None),
                )
                .order_by(col(StatusChange.id))
            )
        )
        if not changes:
            continue
        version = status_list.published_version + 1
        shape = shape_of(status_list)
        values = status_list.bits
        digest = status_digest(chain_list_id(list_id), version, shape, values)
        latest = {change.index: values[change.index] for change in changes}
        list_arg = "0x" + chain_list_id(list_id).hex()
        if version % CHECKPOINT_EVERY == 0:
            function = "publishSnapshot"
            args: list[object] = [
                status_list.issuer_address,
                list_arg,
                version,
                "0x" + digest.hex(),
                1,
                "0x" + encode_snapshot(values, shape).hex(),
            ]
        else:
            function = "publishChanges"
            args = [
                status_list.issuer_address,
                list_arg,
                version,
                "0x" + digest.hex(),
                "0x" + pack_changes(latest, shape).hex(),
            ]
        enqueue(
            session,
            contract=REGISTRY,
            function=function,
            args=list(args),
            sender=sender,
            urgent=any(change.urgent for change in changes),
        )
        for change in changes:
            change.published_version = version
            session.add(change)
        status_list.published_version = version
        status_list.published_revision = status_list.revision
        session.add(status_list)
        published.append(PublishedVersion(list_id=list_id, version=version, changes=len(latest)))
    return published


async def has_urgent_pending(session: AsyncSession) -> bool:
    row = (
        await session.exec(
            select(StatusChange.id)
            .where(col(StatusChange.published_version).is_(None), col(StatusChange.urgent))
            .limit(1)
        )
    ).first()
    return row is not None
