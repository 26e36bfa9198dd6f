"""The embedded chain rebuilt by replay (several senders, delegations, accreditations), and the
mirror rebuilding itself after a reorg."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from backend.chain.models import TxStatus
from backend.chain.outbox import replay_confirmed
from backend.chain.service import connect_chain, enqueue_accreditation
from contracts.issuers import Role
from contracts.status import status_digest
from tests.backend.chain.conftest import Stack, new_list_id
from tests.backend.chain.test_issuers_and_mirror import ORG_DID
from tests.backend.chain.test_outbox import SHAPE, publish_args


async def test_a_fresh_embedded_chain_replays_every_sender_and_matches_the_rows(
    embedded_stack: Stack,
) -> None:
    stack = embedded_stack
    services = await stack.services()
    issuer = await services.issuers.issuer_address(ORG_DID)
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", issuer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.enqueue("publishChanges", *publish_args(issuer, list_id, 1, values, {12: 1}))
    now = int(time.time())
    async with stack.db.unit_of_work() as session:
        enqueue_accreditation(
            session,
            stack.chain,
            ORG_DID,
            Role.MANUFACTURER,
            valid_from=now - 10,
            valid_until=now + 3600,
        )
    await stack.writer().drain_once()
    before = {r.id: r for r in await stack.rows()}
    assert {r.status for r in before.values()} == {TxStatus.CONFIRMED}

    # A new process: a fresh in-memory chain, the same database and key store.
    fresh, _ = await connect_chain(stack.settings, stack.store)
    try:
        async with stack.db.unit_of_work() as session:
            addresses = await fresh.deploy_all(session)
        assert addresses == stack.chain.addresses
        assert await replay_confirmed(stack.db, fresh) == 4
        version, digest = await fresh.call("StatusListRegistry", "latest", issuer, list_id)
        assert (int(version), bytes(digest)) == (1, status_digest(list_id, 1, SHAPE, bytes(values)))
        assert await fresh.call("StatusListRegistry", "canPublish", issuer, stack.relayer)
        stack.chain = fresh
        after = {r.id: r for r in await stack.rows()}
        for row_id, row in after.items():
            receipt = await fresh.w3.eth.get_transaction_receipt(row.tx_hash)  # type: ignore[arg-type]
            assert receipt["blockHash"].to_0x_hex() == row.block_hash
            assert (
                row.tx_hash != before[row_id].tx_hash or row.block_hash != before[row_id].block_hash
            )
        # The rows point at the replayed transactions, so the writer sees no reorg.
        writer = stack.writer()
        await writer.drain_once()
        assert all(r.reorgs == 0 and r.status == TxStatus.CONFIRMED for r in await stack.rows())
        replayed_services = await stack.services()
        await replayed_services.mirror.follow_once()
        assert await replayed_services.accreditation.is_accredited(
            ORG_DID, ["BatteryPassportCredential"], datetime.fromtimestamp(now, UTC)
        )
    finally:
        await fresh.close()


@pytest.mark.anvil
async def test_the_mirror_rebuilds_after_a_reorg(anvil_stack: Stack) -> None:
    stack = anvil_stack
    services = await stack.services()
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    writer = stack.writer()
    await writer.drain_once()
    snapshot = await stack.rpc("evm_snapshot")
    await stack.enqueue("publishChanges", *publish_args(stack.relayer, list_id, 1, values, {3: 1}))
    await writer.drain_once()
    await services.mirror.follow_once()
    state = await services.mirror.latest_list(stack.relayer, list_id)
    assert state is not None
    assert state.version == 1

    await stack.rpc("evm_revert", snapshot)
    await stack.rpc("evm_mine")
    await stack.rpc("evm_mine")  # the replacement branch is longer than the dropped one
    await services.mirror.follow_once()
    state = await services.mirror.latest_list(stack.relayer, list_id)
    assert state is not None
    assert state.version == 0  # the dropped publish is gone from the mirror too

    await writer.drain_once()  # the outbox re-sends it
    await services.mirror.follow_once()
    state = await services.mirror.latest_list(stack.relayer, list_id)
    assert state is not None
    assert state.version == 1
    assert state.digest == status_digest(list_id, 1, SHAPE, bytes(values))
