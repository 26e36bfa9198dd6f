"""Anchoring lifecycle events on chain and proving any event against its anchor.

The anchorer takes every event not yet anchored (in append order, at most `max_events`),
builds the Merkle tree of `contracts.merkle` over their hashes, records an `event_anchor`
row with the next sequence number of the anchoring account and queues
`EventAnchorRegistry.anchor(root, count, sequence)` in the transaction outbox — one unit of
work, so an anchor is either fully recorded and queued or not at all. The registry numbers
anchors per sender 1, 2, 3 … without gaps, which the unique (sender, sequence) constraint
mirrors: two anchorers racing cannot both take a number.

`event_proof(event_id)` rebuilds that anchor's tree from the stored event hashes (after
checking the event still hashes to its recorded value) and returns the inclusion proof;
`EventProof.verify()` checks it locally and `check_on_chain` asks the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.chain.client import ANCHOR_REGISTRY
from backend.chain.errors import ChainError, ChainRevertError
from backend.chain.models import ChainTransaction, TxStatus
from backend.chain.outbox import enqueue
from backend.kit.errors import NotFoundError
from backend.lifecycle.errors import EventChainBrokenError, EventNotAnchoredError
from backend.lifecycle.models import EventAnchor, LifecycleEvent
from backend.lifecycle.service import check_event
from contracts.merkle import MerkleTree, verify_proof

if TYPE_CHECKING:
    from backend.chain.client import ChainClient
    from backend.chain.outbox import OutboxWriter
    from backend.kit.db import Database

log = structlog.get_logger("bpp.lifecycle.anchoring")

MAX_EVENTS_PER_ANCHOR = 4096
# Anchored trees never change: proofs of recent anchors come from memory (a 4,096-event tree
# takes a few hundred ms of keccak in Python to rebuild). Insertion-ordered, oldest evicted.
_TREE_CACHE_SIZE = 16
_TREES: dict[tuple[int | None, str], MerkleTree] = {}


@dataclass(frozen=True, slots=True)
class EventProof:
    """An inclusion proof of one event in one on-chain anchor."""

    event_id: str
    event_hash: str  # hex, SHA-256 of the event's JCS
    issuer: str  # the anchoring account (the registry's `issuer`)
    anchor_sequence: int
    index: int
    count: int
    root: str  # hex
    proof: tuple[str, ...]  # sibling hashes, hex, leaf to root
    confirmed: bool  # the anchor transaction is confirmed on chain

    def verify(self) -> bool:
        """The proof checks against the anchored root (pure, no chain needed)."""
        return verify_proof(
            bytes.fromhex(self.root),
            self.count,
            bytes.fromhex(self.event_hash),
            self.index,
            [bytes.fromhex(sibling) for sibling in self.proof],
        )

    def as_json(self) -> dict[str, object]:
        return {
            "eventId": self.event_id,
            "eventHash": "0x" + self.event_hash,
            "issuer": self.issuer,
            "anchorSequence": self.anchor_sequence,
            "index": self.index,
            "count": self.count,
            "root": "0x" + self.root,
            "proof": ["0x" + sibling for sibling in self.proof],
            "confirmed": self.confirmed,
        }


async def anchor_pending_events(
    session: AsyncSession,
    sender: str,
    *,
    max_events: int = MAX_EVENTS_PER_ANCHOR,
    chain_last_sequence: int | None = None,
) -> EventAnchor | None:
    """Anchor the oldest unanchored events (None when there are none).

    `chain_last_sequence` is the registry's `lastSequence(sender)` if known: the next number
    is above both it and the database's, so a database started afresh against a chain that
    already holds this sender's anchors (a development node kept across resets) still
    anchors instead of being refused with `SequenceNotNext` forever.
    """
    events = list(
        await session.exec(
            select(LifecycleEvent)
            .where(col(LifecycleEvent.anchor_id).is_(None))
            .order_by(col(LifecycleEvent.id))
            .limit(max_events)
        )
    )
    if not events:
        return None
    tree = MerkleTree.build([bytes.fromhex(event.hash) for event in events])
    last = (
        await session.exec(
            select(func.max(EventAnchor.sequence)).where(EventAnchor.sender == sender)
        )
    ).one()
    sequence = max(int(last or 0), chain_last_sequence or 0) + 1
    transaction = enqueue(
        session,
        contract=ANCHOR_REGISTRY,
        function="anchor",
        args=["0x" + tree.root.hex(), tree.count, sequence],
        sender=sender,
    )
    await session.flush()
    anchor = EventAnchor(
        sender=sender,
        sequence=sequence,
        root=tree.root.hex(),
        count=tree.count,
        chain_transaction_id=transaction.id,
    )
    session.add(anchor)
    await session.flush()
    for index, event in enumerate(events):
        event.anchor_id = anchor.id
        event.anchor_index = index
        session.add(event)
    await session.flush()
    return anchor


async def event_proof(session: AsyncSession, event_id: str) -> EventProof:
    """The inclusion proof of an event (`EventNotAnchoredError` before its anchor is queued)."""
    event = (
        await session.exec(select(LifecycleEvent).where(LifecycleEvent.event_id == event_id))
    ).first()
    if event is None:
        raise NotFoundError(f"no lifecycle event {event_id!r}", field="eventId")
    check_event(event)
    if event.anchor_id is None or event.anchor_index is None:
        raise EventNotAnchoredError(
            "the event is not anchored yet; the anchorer runs periodically", field="eventId"
        )
    anchor = await session.get(EventAnchor, event.anchor_id)
    assert anchor is not None
    tree = _TREES.get((anchor.id, anchor.root))
    if tree is None:
        members = list(
            await session.exec(
                select(LifecycleEvent.hash)
                .where(LifecycleEvent.anchor_id == anchor.id)
                .order_by(col(LifecycleEvent.anchor_index))
            )
        )
        tree = MerkleTree.build([bytes.fromhex(member) for member in members])
        if tree.root.hex() != anchor.root or tree.count != anchor.count:
            raise EventChainBrokenError(
                f"the events of anchor {anchor.sequence} no longer give its root",
                field="eventId",
            )
        _TREES[(anchor.id, anchor.root)] = tree
        while len(_TREES) > _TREE_CACHE_SIZE:
            _TREES.pop(next(iter(_TREES)))
    transaction = (
        await session.get(ChainTransaction, anchor.chain_transaction_id)
        if anchor.chain_transaction_id is not None
        else None
    )
    return EventProof(
        event_id=event.event_id,
        event_hash=event.hash,
        issuer=anchor.sender,
        anchor_sequence=anchor.sequence,
        index=event.anchor_index,
        count=anchor.count,
        root=anchor.root,
        proof=tuple(sibling.hex() for sibling in tree.proof(event.anchor_index)),
        confirmed=transaction is not None and transaction.status == TxStatus.CONFIRMED,
    )


async def check_on_chain(chain: ChainClient, proof: EventProof) -> bool:
    """Ask the registry: is the event leaf `index` of the anchored root (and is the anchored
    root the one the proof names)? False when the anchor is not on chain (yet); a node that
    does not answer raises `NodeUnavailableError`."""
    try:
        root, count, _anchored_at = await chain.call(
            ANCHOR_REGISTRY, "getAnchor", proof.issuer, proof.anchor_sequence
        )
    except ChainRevertError:  # AnchorNotFound
        return False
    if bytes(root).hex() != proof.root or int(count) != proof.count:
        return False
    included = await chain.call(
        ANCHOR_REGISTRY,
        "verifyInclusion",
        proof.issuer,
        proof.anchor_sequence,
        bytes.fromhex(proof.event_hash),
        proof.index,
        [bytes.fromhex(sibling) for sibling in proof.proof],
    )
    return bool(included)


class EventAnchorer:
    """Anchors new events every `interval_s` (like the status list publisher)."""

    def __init__(
        self,
        db: Database,
        sender: str,
        outbox: OutboxWriter | None,
        *,
        chain: ChainClient | None = None,
        interval_s: float = 10.0,
    ) -> None:
        self.db = db
        self.sender = sender
        self.outbox = outbox
        self.chain = chain
        self.interval_s = interval_s
        self._now = asyncio.Event()
        self._lock = asyncio.Lock()

    def wake(self) -> None:
        """Anchor at once (after a batch of events worth proving soon was committed)."""
        self._now.set()

    async def _chain_last_sequence(self) -> int | None:
        if self.chain is None:
            return None
        try:
            return int(await self.chain.call(ANCHOR_REGISTRY, "lastSequence", self.sender))
        except ChainError:  # node down or registry missing: the database's count stands
            return None

    async def anchor_once(self) -> EventAnchor | None:
        async with self._lock:
            chain_last = await self._chain_last_sequence()
            async with self.db.unit_of_work() as session:
                anchor = await anchor_pending_events(
                    session, self.sender, chain_last_sequence=chain_last
                )
        if anchor is not None:
            if self.outbox is not None:
                self.outbox.wake()
            log.info("events anchored", sequence=anchor.sequence, count=anchor.count)
        return anchor

    async def run_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), timeout=self.interval_s)
            self._now.clear()
            try:
                await self.anchor_once()
            except Exception:
                log.exception("event anchoring failed; retrying")
