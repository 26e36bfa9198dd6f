"""Faults on anvil: stuck transactions, reorgs, a node stopped mid-batch and restarted."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from eth_typing import HexStr

from backend.chain.errors import NodeUnavailableError
from backend.chain.models import TxStatus
from backend.chain.outbox import MAX_FEE_MULTIPLE
from contracts.status import status_digest
from tests.backend.chain.conftest import Stack, new_list_id, open_stack
from tests.backend.chain.test_outbox import SHAPE, publish_args
from tests.services import anvil_node, free_port

pytestmark = pytest.mark.anvil


async def test_a_stuck_transaction_is_replaced_with_higher_fees(anvil_stack: Stack) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.rpc("evm_setAutomine", False)
    writer = stack.writer(stuck_after_s=3600)
    await writer.step()
    sent = await stack.row(row_id)
    assert sent.status == TxStatus.SENT
    await writer.step()  # not stuck yet: re-broadcast only
    assert (await stack.row(row_id)).tried_hashes == sent.tried_hashes

    writer.stuck_after_s = 0
    await writer.step()
    bumped = await stack.row(row_id)
    assert bumped.status == TxStatus.SENT
    assert len(bumped.tried_hashes) == 2
    assert bumped.nonce == sent.nonce
    assert sent.max_fee_per_gas
    assert bumped.max_fee_per_gas
    assert sent.max_priority_fee_per_gas
    assert bumped.max_priority_fee_per_gas
    assert bumped.max_fee_per_gas * 10 >= sent.max_fee_per_gas * 11
    assert bumped.max_priority_fee_per_gas * 10 >= sent.max_priority_fee_per_gas * 11

    await stack.rpc("evm_mine")
    await writer.step()
    mined = await stack.row(row_id)
    assert mined.status == TxStatus.CONFIRMED
    assert mined.tx_hash == bumped.tried_hashes[-1]
    assert (await stack.latest(stack.relayer, list_id))[0] == 0


async def test_whichever_tried_hash_mines_settles_the_row(anvil_stack: Stack) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.rpc("evm_setAutomine", False)
    writer = stack.writer(stuck_after_s=3600)
    await writer.step()
    original = await stack.row(row_id)
    assert original.raw_tx is not None
    writer.stuck_after_s = 0
    await writer.step()
    replacement = await stack.row(row_id)
    writer.stuck_after_s = 3600
    # The replacement leaves the pool and the original comes back (another node kept it).
    await stack.rpc("anvil_dropTransaction", replacement.tried_hashes[-1])
    await stack.chain.w3.eth.send_raw_transaction(HexStr(original.raw_tx))
    await stack.rpc("evm_mine")
    await writer.step()
    settled = await stack.row(row_id)
    assert settled.status == TxStatus.CONFIRMED
    assert settled.tx_hash == original.tried_hashes[0]
    assert settled.raw_tx == original.raw_tx  # kept for a re-send after a reorg


@pytest.mark.parametrize("fork", ["revert", "reorg"])
async def test_a_publish_dropped_by_a_reorg_is_sent_again(anvil_stack: Stack, fork: str) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    writer = stack.writer()
    await writer.drain_once()
    snapshot = await stack.rpc("evm_snapshot")
    publish = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 1, values, {42: 1})
    )
    await writer.drain_once()
    mined = await stack.row(publish)
    assert mined.status == TxStatus.CONFIRMED
    assert (await stack.latest(stack.relayer, list_id))[0] == 1

    if fork == "revert":
        await stack.rpc("evm_revert", snapshot)
    else:
        await stack.rpc("anvil_reorg", 1, [])  # the last block is replaced by an empty one
    assert (await stack.latest(stack.relayer, list_id))[0] == 0

    await writer.drain_once()
    again = await stack.row(publish)
    assert again.status == TxStatus.CONFIRMED
    assert again.reorgs == 1
    assert again.tx_hash == mined.tx_hash  # the same signed bytes, re-broadcast
    assert await stack.latest(stack.relayer, list_id) == (
        1,
        status_digest(list_id, 1, SHAPE, bytes(values)),
    )
    rows = await stack.rows()
    assert [r.status for r in rows] == [TxStatus.CONFIRMED] * 2


async def test_node_stopped_mid_batch_loses_and_doubles_nothing(
    tmp_path: Path, valkey_url: str
) -> None:
    state = tmp_path / "anvil-state.json"
    port = free_port()
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    node: AbstractContextManager[str] | None = anvil_node(state_file=state, port=port)
    assert node is not None
    url = node.__enter__()
    try:
        async with open_stack(tmp_path, valkey_url, url, "anvil") as stack:
            await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
            for version in range(1, 5):
                await stack.enqueue(
                    "publishChanges",
                    *publish_args(stack.relayer, list_id, version, values, {version * 11: 1}),
                )
            writer = stack.writer(stuck_after_s=3600)
            nonce_before = await stack.chain.w3.eth.get_transaction_count(
                stack.chain.relayer.address
            )
            await writer.step()  # createList sent and mined
            await writer.step()  # recorded; version 1 sent and mined
            await stack.rpc("evm_setAutomine", False)
            await writer.step()  # version 1 recorded; version 2 sent, waits in the pool
            rows = await stack.rows()
            assert [r.status for r in rows][:3] == [
                TxStatus.CONFIRMED,
                TxStatus.CONFIRMED,
                TxStatus.SENT,
            ]
            node.__exit__(None, None, None)  # anvil writes its chain (not its pool) to FILE
            node = None
            with pytest.raises(NodeUnavailableError):
                await writer.step()
            node = anvil_node(state_file=state, port=port)
            node.__enter__()
            await writer.drain_once()
            rows = await stack.rows()
            assert [r.status for r in rows] == [TxStatus.CONFIRMED] * 5
            assert all(r.attempts == 1 for r in rows)
            assert await stack.latest(stack.relayer, list_id) == (
                4,
                status_digest(list_id, 4, SHAPE, bytes(values)),
            )
            # One transaction per row: nothing doubled.
            nonce_after = await stack.chain.w3.eth.get_transaction_count(
                stack.chain.relayer.address
            )
            assert nonce_after - nonce_before == 5
    finally:
        if node is not None:
            node.__exit__(None, None, None)


async def test_fee_bumps_stop_at_the_cap(anvil_stack: Stack) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.rpc("evm_setAutomine", False)
    writer = stack.writer(stuck_after_s=0)
    for _ in range(40):
        await writer.step()
    row = await stack.row(row_id)
    fresh_max_fee, _ = await stack.chain.fee_defaults()
    assert row.max_fee_per_gas is not None
    assert row.max_fee_per_gas < MAX_FEE_MULTIPLE * fresh_max_fee * 9 // 8 + 1
    assert 2 < len(row.tried_hashes) < 40  # bumped, then held at the cap
    await stack.rpc("evm_mine")
    await writer.drain_once()
    assert (await stack.row(row_id)).status == TxStatus.CONFIRMED


async def test_a_writer_that_died_after_signing_is_succeeded_without_a_second_transaction(
    anvil_stack: Stack,
) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    dead = stack.writer()
    assert await dead.hold_lock()
    # Signed and recorded, then the process died before broadcasting (and its lock expired).
    await dead._sign_and_record(await stack.row(row_id))
    await dead.release_lock()
    signed = await stack.row(row_id)
    assert signed.status == TxStatus.SENT
    nonce_before = await stack.chain.w3.eth.get_transaction_count(stack.chain.relayer.address)

    successor = stack.writer()
    await successor.drain_once()
    row = await stack.row(row_id)
    assert row.status == TxStatus.CONFIRMED
    assert row.tx_hash == signed.tx_hash
    assert row.attempts == 1
    nonce_after = await stack.chain.w3.eth.get_transaction_count(stack.chain.relayer.address)
    assert nonce_after == nonce_before + 1


async def test_a_row_built_on_a_reorged_row_waits_instead_of_failing(
    anvil_stack: Stack,
) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    writer = stack.writer()
    await writer.drain_once()
    snapshot = await stack.rpc("evm_snapshot")
    first = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 1, values, {1: 1})
    )
    await writer.drain_once()
    await stack.rpc("evm_revert", snapshot)  # version 1 is gone; the writer has not looked yet
    second = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 2, values, {2: 1})
    )
    assert await writer.hold_lock()
    # The race, made explicit: the next row is signed before the writer's reorg check ran.
    # Its gas estimate reverts (version 2 before 1), which must not fail the row.
    pending = await writer._sign_and_record(await stack.row(second))
    assert pending.status == TxStatus.PENDING
    assert (await stack.row(first)).status == TxStatus.SENT  # found by the same call
    await writer.drain_once()
    rows = {r.id: r for r in await stack.rows()}
    assert rows[first].status == rows[second].status == TxStatus.CONFIRMED
    assert (rows[first].block_number or 0) <= (rows[second].block_number or 0)
    assert (await stack.latest(stack.relayer, list_id))[0] == 2


async def test_a_row_signed_before_a_reorg_is_noticed_does_not_take_the_dropped_nonce(
    anvil_stack: Stack,
) -> None:
    stack = anvil_stack
    writer = stack.writer()
    snapshot = await stack.rpc("evm_snapshot")
    _, first_list = new_list_id()
    first = await stack.enqueue(
        "createList", stack.relayer, "0x" + first_list.hex(), SHAPE.length, 1
    )
    await writer.drain_once()
    await stack.rpc("evm_revert", snapshot)
    _, second_list = new_list_id()
    second = await stack.enqueue(
        "createList", stack.relayer, "0x" + second_list.hex(), SHAPE.length, 1
    )
    assert await writer.hold_lock()
    signed = await writer._sign_and_record(await stack.row(second))  # before any reorg check
    dropped = await stack.row(first)
    assert signed.status == TxStatus.SENT
    assert dropped.nonce is not None
    assert signed.nonce == dropped.nonce + 1  # queued behind the dropped row, not over it
    await writer.drain_once()
    rows = {r.id: r for r in await stack.rows()}
    assert rows[first].status == rows[second].status == TxStatus.CONFIRMED
    assert rows[first].nonce == dropped.nonce
    assert (await stack.latest(stack.relayer, second_list))[0] == 0


async def test_rows_are_confirmed_only_under_the_configured_depth(anvil_stack: Stack) -> None:
    stack = anvil_stack
    _, list_id = new_list_id()
    first = await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    _, other_list = new_list_id()
    second = await stack.enqueue(
        "createList", stack.relayer, "0x" + other_list.hex(), SHAPE.length, 1
    )
    writer = stack.writer(confirmations=2)
    for _ in range(4):
        await writer.step()
    rows = [await stack.row(first), await stack.row(second)]
    # Both mined (the second did not wait for the first's depth), neither buried yet.
    assert [r.status for r in rows] == [TxStatus.MINED, TxStatus.MINED]
    await stack.rpc("evm_mine")
    await writer.step()
    assert (await stack.row(first)).status == TxStatus.CONFIRMED  # two blocks on top of it
    assert (await stack.row(second)).status == TxStatus.MINED
    await stack.rpc("evm_mine")
    await writer.step()
    assert (await stack.row(second)).status == TxStatus.CONFIRMED
