"""The per-battery hash chain: canonical hash, tamper detection, proofs only when anchored."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import rfc8785
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from backend.auth.principal import Principal
from backend.kit.errors import ForbiddenError, InvalidInputError
from backend.lifecycle.anchoring import (
    EventProof,
    anchor_pending_events,
    check_on_chain,
    event_proof,
)
from backend.lifecycle.errors import EventChainBrokenError, EventNotAnchoredError
from backend.lifecycle.models import LifecycleEvent
from backend.lifecycle.service import (
    GENESIS_HASH,
    EventKind,
    event_hash,
    record_event,
    verify_chain,
)
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports.models import Battery
from backend.passports.service import (
    Measurement,
    ModelRegistration,
    get_battery,
    record_measurements,
    register_battery_of_model,
    register_model,
)
from backend.runtime import Runtime
from contracts.merkle import leaf_hash

EVENT: dict[str, Any] = {
    "id": "urn:uuid:00000000-0000-4000-8000-000000000001",
    "type": "repaired",
    "passport": "urn:uuid:00000000-0000-4000-8000-000000000002",
    "sequence": 2,
    "occurredAt": "2026-01-02T03:04:05Z",
    "recordedBy": "org:수리-센터",
    "data": {"cells": [1.5, 1e21, 0.1], "note": "é\u2028"},
    "previousHash": "ab" * 32,
}


def test_event_hash_is_sha256_of_rfc8785() -> None:
    # Differential: the independent `rfc8785` package gives the canonical bytes.
    assert event_hash(EVENT) == hashlib.sha256(rfc8785.dumps(cast(Any, EVENT))).hexdigest()


def test_event_hash_ignores_member_order_and_sees_every_value() -> None:
    assert event_hash(dict(reversed(list(EVENT.items())))) == event_hash(EVENT)
    for key in EVENT:
        changed = {**EVENT, key: "x"}
        assert event_hash(changed) != event_hash(EVENT), key


def test_a_tampered_proof_does_not_verify() -> None:
    proof = EventProof(
        event_id="e",
        event_hash="11" * 32,
        issuer="0x" + "00" * 20,
        anchor_sequence=1,
        index=0,
        count=1,
        root="00" * 32,
        proof=(),
        confirmed=True,
    )
    good = replace(proof, root=leaf_hash(bytes.fromhex("11" * 32)).hex())
    assert good.verify()
    assert not proof.verify()


async def _battery_with_events(runtime: Runtime, slug: str, count: int) -> tuple[Principal, str]:
    async with runtime.db.unit_of_work() as session:
        organisation = await get_or_create_organisation(session, slug)
        maker = Principal(
            organisation_id=organisation.id, organisation_slug=slug, role=Role.MANUFACTURER
        )
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name=f"Chain {slug}",
                manufacturer="Chain Co",
                chemistry="LFP",
                rated_capacity_ah=100,
                nominal_voltage_v=400,
            ),
        )
        battery = await register_battery_of_model(
            session, maker, model.id, f"CH-{uuid.uuid4().hex[:10].upper()}"
        )
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        for _ in range(count - 1):
            await record_event(session, maker, battery.id, EventKind.REPAIRED)
    return maker, battery.id


@pytest.mark.integration
async def test_events_link_by_hash_and_sequence(runtime: Runtime) -> None:
    _, battery_id = await _battery_with_events(runtime, "chain-links", 3)
    async with runtime.db.read_only() as session:
        events = await verify_chain(session, battery_id)
    assert [e.sequence for e in events] == [1, 2, 3]
    assert events[0].document["previousHash"] == GENESIS_HASH
    assert events[1].document["previousHash"] == events[0].hash
    assert events[2].document["previousHash"] == events[1].hash
    assert all(event_hash(e.document) == e.hash for e in events)


DROP_GUARDS = {
    True: ["DROP TRIGGER lifecycle_event_no_update", "DROP TRIGGER lifecycle_event_no_delete"],
    False: ["DROP TRIGGER lifecycle_event_append_only ON lifecycle_event"],
}


@pytest.mark.integration
async def test_the_database_refuses_to_change_or_delete_events(runtime: Runtime) -> None:
    _, battery_id = await _battery_with_events(runtime, "chain-guard", 2)
    async with runtime.db.read_only() as session:
        events = await verify_chain(session, battery_id)
    statements = [
        update(LifecycleEvent)
        .where(col(LifecycleEvent.id) == events[0].id)
        .values(document={**events[0].document, "data": {"x": 1}}),
        update(LifecycleEvent).where(col(LifecycleEvent.id) == events[0].id).values(hash="0" * 64),
        update(LifecycleEvent).where(col(LifecycleEvent.id) == events[1].id).values(sequence=7),
        delete(LifecycleEvent).where(col(LifecycleEvent.id) == events[1].id),
    ]
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.db.unit_of_work() as session:
                await session.exec(statement)
    async with runtime.db.read_only() as session:
        assert [e.hash for e in await verify_chain(session, battery_id)] == [e.hash for e in events]


@pytest.mark.integration
@pytest.mark.parametrize("tampering", ["edit", "rehash", "delete", "reorder"])
async def test_tampering_past_the_guards_is_detected(runtime: Runtime, tampering: str) -> None:
    """Someone with the database's owner rights drops the guard and edits the log: the chain
    check and the proofs notice. Everything happens in one transaction that is rolled back."""
    assert runtime.anchorer is not None
    _, battery_id = await _battery_with_events(runtime, f"chain-{tampering}", 3)
    await runtime.anchorer.anchor_once()  # anchored first: proofs must notice the change too
    # A transactional session (not `read_only`, which autocommits on PostgreSQL).
    async with runtime.db.sessions() as session:
        for statement in DROP_GUARDS[runtime.db.is_sqlite]:
            await session.exec(text(statement))  # type: ignore[call-overload]
        events = await verify_chain(session, battery_id)
        middle = events[1]
        by_id = col(LifecycleEvent.id)
        if tampering == "edit":
            # The stored document changes, its recorded hash does not.
            document = {**middle.document, "data": {"note": "never happened"}}
            await session.exec(
                update(LifecycleEvent).where(by_id == middle.id).values(document=document)
            )
        elif tampering == "rehash":
            # Edited *and* re-hashed: the next event's previousHash and the anchored root differ.
            document = {**middle.document, "data": {"note": "never happened"}}
            await session.exec(
                update(LifecycleEvent)
                .where(by_id == middle.id)
                .values(document=document, hash=event_hash(document))
            )
        elif tampering == "delete":
            await session.exec(delete(LifecycleEvent).where(by_id == middle.id))
        else:
            first, last = events[0], events[2]
            for row_id, sequence in ((first.id, 99), (last.id, 1), (first.id, 3)):
                await session.exec(
                    update(LifecycleEvent).where(by_id == row_id).values(sequence=sequence)
                )
        session.expire_all()
        with pytest.raises(EventChainBrokenError):
            await verify_chain(session, battery_id)
        if tampering in ("edit", "rehash"):
            with pytest.raises(EventChainBrokenError):
                await event_proof(session, middle.event_id)
        await session.rollback()
    async with runtime.db.read_only() as session:
        assert len(await verify_chain(session, battery_id)) == 3  # rolled back, guards back


@pytest.mark.integration
async def test_proofs_exist_only_once_anchored_and_check_on_chain(runtime: Runtime) -> None:
    assert runtime.anchorer is not None
    _, battery_id = await _battery_with_events(runtime, "chain-proofs", 2)
    async with runtime.db.read_only() as session:
        events = await verify_chain(session, battery_id)
    # The background anchorer may have been quicker; if not, no proof exists yet.
    async with runtime.db.read_only() as session:
        row = await session.get(LifecycleEvent, events[0].id)
        assert row is not None
        if row.anchor_id is None:
            with pytest.raises(EventNotAnchoredError):
                await event_proof(session, events[0].event_id)
    await runtime.anchorer.anchor_once()
    await runtime.outbox.drain_once()
    async with runtime.db.read_only() as session:
        for event in events:
            proof = await event_proof(session, event.event_id)
            assert proof.verify()
            assert await check_on_chain(runtime.chain, proof)
            forged = replace(proof, event_hash="22" * 32)
            assert not forged.verify()
            assert not await check_on_chain(runtime.chain, forged)
            unanchored = replace(proof, anchor_sequence=proof.anchor_sequence + 10_000)
            assert not await check_on_chain(runtime.chain, unanchored)


@pytest.mark.integration
async def test_other_organisations_cannot_write_and_bad_input_is_typed(runtime: Runtime) -> None:
    maker, battery_id = await _battery_with_events(runtime, "chain-owner", 1)
    async with runtime.db.unit_of_work() as session:
        other = await get_or_create_organisation(session, "chain-intruder")
    intruder = Principal(
        organisation_id=other.id, organisation_slug=other.slug, role=Role.MANUFACTURER
    )
    async with runtime.db.unit_of_work() as session:
        with pytest.raises(ForbiddenError):
            await record_event(session, intruder, battery_id, EventKind.PLACED_ON_MARKET)
        with pytest.raises(InvalidInputError):
            await record_event(
                session,
                maker,
                battery_id,
                EventKind.REPAIRED,
                occurred_at=datetime.now(UTC) + timedelta(days=1),
            )
        with pytest.raises(InvalidInputError):
            await record_event(session, maker, battery_id, EventKind.INSTALLED)
        with pytest.raises(InvalidInputError):
            await record_event(
                session, maker, battery_id, EventKind.REPAIRED, data={"x": float("nan")}
            )


@pytest.mark.integration
async def test_measurements_keep_the_latest_and_refuse_static_terms(runtime: Runtime) -> None:
    _, battery_id = await _battery_with_events(runtime, "chain-measure", 1)
    newer = datetime.now(UTC) - timedelta(minutes=5)
    older = newer - timedelta(days=1)
    async with runtime.db.unit_of_work() as session:
        await record_measurements(
            session, None, battery_id, {"stateOfCharge": Measurement(80, newer, "bms", "obd")}
        )
        await record_measurements(
            session, None, battery_id, {"stateOfCharge": Measurement(20, older, "bms", "obd")}
        )
        battery: Battery = await get_battery(session, battery_id)
    assert battery.condition["stateOfCharge"]["value"] == 80.0
    for term, value in [("batteryMass", 1.0), ("batteryStatus", "waste"), ("nope", 1)]:
        async with runtime.db.unit_of_work() as session:
            with pytest.raises(InvalidInputError):
                await record_measurements(
                    session, None, battery_id, {term: Measurement(value, newer, "bms", "obd")}
                )


@pytest.mark.integration
async def test_anchor_numbers_continue_above_the_chain_after_a_database_reset(
    runtime: Runtime,
) -> None:
    sender = str(runtime.chain.relayer.address)
    # A writing session that is never committed: a gapped anchor must not be queued for real.
    async with runtime.db.sessions() as session:
        organisation = await get_or_create_organisation(session, "chain-reset")
        maker = Principal(
            organisation_id=organisation.id, organisation_slug="chain-reset", role=Role.MANUFACTURER
        )
        model = await register_model(
            session,
            maker,
            ModelRegistration(
                name="Reset Pack",
                manufacturer="Reset",
                chemistry="LFP",
                rated_capacity_ah=10,
                nominal_voltage_v=40,
            ),
        )
        battery = await register_battery_of_model(session, maker, model.id, "RESET-0001")
        await record_event(session, maker, battery.id, EventKind.MANUFACTURED)
        ahead = await anchor_pending_events(session, sender, chain_last_sequence=1_000_000)
        behind = await anchor_pending_events(session, sender, chain_last_sequence=0)
        ahead_sequence = None if ahead is None else ahead.sequence
        await session.rollback()
    assert ahead_sequence == 1_000_001
    assert behind is None  # everything was anchored in that transaction already
