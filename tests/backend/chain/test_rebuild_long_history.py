"""Thousands of random status changes over more than one checkpoint, published by issuance's
publisher through the outbox: the list rebuilt from chain events equals the served list at
every step checked."""

from __future__ import annotations

import random

import pytest

from backend.chain.rebuild import Outcome, compare_with_served, rebuild_from_chain
from backend.issuance import statuslists
from backend.issuance.models import StatusList
from tests.backend.chain.conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

VERSIONS = statuslists.CHECKPOINT_EVERY + 6  # past the first snapshot checkpoint


@pytest.mark.parametrize("seed", [2026])
async def test_rebuild_equals_served_after_many_random_versions(
    anvil_stack: Stack, seed: int
) -> None:
    stack = anvil_stack
    rng = random.Random(seed)
    writer = stack.writer()
    async with stack.db.unit_of_work() as session:
        status_list = await statuslists.create_list(
            session,
            issuer_did="did:web:127.0.0.1%3A8000",
            issuer_address=stack.relayer,
            sender=stack.relayer,
            purpose="revocation",
            size=131_072,
        )
        list_uuid = status_list.id
    changes = 0
    for version in range(1, VERSIONS + 1):
        async with stack.db.unit_of_work() as session:
            for _ in range(rng.randint(1, 60)):
                # Values flip both ways (un-suspending included), indices repeat across versions.
                index = rng.randrange(2_000) if rng.random() < 0.5 else rng.randrange(131_072)
                await statuslists.set_status(
                    session, list_uuid, index, rng.randint(0, 1), urgent=False
                )
                changes += 1
        async with stack.db.unit_of_work() as session:
            await statuslists.publish_pending(session, stack.relayer)
        await writer.drain_once()
        if version % 25 == 0 or version == VERSIONS:
            report = await compare_with_served(stack.db, stack.chain, stack.relayer, list_uuid)
            assert report.outcome is Outcome.MATCH, report.to_json()
            assert report.rebuilt.version == version
    assert changes >= 1_000  # fixed seeds: the same thousands of changes every run
    rebuilt = await rebuild_from_chain(stack.chain, stack.relayer, list_uuid)
    async with stack.db.read_only() as session:
        row = await session.get(StatusList, list_uuid)
    assert row is not None
    assert rebuilt.values == bytes(row.bits)
    on_chain = await stack.chain.call(
        "StatusListRegistry", "getList", stack.relayer, statuslists.chain_list_id(list_uuid)
    )
    assert on_chain[0] == VERSIONS
    assert on_chain[2] == statuslists.CHECKPOINT_EVERY  # the rebuild crossed a snapshot
