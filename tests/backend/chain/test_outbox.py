"""The transaction outbox on both chains: ordering, receipts, typed errors, one writer."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account

from backend.chain.client import ChainClient
from backend.chain.errors import (
    InsufficientFundsError,
    NotAuthorisedError,
    NotLeaderError,
    UnknownListError,
    WrongChainError,
)
from backend.chain.models import TxStatus
from contracts.status import ListShape, pack_changes, status_digest
from tests.backend.chain.conftest import Stack, new_list_id

SHAPE = ListShape(length=131_072, entry_size=1)


def publish_args(
    issuer: str, list_id: bytes, version: int, values: bytearray, changes: dict[int, int]
) -> list[object]:
    for index, value in changes.items():
        values[index] = value
    digest = status_digest(list_id, version, SHAPE, bytes(values))
    return [
        issuer,
        "0x" + list_id.hex(),
        version,
        "0x" + digest.hex(),
        "0x" + pack_changes(changes, SHAPE).hex(),
    ]


async def test_rows_are_sent_in_order_and_receipts_recorded(stack: Stack) -> None:
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    created = await stack.enqueue(
        "createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1
    )
    first = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 1, values, {7: 1})
    )
    second = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 2, values, {3: 1, 70_000: 1})
    )
    writer = stack.writer()
    assert await writer.drain_once() == 3

    rows = [await stack.row(i) for i in (created, first, second)]
    assert [r.status for r in rows] == [TxStatus.CONFIRMED] * 3
    nonces = [r.nonce or 0 for r in rows]
    assert nonces == sorted(nonces)
    assert len(set(nonces)) == 3
    blocks = [r.block_number or 0 for r in rows]
    assert blocks == sorted(blocks)
    for row in rows:
        assert row.gas_used
        assert row.gas_used > 21_000
        assert row.block_hash
        assert row.tx_hash in row.tried_hashes
        assert row.gas_limit
        assert row.gas_limit > row.gas_used
    version, digest = await stack.latest(stack.relayer, list_id)
    assert version == 2
    assert digest == status_digest(list_id, 2, SHAPE, bytes(values))


async def test_unknown_list_is_a_typed_error_and_a_failed_row(stack: Stack) -> None:
    _, list_id = new_list_id()
    with pytest.raises(UnknownListError) as caught:
        await stack.chain.call("StatusListRegistry", "getList", stack.relayer, list_id)
    assert caught.value.name == "ListNotFound"
    row_id = await stack.enqueue(
        "publishChanges", *publish_args(stack.relayer, list_id, 1, bytearray(SHAPE.length), {1: 1})
    )
    assert await stack.writer().drain_once() == 1
    row = await stack.row(row_id)
    assert row.status == TxStatus.FAILED
    assert row.error_code == "ListNotFound"
    assert row.nonce is None  # refused at gas estimation: nothing was sent, no nonce spent


async def test_index_out_of_range_is_refused_by_the_registry(stack: Stack) -> None:
    _, list_id = new_list_id()
    small = ListShape(length=8, entry_size=1)  # one-byte records: index << 1 | value
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), small.length, 1)
    values = bytearray(small.length)
    values[1] = 1
    digest = status_digest(list_id, 1, small, bytes(values))
    # Index 9 in an 8-entry list: hand-packed, the encoder would refuse it before the chain.
    bad = await stack.enqueue(
        "publishChanges", stack.relayer, "0x" + list_id.hex(), 1, "0x" + digest.hex(), "0x13"
    )
    await stack.writer().drain_once()
    row = await stack.row(bad)
    assert row.status == TxStatus.FAILED
    assert row.error_code == "IndexOutOfRange"
    assert "index=9" in (row.error or "")


async def test_only_the_issuer_or_its_delegate_publishes(stack: Stack) -> None:
    stranger = Account.create().address
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", stranger, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.writer().drain_once()
    row = await stack.row(row_id)
    assert row.status == TxStatus.FAILED
    assert row.error_code == "NotAuthorised"
    fn = stack.chain.contract("StatusListRegistry").functions.createList(
        stranger, list_id, SHAPE.length, 1
    )
    try:
        await fn.call({"from": stack.relayer})
    except Exception as exc:
        error = stack.chain.decode_revert("StatusListRegistry", exc, "createList")
    else:
        pytest.fail("createList for another issuer did not revert")
    assert isinstance(error, NotAuthorisedError)
    assert error.args_["issuer"] == stranger


async def test_only_the_city_root_accredits(stack: Stack) -> None:
    subject = "0x" + bytes(12).hex() + Account.create().address[2:].lower()
    # The relayer is not a root: its accreditation is refused with NotRoot.
    async with stack.db.unit_of_work() as session:
        from backend.chain.outbox import enqueue

        enqueue(
            session,
            contract="IssuerRegistry",
            function="accredit",
            args=[subject, 2, 0, 2**40],
            sender=stack.relayer,
        )
        assert stack.chain.city_root is not None
        enqueue(
            session,
            contract="IssuerRegistry",
            function="accredit",
            args=[subject, 2, 0, 2**40],
            sender=stack.chain.city_root,
        )
    await stack.writer().drain_once()
    refused, accepted = await stack.rows()
    assert refused.status == TxStatus.FAILED
    assert refused.error_code == "NotRoot"
    assert accepted.status == TxStatus.CONFIRMED


async def test_insufficient_funds_is_typed_and_the_row_waits(stack: Stack) -> None:
    poor = Account.create()
    stack.chain.add_signer(poor)
    _, list_id = new_list_id()
    async with stack.db.unit_of_work() as session:
        from backend.chain.outbox import enqueue

        enqueue(
            session,
            contract="StatusListRegistry",
            function="createList",
            args=[poor.address, "0x" + list_id.hex(), SHAPE.length, 1],
            sender=poor.address,
        )
    writer = stack.writer()
    with pytest.raises(InsufficientFundsError) as caught:
        await writer.drain_once()
    assert caught.value.account == poor.address
    (row,) = await stack.rows()
    assert row.status == TxStatus.PENDING
    assert row.error_code == "insufficient_funds"
    await stack.chain.fund(poor.address)
    assert await writer.drain_once() == 1
    (row,) = await stack.rows()
    assert row.status == TxStatus.CONFIRMED
    assert (await stack.latest(poor.address, list_id))[0] == 0


async def test_wrong_chain_id_is_refused(stack: Stack) -> None:
    url = stack.settings.chain_rpc_url
    with pytest.raises(WrongChainError):
        await ChainClient.connect(url, stack.chain.relayer, stack.chain.chain_id + 1)


async def test_two_writers_started_at_once_one_sends(stack: Stack) -> None:
    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    for version in range(1, 6):
        await stack.enqueue(
            "publishChanges", *publish_args(stack.relayer, list_id, version, values, {version: 1})
        )
    first, second = stack.writer(), stack.writer()
    tasks = [asyncio.create_task(w.run_forever()) for w in (first, second)]
    try:
        for _ in range(400):
            rows = await stack.rows()
            if all(r.status == TxStatus.CONFIRMED for r in rows):
                break
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    rows = await stack.rows()
    assert [r.status for r in rows] == [TxStatus.CONFIRMED] * 6
    assert sorted([first.broadcasts, second.broadcasts]) == [0, 6]
    assert all(r.attempts == 1 and len(r.tried_hashes) == 1 for r in rows)
    assert (await stack.latest(stack.relayer, list_id))[0] == 5


async def test_a_second_writer_is_not_leader_while_the_first_holds_the_lock(stack: Stack) -> None:
    first, second = stack.writer(), stack.writer()
    assert await first.hold_lock()
    with pytest.raises(NotLeaderError):
        await second.drain_once()
    await first.release_lock()
    assert await second.drain_once() == 0
