"""The transaction outbox: chain writes are rows first, then sent in order by one writer.

A mutation that changes chain state only *enqueues* a row inside its own database
transaction, so a rolled-back mutation leaves no chain write behind, and a committed one can
never lose its write: if the node is down, the row waits. One writer at a time (a Redis lock,
so several API replicas are safe) signs and sends rows in id order, keeps the signed bytes so a
transaction dropped by a restart or a reorg is re-broadcast, and marks rows confirmed once
their receipt is buried under `confirmations` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime
from typing import Any

import structlog
from eth_tester.exceptions import TransactionFailed
from eth_typing import HexStr
from redis.asyncio import Redis
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound

from backend.chain.client import ChainClient
from backend.chain.models import ChainTransaction, TxStatus
from backend.kit.db import Database

log = structlog.get_logger("bpp.chain.outbox")

WRITER_LOCK_KEY = "bpp:chain:writer-lock"
_LOCK_TTL_MS = 15_000
_REFRESH_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def enqueue(
    session: AsyncSession,
    *,
    contract: str,
    function: str,
    args: list[Any],
    sender: str,
    urgent: bool = False,
) -> ChainTransaction:
    """Record a chain write inside the caller's unit of work (sent after it commits)."""
    row = ChainTransaction(
        contract=contract, function=function, args=args, sender=sender, urgent=urgent
    )
    session.add(row)
    return row


class OutboxWriter:
    def __init__(
        self,
        db: Database,
        chain: ChainClient,
        redis: Redis,
        *,
        confirmations: int = 0,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.db = db
        self.chain = chain
        self.redis = redis
        self.confirmations = confirmations
        self.poll_interval_s = poll_interval_s
        self._token = secrets.token_hex(16)
        self._wakeup = asyncio.Event()
        self._draining = asyncio.Lock()

    def wake(self) -> None:
        self._wakeup.set()

    async def run_forever(self) -> None:
        """Drain the outbox whenever woken or every poll interval, while holding the lock."""
        try:
            while True:
                if await self._hold_lock():
                    try:
                        await self.drain_once()
                    except Exception:
                        log.exception("outbox drain failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_interval_s)
                self._wakeup.clear()
        finally:
            await self.redis.eval(_RELEASE_LUA, 1, WRITER_LOCK_KEY, self._token)

    async def _hold_lock(self) -> bool:
        acquired = await self.redis.set(WRITER_LOCK_KEY, self._token, nx=True, px=_LOCK_TTL_MS)
        if acquired:
            return True
        refreshed = await self.redis.eval(
            _REFRESH_LUA, 1, WRITER_LOCK_KEY, self._token, _LOCK_TTL_MS
        )
        return bool(refreshed)

    async def drain_once(self) -> int:
        """Send and settle every open row in order; returns how many rows were settled.

        Safe to call while the background loop runs: drains in this process take turns.
        """
        settled = 0
        async with self._draining:
            while True:
                async with self.db.read_only() as session:
                    row = (
                        await session.exec(
                            select(ChainTransaction)
                            .where(
                                col(ChainTransaction.status).in_([TxStatus.PENDING, TxStatus.SENT])
                            )
                            .order_by(col(ChainTransaction.id))
                            .limit(1)
                        )
                    ).first()
                if row is None:
                    return settled
                await self._settle(row)
                settled += 1

    async def _settle(self, row: ChainTransaction) -> None:
        if row.status == TxStatus.PENDING:
            row = await self._sign_and_record(row)
            if row.status == TxStatus.FAILED:
                return
        await self._broadcast_and_confirm(row)

    async def _sign_and_record(self, row: ChainTransaction) -> ChainTransaction:
        function = self.chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        defaults = await self.chain.transaction_defaults(row.sender)
        try:
            tx = await function.build_transaction(defaults)
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            return await self._mark(row, status=TxStatus.FAILED, error=f"reverted: {exc}")
        tx["gas"] = int(tx["gas"] * 1.2) + 10_000
        raw = self.chain.sign(tx)
        tx_hash = self.chain.w3.keccak(raw).to_0x_hex()
        # The signed bytes are durable before they leave: a crash after this point re-sends
        # exactly the same transaction instead of a second one.
        return await self._mark(
            row,
            status=TxStatus.SENT,
            nonce=int(tx["nonce"]),
            tx_hash=tx_hash,
            raw_tx=raw.to_0x_hex(),
            sent_at=datetime.now(UTC),
            attempts=row.attempts + 1,
        )

    async def _broadcast_and_confirm(self, row: ChainTransaction) -> None:
        assert row.tx_hash is not None
        assert row.raw_tx is not None
        receipt = await self._receipt(row.tx_hash)
        if receipt is None:
            try:
                await self.chain.w3.eth.send_raw_transaction(HexStr(row.raw_tx))
            except ValueError as exc:
                if "nonce too low" in str(exc).lower():
                    # The nonce was used by a transaction we no longer see: sign afresh.
                    await self._mark(row, status=TxStatus.PENDING, error=str(exc))
                    return
                if "already known" not in str(exc).lower():
                    raise
            receipt = await self.chain.w3.eth.wait_for_transaction_receipt(
                HexStr(row.tx_hash), timeout=120
            )
        block = int(receipt["blockNumber"])
        while await self.chain.block_number() < block + self.confirmations:  # noqa: ASYNC110 - polling a remote node
            await asyncio.sleep(self.poll_interval_s)
        if await self._receipt(row.tx_hash) is None:
            return  # reorged away while we waited: the next drain re-broadcasts it
        if int(receipt["status"]) != 1:
            await self._mark(row, status=TxStatus.FAILED, block_number=block, error="reverted")
            return
        await self._mark(
            row, status=TxStatus.CONFIRMED, block_number=block, confirmed_at=datetime.now(UTC)
        )
        log.info("chain write confirmed", id=row.id, function=row.function, block=block)

    async def _receipt(self, tx_hash: str) -> Any:
        try:
            return await self.chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:
            return None

    async def _mark(self, row: ChainTransaction, **changes: Any) -> ChainTransaction:
        async with self.db.unit_of_work() as session:
            fresh = await session.get(ChainTransaction, row.id)
            assert fresh is not None
            for name, value in changes.items():
                setattr(fresh, name, value)
            session.add(fresh)
        return fresh


async def replay_confirmed(db: Database, chain: ChainClient) -> int:
    """Rebuild a fresh embedded chain: resend every confirmed write in its original order."""
    async with db.read_only() as session:
        rows = list(
            await session.exec(
                select(ChainTransaction)
                .where(ChainTransaction.status == TxStatus.CONFIRMED)
                .order_by(col(ChainTransaction.id))
            )
        )
    for row in rows:
        function = chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        tx = await function.build_transaction(await chain.transaction_defaults(row.sender))
        receipt = await chain.send_signed(tx)
        if int(receipt["status"]) != 1:
            raise RuntimeError(f"replay of chain write {row.id} reverted")
    async with db.unit_of_work() as session:
        # Writes signed for the previous (now vanished) chain are signed afresh.
        stale = await session.exec(
            select(ChainTransaction).where(ChainTransaction.status == TxStatus.SENT)
        )
        for row in stale:
            row.status = TxStatus.PENDING
            session.add(row)
    return len(rows)
