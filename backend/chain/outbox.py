"""The transaction outbox: chain writes are rows first, then sent in order by one writer.

A mutation that changes chain state only *enqueues* a row inside its own database
transaction, so a rolled-back mutation leaves no chain write behind, and a committed one can
never lose its write: if the node is down, the row waits.

The writer (`OutboxWriter`), one at a time across every replica (a Redis lock with a token,
refreshed on every step):

- takes open rows in id order and sends the next one only when every earlier row is mined, so
  the nonce is simply the sender's next nonce on chain and a restart or a new leader needs no
  nonce bookkeeping of its own;
- estimates gas, signs, **stores the signed bytes and hash before broadcasting** (a crash or a
  node restart re-broadcasts exactly that transaction, never a second one), then broadcasts;
- re-signs a transaction stuck unmined for `stuck_after_s` with the same nonce and fees raised
  by 12.5 % (nodes require ≥ 10 %), up to `MAX_FEE_MULTIPLE` times a fresh transaction's fee,
  keeping every hash tried: whichever one mines settles the row;
- records the receipt (block, hash, gas used, price) and calls the row confirmed once it is
  buried under `confirmations` blocks;
- watches landed rows of the last `reorg_window` blocks: one whose receipt vanished or moved to
  another block hash is back to `sent` and re-broadcast (its nonce is free again); if its nonce
  was taken meanwhile, it is signed afresh;
- turns failures into typed errors: reverts decoded from the contracts' custom errors end the
  row (`failed`, with `error_code`), insufficient funds and node outages leave it waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from eth_tester.exceptions import TransactionFailed
from eth_typing import HexStr
from redis.asyncio import Redis
from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
)

from backend.chain.client import NODE_DOWN_EXCEPTIONS, ChainClient, is_insufficient_funds
from backend.chain.errors import (
    ChainRevertError,
    InsufficientFundsError,
    NodeUnavailableError,
    NotLeaderError,
)
from backend.chain.models import LANDED_STATUSES, OPEN_STATUSES, ChainTransaction, TxStatus
from backend.kit.db import Database
from backend.kit.models import as_utc

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
# A replacement must pay at least 10 % more (geth, Besu, anvil); 12.5 % leaves room for
# rounding and for nodes configured a little stricter.
FEE_BUMP_NUMERATOR, FEE_BUMP_DENOMINATOR = 9, 8
# Replacements stop at this multiple of what a new transaction would offer right now.
MAX_FEE_MULTIPLE = 10
_REVERT_EXCEPTIONS = (ContractCustomError, ContractLogicError, TransactionFailed)


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


def bumped(fee: int, floor: int) -> int:
    """A replacement fee: at least +12.5 % over `fee`, and at least today's `floor`."""
    return max(math.ceil(fee * FEE_BUMP_NUMERATOR / FEE_BUMP_DENOMINATOR), floor)


@dataclass(frozen=True, slots=True)
class StepResult:
    progressed: bool  # some row changed state
    open_rows: int  # rows still needing the writer after this step


