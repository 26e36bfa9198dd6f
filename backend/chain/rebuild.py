"""Rebuild a status list from the registry's events alone and compare it with the served one.

This is what a verifier can do when the platform is gone (Art. 78 availability): every
version is reconstructed from `ListCreated` / `StatusChangesPublished` /
`StatusSnapshotPublished` and checked against the digest in its event
(`contracts.status.rebuild_latest`), then against the latest digest in storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlmodel import col, select

from backend.chain.client import STATUS_REGISTRY, ChainClient
from backend.chain.consistency import chain_list_id
from backend.chain.errors import UnknownListError
from backend.issuance.models import StatusChange, StatusList
from backend.kit.db import Database
from contracts.status import ListShape, rebuild_latest, status_digest, status_event_from_log

_EVENTS = ("ListCreated", "StatusChangesPublished", "StatusSnapshotPublished")


class Outcome(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    PENDING = "pending"  # the served list is ahead of the chain: a publish is in the outbox


@dataclass(frozen=True, slots=True)
class RebuiltList:
    issuer: str
    list_id: str
    version: int
    shape: ListShape
    values: bytes
    events: int


@dataclass(frozen=True, slots=True)
class RebuildReport:
    outcome: Outcome
    rebuilt: RebuiltList
    served_version: int | None
    unpublished_changes: int
    differing_indices: tuple[int, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "issuer": self.rebuilt.issuer,
            "list": self.rebuilt.list_id,
            "chain_version": self.rebuilt.version,
            "events": self.rebuilt.events,
            "entries": self.rebuilt.shape.length,
            "entries_set": sum(1 for v in self.rebuilt.values if v),
            "served_version": self.served_version,
            "unpublished_changes": self.unpublished_changes,
            "differing_indices": list(self.differing_indices[:50]),
            "differing_count": len(self.differing_indices),
        }


async def rebuild_from_chain(
    chain: ChainClient, issuer: str, list_uuid: str, *, from_block: int = 0
) -> RebuiltList:
    """The list's newest version from events only, every digest checked on the way.

    Raises `UnknownListError` when the registry has no such list and `ContractError`
    (`digest_mismatch`, `rebuild_gap`, …) when the events do not add up.
    """
    registry = chain.contract(STATUS_REGISTRY)
    list_id = chain_list_id(list_uuid)
    issuer = chain.w3.to_checksum_address(issuer)
    filters = {"issuer": issuer, "listId": list_id}
    logs: list[Any] = []
    for name in _EVENTS:
        logs.extend(
            await registry.events[name]().get_logs(argument_filters=filters, from_block=from_block)
        )
    if not any(log["event"] == "ListCreated" for log in logs):
        raise UnknownListError(
            f"no list {list_uuid} of {issuer} on chain {chain.chain_id}",
            name="ListNotFound",
            args={"issuer": issuer, "listId": list_id},
        )
    version, values = rebuild_latest(status_event_from_log(log) for log in logs)
    created = next(log for log in logs if log["event"] == "ListCreated")
    shape = ListShape(
        length=int(created["args"]["length"]), entry_size=int(created["args"]["entrySize"])
    )
    # The events carry each version's digest; storage must agree on the latest one too.
    latest_version, latest_digest = await chain.call(STATUS_REGISTRY, "latest", issuer, list_id)
    expected = bytes(32) if version == 0 else status_digest(list_id, version, shape, values)
    if int(latest_version) != version or bytes(latest_digest) != expected:
        raise UnknownListError(
            f"events rebuild version {version}, storage holds version {latest_version}",
            name="StorageMismatch",
            args={"version": int(latest_version)},
        )
    return RebuiltList(
        issuer=issuer,
        list_id=list_uuid,
        version=version,
        shape=shape,
        values=values,
        events=len(logs),
    )


async def compare_with_served(
    db: Database, chain: ChainClient, issuer: str, list_uuid: str, *, from_block: int = 0
) -> RebuildReport:
    """Rebuild from chain and compare with the list the platform serves (its database)."""
    rebuilt = await rebuild_from_chain(chain, issuer, list_uuid, from_block=from_block)
    async with db.read_only() as session:
        row = await session.get(StatusList, list_uuid)
        unpublished = len(
            list(
                await session.exec(
                    select(StatusChange.id).where(
                        StatusChange.status_list_id == list_uuid,
                        col(StatusChange.published_version).is_(None),
                    )
                )
            )
        )
    if row is None:
        return RebuildReport(Outcome.MISMATCH, rebuilt, None, 0)
    served = bytes(row.bits)
    differing = tuple(
        i for i, (a, b) in enumerate(zip(served, rebuilt.values, strict=False)) if a != b
    )
    if len(served) != len(rebuilt.values):
        outcome = Outcome.MISMATCH
    elif row.published_version > rebuilt.version or unpublished:
        # Served changes the chain has not seen yet: not a mismatch, not a match either.
        outcome = Outcome.PENDING
    elif row.published_version != rebuilt.version or differing:
        outcome = Outcome.MISMATCH
    else:
        outcome = Outcome.MATCH
    return RebuildReport(outcome, rebuilt, row.published_version, unpublished, differing)