class OutboxWriter:
    def __init__(
        self,
        db: Database,
        chain: ChainClient,
        redis: Redis,
        *,
        confirmations: int = 0,
        poll_interval_s: float = 1.0,
        stuck_after_s: float = 30.0,
        reorg_window: int = 128,
        lock_key: str = WRITER_LOCK_KEY,
    ) -> None:
        self.db = db
        self.chain = chain
        self.redis = redis
        self.confirmations = confirmations
        self.poll_interval_s = poll_interval_s
        self.stuck_after_s = stuck_after_s
        self.reorg_window = reorg_window
        self.lock_key = lock_key
        self.token = secrets.token_hex(16)
        self.broadcasts = 0  # transactions this writer signed and broadcast (tests, metrics)
        self._wakeup = asyncio.Event()
        self._stepping = asyncio.Lock()

    def wake(self) -> None:
        self._wakeup.set()

    # -- leadership --------------------------------------------------------------------------

    async def hold_lock(self) -> bool:
        """Take the writer lock, or refresh it if this writer already holds it."""
        if await self.redis.set(self.lock_key, self.token, nx=True, px=_LOCK_TTL_MS):
            return True
        refreshed = await self.redis.eval(_REFRESH_LUA, 1, self.lock_key, self.token, _LOCK_TTL_MS)
        return bool(refreshed)

    async def release_lock(self) -> None:
        await self.redis.eval(_RELEASE_LUA, 1, self.lock_key, self.token)

    # -- loops -------------------------------------------------------------------------------

    async def run_forever(self) -> None:
        """Step whenever woken or every poll interval, while holding the lock."""
        try:
            while True:
                try:
                    if await self.hold_lock():
                        while (await self.step()).progressed:
                            pass
                except (InsufficientFundsError, NodeUnavailableError) as exc:
                    log.warning("outbox waiting", reason=exc.message)
                except NotLeaderError:
                    pass
                except Exception:
                    log.exception("outbox step failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_interval_s)
                self._wakeup.clear()
        finally:
            with contextlib.suppress(Exception):
                await self.release_lock()

    async def drain_once(self, *, timeout_s: float = 120.0) -> int:
        """Step until no row is open; returns how many rows settled (confirmed or failed).

        Raises `NotLeaderError` when another writer holds the lock, the typed errors of a
        waiting row (`InsufficientFundsError`, `NodeUnavailableError`), and `TimeoutError`
        when rows are still open after `timeout_s`.
        """
        holder = await self.redis.get(self.lock_key)
        held_before = holder in (self.token, self.token.encode())
        before = await self._settled_count()
        deadline = time.monotonic() + timeout_s
        try:
            while True:
                result = await self.step()
                if result.open_rows == 0:
                    return await self._settled_count() - before
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{result.open_rows} outbox rows still open")
                if not result.progressed:
                    await asyncio.sleep(self.poll_interval_s)
        finally:
            if not held_before:
                # A one-off drain (a CLI, a test) hands the lock back; the loop keeps it.
                await self.release_lock()

    async def _settled_count(self) -> int:
        async with self.db.read_only() as session:
            rows = await session.exec(
                select(ChainTransaction.id).where(
                    col(ChainTransaction.status).in_([TxStatus.CONFIRMED, TxStatus.FAILED])
                )
            )
            return len(list(rows))

    async def step(self) -> StepResult:
        """One pass over the outbox: reorg check, then each open row in order as far as the
        order allows. Never waits for the chain beyond single requests."""
        async with self._stepping:
            if not await self.hold_lock():
                raise NotLeaderError("another writer holds the outbox lock")
            try:
                return await self._step()
            except NODE_DOWN_EXCEPTIONS as exc:
                raise NodeUnavailableError(f"no answer from the node: {exc}") from exc

    async def _step(self) -> StepResult:
        head = await self.chain.block_number()
        progressed = await self._check_reorgs(head)
        async with self.db.read_only() as session:
            rows = list(
                await session.exec(
                    select(ChainTransaction)
                    .where(col(ChainTransaction.status).in_(OPEN_STATUSES))
                    .order_by(col(ChainTransaction.id))
                )
            )
        open_rows = len(rows)
        for row in rows:
            status = TxStatus(row.status)
            if status is TxStatus.MINED:
                buried = head >= (row.block_number or 0) + self.confirmations
                if buried and await self._confirm(row):
                    open_rows -= 1
                    progressed = True
                continue
            if status is TxStatus.SENT:
                changed, settled = await self._advance_sent(row)
                progressed |= changed
                open_rows -= settled
                if not settled:
                    break  # later rows wait until this one is mined
                continue
            # PENDING: sign and send, then give it time to be mined.
            signed = await self._sign_and_record(row)
            progressed = True
            if signed.status == TxStatus.FAILED:
                open_rows -= 1
                continue
            if signed.status == TxStatus.SENT:
                await self._broadcast(signed)
            break
        return StepResult(progressed=progressed, open_rows=open_rows)

    # -- signing -----------------------------------------------------------------------------

    async def _sign_and_record(self, row: ChainTransaction) -> ChainTransaction:
        function = self.chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        self.chain.signer_for(row.sender)  # NoSignerError before any chain work
        defaults = await self.chain.transaction_defaults(row.sender)
        defaults["nonce"] = max(int(defaults["nonce"]), await self._next_local_nonce(row.sender))
        try:
            tx = await function.build_transaction(defaults)  # estimates gas
        except _REVERT_EXCEPTIONS as exc:
            if await self._check_reorgs(await self.chain.block_number()):
                # A reorg just dropped an earlier row this one builds on (version n before
                # n + 1): not a refusal; retry once the earlier row is back on chain.
                return row
            error = self.chain.decode_revert(row.contract, exc, f"{row.contract}.{row.function}")
            log.warning("chain write refused", id=row.id, error=error.message)
            return await self._mark(
                row,
                status=TxStatus.FAILED,
                error=error.message,
                error_code=error.chain_code.value if error.name is None else error.name,
            )
        except Exception as exc:
            # eth-tester raises its own ValidationError, JSON-RPC nodes an RPC error, and
            # anvil estimates an empty account as "out of gas": ask the balance to be sure.
            if is_insufficient_funds(exc) or await self._cannot_pay(row.sender, defaults):
                await self._mark(row, error=str(exc), error_code="insufficient_funds")
                raise InsufficientFundsError(
                    f"{row.sender} cannot pay for gas of outbox row {row.id}", account=row.sender
                ) from exc
            raise
        tx["gas"] = int(tx["gas"] * 1.2) + 10_000
        return await self._record_signed(row, tx, expect=TxStatus.PENDING)

    async def _next_local_nonce(self, sender: str) -> int:
        """One past the newest nonce our recent rows hold for `sender`.

        Normally the node's count is ahead of it. It is not when a reorg dropped a row the
        reorg check has not seen yet: the new row then waits behind that row's nonce instead
        of taking it (which would put a later status version before an earlier one).
        """
        head = await self.chain.block_number()
        async with self.db.read_only() as session:
            rows = await session.exec(
                select(ChainTransaction.nonce).where(
                    ChainTransaction.sender == sender,
                    col(ChainTransaction.nonce).is_not(None),
                    col(ChainTransaction.status).in_(LANDED_STATUSES),
                    col(ChainTransaction.block_number) >= head - self.reorg_window,
                )
            )
            nonces = [nonce for nonce in rows if nonce is not None]
        return max(nonces) + 1 if nonces else 0

    async def _cannot_pay(self, sender: str, defaults: dict[str, Any]) -> bool:
        balance = await self.chain.w3.eth.get_balance(self.chain.w3.to_checksum_address(sender))
        return int(balance) < int(defaults["maxFeePerGas"]) * 21_000

    async def _record_signed(
        self, row: ChainTransaction, tx: dict[str, Any], *, expect: TxStatus
    ) -> ChainTransaction:
        raw = self.chain.sign(tx)
        tx_hash = self.chain.w3.keccak(raw).to_0x_hex()
        # The signed bytes are durable before they leave: a crash after this point re-sends
        # exactly the same transaction instead of a second one. The update is conditional on
        # the row's state, so two writers racing for one row cannot both record (and send).
        return await self._mark(
            row,
            expect=expect,
            status=TxStatus.SENT,
            nonce=int(tx["nonce"]),
            tx_hash=tx_hash,
            raw_tx=raw.to_0x_hex(),
            tried_hashes=[*row.tried_hashes, tx_hash] if expect is TxStatus.SENT else [tx_hash],
            gas_limit=int(tx["gas"]),
            max_fee_per_gas=int(tx["maxFeePerGas"]),
            max_priority_fee_per_gas=int(tx["maxPriorityFeePerGas"]),
            sent_at=datetime.now(UTC),
            attempts=row.attempts + 1,
            error=None,
            error_code=None,
        )

    async def _broadcast(self, row: ChainTransaction) -> None:
        assert row.raw_tx is not None
        try:
            await self.chain.w3.eth.send_raw_transaction(HexStr(row.raw_tx))
            self.broadcasts += 1
        except Exception as exc:
            if isinstance(exc, NODE_DOWN_EXCEPTIONS):
                raise
            text = str(exc).lower()
            if "already known" in text or "already imported" in text:
                return
            if "underpriced" in text:
                return  # an earlier hash of this nonce is in the pool: it may still mine
            if is_insufficient_funds(exc):
                # Refused by the node, so it exists nowhere: sign afresh once funded.
                await self._mark(
                    row,
                    status=TxStatus.PENDING,
                    raw_tx=None,
                    tx_hash=None,
                    nonce=None,
                    error=str(exc),
                    error_code="insufficient_funds",
                )
                raise InsufficientFundsError(
                    f"{row.sender} cannot pay for gas of outbox row {row.id}", account=row.sender
                ) from exc
            if "nonce too low" in text:
                return  # the next step finds out whether one of our hashes took the nonce
            raise

    # -- waiting for the chain ---------------------------------------------------------------

    async def _advance_sent(self, row: ChainTransaction) -> tuple[bool, int]:
        """`(changed, settled)` for a sent row: record a receipt, re-broadcast, or bump."""
        receipt = await self._find_receipt(row)
        if receipt is not None:
            return True, await self._record_receipt(row, receipt)
        assert row.nonce is not None
        used = await self.chain.w3.eth.get_transaction_count(
            self.chain.w3.to_checksum_address(row.sender), "latest"
        )
        if used > row.nonce:
            # The nonce is mined, but by none of our hashes (read the receipts again in case
            # ours was mined between the two requests).
            receipt = await self._find_receipt(row)
            if receipt is not None:
                return True, await self._record_receipt(row, receipt)
            log.warning("nonce taken by another transaction; signing afresh", id=row.id)
            await self._mark(
                row,
                status=TxStatus.PENDING,
                nonce=None,
                raw_tx=None,
                tx_hash=None,
                error=f"nonce {row.nonce} was used by another transaction",
                error_code="nonce_taken",
            )
            return True, 0
        sent_at = as_utc(row.sent_at) if row.sent_at else datetime.now(UTC)
        if (datetime.now(UTC) - sent_at).total_seconds() >= self.stuck_after_s:
            fresh_max_fee, _ = await self.chain.fee_defaults()
            if (row.max_fee_per_gas or 0) < MAX_FEE_MULTIPLE * fresh_max_fee:
                row = await self._bump(row)
                await self._broadcast(row)
                return True, 0
            # Bumping forever would pay any price: past the cap it waits (and says so).
            log.warning("stuck transaction at the fee cap; waiting", id=row.id, nonce=row.nonce)
        # Not mined yet: make sure the node has it (a restarted node forgets its pool).
        await self._broadcast(row)
        return False, 0

    async def _find_receipt(self, row: ChainTransaction) -> Any:
        hashes = list(dict.fromkeys([*reversed(row.tried_hashes), row.tx_hash]))
        for tx_hash in hashes:
            if tx_hash is None:
                continue
            try:
                return await self.chain.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                continue
        return None

    async def _bump(self, row: ChainTransaction) -> ChainTransaction:
        assert row.nonce is not None
        max_fee, tip = await self.chain.fee_defaults()
        function = self.chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        new_tip = bumped(row.max_priority_fee_per_gas or tip, tip)
        new_max = max(bumped(row.max_fee_per_gas or max_fee, max_fee), new_tip)
        tx = await function.build_transaction(
            {
                "from": self.chain.w3.to_checksum_address(row.sender),
                "chainId": self.chain.chain_id,
                "nonce": row.nonce,
                "gas": row.gas_limit or 1_000_000,
                "maxFeePerGas": new_max,
                "maxPriorityFeePerGas": new_tip,
            }
        )
        log.warning(
            "transaction stuck; replacing with higher fees",
            id=row.id,
            nonce=row.nonce,
            max_fee=new_max,
            tip=new_tip,
        )
        return await self._record_signed(row, tx, expect=TxStatus.SENT)

    async def _record_receipt(self, row: ChainTransaction, receipt: Any) -> int:
        """Store a receipt; returns 1 when this settles the row (confirmed now or failed)."""
        block = int(receipt["blockNumber"])
        mined_hash = receipt["transactionHash"].to_0x_hex()
        common: dict[str, Any] = {
            "tx_hash": mined_hash,
            "block_number": block,
            "block_hash": receipt["blockHash"].to_0x_hex(),
            "gas_used": int(receipt["gasUsed"]),
            "effective_gas_price": int(receipt.get("effectiveGasPrice", 0) or 0),
            "mined_at": datetime.now(UTC),
        }
        if mined_hash != row.tx_hash:
            # An earlier hash won: keep its raw bytes for a re-send after a reorg.
            common["raw_tx"] = (
                await self.chain.w3.eth.get_raw_transaction(HexStr(mined_hash))
            ).to_0x_hex()
        if int(receipt["status"]) != 1:
            error = await self._revert_reason(row, block)
            await self._mark(
                row,
                status=TxStatus.FAILED,
                error=error.message,
                error_code=error.name or error.chain_code.value,
                **common,
            )
            return 1
        if self.confirmations == 0:
            await self._mark(
                row, status=TxStatus.CONFIRMED, confirmed_at=datetime.now(UTC), **common
            )
            log.info("chain write confirmed", id=row.id, function=row.function, block=block)
            return 1
        await self._mark(row, status=TxStatus.MINED, **common)
        return 0

    async def _revert_reason(self, row: ChainTransaction, block: int) -> ChainRevertError:
        """Re-run the reverted call on the state before its block to decode the error."""
        function = self.chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        try:
            await function.call({"from": row.sender}, block_identifier=max(block - 1, 0))
        except _REVERT_EXCEPTIONS as exc:
            return self.chain.decode_revert(row.contract, exc, f"{row.contract}.{row.function}")
        except Exception as exc:  # the reason is a courtesy; the revert itself is certain
            log.warning("revert reason unavailable", id=row.id, error=str(exc))
        return ChainRevertError(
            f"{row.contract}.{row.function} reverted in block {block}", name=None, args={}
        )

    async def _confirm(self, row: ChainTransaction) -> bool:
        receipt = await self._find_receipt(row)
        if receipt is None or receipt["blockHash"].to_0x_hex() != row.block_hash:
            return False  # the reorg check puts it back on the next step
        await self._mark(row, status=TxStatus.CONFIRMED, confirmed_at=datetime.now(UTC))
        log.info("chain write confirmed", id=row.id, function=row.function, block=row.block_number)
        return True

    async def _check_reorgs(self, head: int) -> bool:
        """Put back every landed row of the last `reorg_window` blocks that a reorg dropped."""
        async with self.db.read_only() as session:
            rows = list(
                await session.exec(
                    select(ChainTransaction)
                    .where(
                        col(ChainTransaction.status).in_(LANDED_STATUSES),
                        col(ChainTransaction.block_number) >= head - self.reorg_window,
                    )
                    .order_by(col(ChainTransaction.id))
                )
            )
        dropped = False
        for row in rows:
            assert row.tx_hash is not None
            try:
                receipt = await self.chain.w3.eth.get_transaction_receipt(HexStr(row.tx_hash))
            except TransactionNotFound:
                receipt = None
            if receipt is not None and receipt["blockHash"].to_0x_hex() == row.block_hash:
                continue
            if receipt is not None:
                # Re-mined in another block by the reorg itself: just follow it.
                await self._mark(
                    row,
                    block_number=int(receipt["blockNumber"]),
                    block_hash=receipt["blockHash"].to_0x_hex(),
                    reorgs=row.reorgs + 1,
                    status=TxStatus.MINED if self.confirmations else row.status,
                )
            else:
                log.warning("chain write dropped by a reorg; re-sending", id=row.id)
                await self._mark(
                    row,
                    status=TxStatus.SENT,
                    block_number=None,
                    block_hash=None,
                    confirmed_at=None,
                    mined_at=None,
                    reorgs=row.reorgs + 1,
                    # Re-broadcast at once (the stuck timer starts again).
                    sent_at=datetime.now(UTC),
                )
            dropped = True
        return dropped

    # -- bookkeeping -------------------------------------------------------------------------

    async def _mark(
        self, row: ChainTransaction, *, expect: TxStatus | None = None, **changes: Any
    ) -> ChainTransaction:
        async with self.db.unit_of_work() as session:
            if expect is not None:
                result = await session.exec(
                    update(ChainTransaction)
                    .where(
                        col(ChainTransaction.id) == row.id,
                        col(ChainTransaction.status) == expect,
                        col(ChainTransaction.attempts) == row.attempts,
                    )
                    .values(**changes)
                )
                if result.rowcount != 1:
                    raise NotLeaderError(f"outbox row {row.id} was changed by another writer")
            fresh = await session.get(ChainTransaction, row.id, populate_existing=True)
            assert fresh is not None
            if expect is None:
                for name, value in changes.items():
                    setattr(fresh, name, value)
                session.add(fresh)
        return fresh


async def replay_confirmed(db: Database, chain: ChainClient) -> int:
    """Rebuild a fresh embedded chain: resend every landed write in its original order.

    The rows are updated to the replayed transactions (hash, block, raw bytes), so the reorg
    check sees them where they are now.
    """
    async with db.read_only() as session:
        rows = list(
            await session.exec(
                select(ChainTransaction)
                .where(col(ChainTransaction.status).in_(LANDED_STATUSES))
                .order_by(col(ChainTransaction.id))
            )
        )
    replayed: dict[int, dict[str, Any]] = {}
    for row in rows:
        function = chain.contract(row.contract).get_function_by_name(row.function)(*row.args)
        tx = await function.build_transaction(await chain.transaction_defaults(row.sender))
        tx["gas"] = int(tx["gas"] * 1.2) + 10_000
        raw = chain.sign(tx)
        tx_hash = await chain.w3.eth.send_raw_transaction(raw)
        receipt = await chain.w3.eth.wait_for_transaction_receipt(tx_hash)
        if int(receipt["status"]) != 1:
            raise RuntimeError(f"replay of chain write {row.id} reverted")
        assert row.id is not None
        replayed[row.id] = {
            "nonce": int(tx["nonce"]),
            "tx_hash": tx_hash.to_0x_hex(),
            "tried_hashes": [tx_hash.to_0x_hex()],
            "raw_tx": raw.to_0x_hex(),
            "block_number": int(receipt["blockNumber"]),
            "block_hash": receipt["blockHash"].to_0x_hex(),
        }
    async with db.unit_of_work() as session:
        for row_id, values in replayed.items():
            await session.exec(
                update(ChainTransaction).where(col(ChainTransaction.id) == row_id).values(**values)
            )
        # Writes signed for the previous (now vanished) chain are signed afresh.
        await session.exec(
            update(ChainTransaction)
            .where(col(ChainTransaction.status) == TxStatus.SENT)
            .values(status=TxStatus.PENDING, nonce=None, raw_tx=None, tx_hash=None)
        )
    return len(rows)
