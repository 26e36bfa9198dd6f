"""Contract state mirrored in Redis, kept fresh by following the registries' events.

What is mirrored (keys under `bpp:chain:<chain id>:`):

- `list:<issuer>:<listId>` hash: `version`, `digest`, `length`, `entry_size` — the latest
  version of each status list (what `StatusListRegistry.latest` answers);
- `digests:<issuer>:<listId>` hash: version → digest of every published version (from the
  events: the contract keeps only the latest);
- `list-issuer:<listId>`: the issuer address a list was created under;
- `acc:<subject>:<role>`: the accreditation windows of a subject for a role (JSON), read
  with `IssuerRegistry.windowsOf` at the synced block whenever an event touches them;
- `sync` hash: `block`, `hash` (the block everything above is valid at) and `at` (when the
  follower last caught up).

One follower at a time (a Redis lock) applies new events block range by block range in one
MULTI/EXEC. A reorg is noticed by the synced block's hash changing; the mirror then rebuilds
from the deployment block. Reads use the mirror alone while it is fresh (`max_age_s` since
the last catch-up) and catch up first otherwise.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from eth_utils.crypto import keccak
from redis.asyncio import Redis
from web3.exceptions import BlockNotFound
from web3.types import FilterParams

from backend.chain.client import ISSUER_REGISTRY, NODE_DOWN_EXCEPTIONS, STATUS_REGISTRY, ChainClient
from backend.chain.errors import ChainError, NodeUnavailableError
from contracts import load_artifact

log = structlog.get_logger("bpp.chain.mirror")

_LOCK_TTL_MS = 30_000
_MAX_RANGE = 5_000  # blocks per eth_getLogs request (providers cap ranges)
_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
_MIRRORED_EVENTS = {
    STATUS_REGISTRY: ("ListCreated", "StatusChangesPublished", "StatusSnapshotPublished"),
    ISSUER_REGISTRY: ("Accredited", "AccreditationRevoked"),
}


@dataclass(frozen=True, slots=True)
class ListState:
    """A status list's latest version on chain, as mirrored at `block`."""

    issuer: str
    version: int
    digest: bytes
    length: int
    entry_size: int
    block: int


@dataclass(frozen=True, slots=True)
class Window:
    valid_from: int
    valid_until: int

    def covers(self, at: int) -> bool:
        return self.valid_from <= at < self.valid_until


def _text(value: bytes | str) -> str:
    # redis-py returns bytes or str depending on `decode_responses`.
    return value.decode() if isinstance(value, bytes) else value


def _event_signature(entry: Mapping[str, Any]) -> bytes:
    types = ",".join(str(i["type"]) for i in entry["inputs"])
    return keccak(text=f"{entry['name']}({types})")


class ChainMirror:
    def __init__(
        self,
        chain: ChainClient,
        redis: Redis,
        *,
        from_block: int = 0,
        max_age_s: float = 10.0,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.chain = chain
        self.redis = redis
        self.from_block = from_block
        self.max_age_s = max_age_s
        self.poll_interval_s = poll_interval_s
        self.prefix = f"bpp:chain:{chain.chain_id}:"
        self._token = secrets.token_hex(16)
        self._following = asyncio.Lock()
        self.chain_reads = 0  # requests made to the node (tests show fresh reads make none)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # -- following ---------------------------------------------------------------------------

    async def follow_forever(self) -> None:
        while True:
            try:
                await self.follow_once()
            except ChainError as exc:  # node down, registries not deployed yet
                log.warning("mirror cannot follow the chain", error=exc.message)
            except Exception:
                log.exception("mirror follow failed; retrying")
            await asyncio.sleep(self.poll_interval_s)

    async def follow_once(self) -> int | None:
        """Catch up with the chain head; returns the synced block (None: another follower
        holds the lock)."""
        async with self._following:
            lock = self.key("mirror-lock")
            if not await self.redis.set(lock, self._token, nx=True, px=_LOCK_TTL_MS):
                return None
            try:
                return await self._follow()
            except NODE_DOWN_EXCEPTIONS as exc:
                raise NodeUnavailableError(f"no answer from the node: {exc}") from exc
            finally:
                await self.redis.eval(_RELEASE_LUA, 1, lock, self._token)

    async def _follow(self) -> int:
        w3 = self.chain.w3
        sync = await self.redis.hgetall(self.key("sync"))
        synced = int(sync[b"block"]) if sync else self.from_block - 1
        if sync:
            self.chain_reads += 1
            try:
                synced_hash = (await w3.eth.get_block(synced))["hash"].to_0x_hex()
            except BlockNotFound:  # the chain is shorter now (reorg, reset or a new dev chain)
                synced_hash = None
            if synced_hash != _text(sync[b"hash"]):
                log.warning("reorg below the mirror's block; rebuilding", block=synced)
                await self.reset()
                synced = self.from_block - 1
        self.chain_reads += 1
        head = await self.chain.block_number()
        while synced < head:
            end = min(head, synced + _MAX_RANGE)
            await self._apply_range(synced + 1, end)
            synced = end
        if synced < self.from_block:
            return synced
        self.chain_reads += 1
        head_block = await w3.eth.get_block(synced)
        await self.redis.hset(
            self.key("sync"),
            mapping={"block": synced, "hash": head_block["hash"].to_0x_hex(), "at": time.time()},
        )
        return synced

    async def reset(self) -> None:
        keys = [key async for key in self.redis.scan_iter(match=self.prefix + "*")]
        keys = [k for k in keys if not k.endswith(b"mirror-lock")]
        if keys:
            await self.redis.delete(*keys)

    async def _apply_range(self, start: int, end: int) -> None:
        events = self._event_abis()
        addresses = [self.chain.contract(name).address for name in _MIRRORED_EVENTS]
        self.chain_reads += 1
        logs = await self.chain.w3.eth.get_logs(
            FilterParams(fromBlock=start, toBlock=end, address=addresses)
        )
        pipe = self.redis.pipeline(transaction=True)
        touched: set[tuple[bytes, int]] = set()
        for entry in logs:
            topic = bytes(entry["topics"][0]) if entry["topics"] else b""
            found = events.get(topic)
            if found is None:
                continue
            contract_name, event_name = found
            event = self.chain.contract(contract_name).events[event_name]()
            args = event.process_log(entry)["args"]
            if event_name == "ListCreated":
                issuer, list_id = str(args["issuer"]), bytes(args["listId"]).hex()
                pipe.hset(
                    self.key("list", issuer.lower(), list_id),
                    mapping={
                        "issuer": issuer,
                        "version": 0,
                        "digest": "00" * 32,
                        "length": int(args["length"]),
                        "entry_size": int(args["entrySize"]),
                    },
                )
                pipe.set(self.key("list-issuer", list_id), issuer)
            elif event_name in ("StatusChangesPublished", "StatusSnapshotPublished"):
                issuer, list_id = str(args["issuer"]), bytes(args["listId"]).hex()
                digest = bytes(args["digest"]).hex()
                # Events arrive in chain order, and versions on chain only grow.
                pipe.hset(
                    self.key("list", issuer.lower(), list_id),
                    mapping={"version": int(args["version"]), "digest": digest},
                )
                pipe.hset(
                    self.key("digests", issuer.lower(), list_id), str(int(args["version"])), digest
                )
            else:
                touched.add((bytes(args["subject"]), int(args["role"])))
        for subject, role in touched:
            self.chain_reads += 1
            windows = await self.chain.call(ISSUER_REGISTRY, "windowsOf", subject, role, block=end)
            pipe.set(
                self.key("acc", subject.hex(), str(role)),
                json.dumps([[int(w[0]), int(w[1])] for w in windows]),
            )
        pipe.hset(self.key("sync"), mapping={"block": end, "hash": "", "at": time.time()})
        await pipe.execute()

    def _event_abis(self) -> dict[bytes, tuple[str, str]]:
        found: dict[bytes, tuple[str, str]] = {}
        for contract_name, names in _MIRRORED_EVENTS.items():
            for entry in load_artifact(contract_name).abi:
                if entry.get("type") == "event" and entry.get("name") in names:
                    found[_event_signature(entry)] = (contract_name, str(entry["name"]))
        return found

    # -- reading -----------------------------------------------------------------------------

    async def age_s(self) -> float | None:
        """Seconds since the follower last caught up (None: never)."""
        at = await self.redis.hget(self.key("sync"), "at")
        return None if at is None else max(0.0, time.time() - float(at))

    async def synced_block(self) -> int | None:
        block = await self.redis.hget(self.key("sync"), "block")
        return None if block is None else int(block)

    async def ensure_fresh(self) -> int:
        """The synced block, catching up first when the mirror is older than `max_age_s`."""
        age = await self.age_s()
        if age is None or age > self.max_age_s:
            synced = await self.follow_once()
            if synced is None:  # another follower is at it right now: wait for it briefly
                for _ in range(50):
                    await asyncio.sleep(0.1)
                    age = await self.age_s()
                    if age is not None and age <= self.max_age_s:
                        break
                else:
                    raise NodeUnavailableError("the chain mirror is stale and not catching up")
        block = await self.synced_block()
        return -1 if block is None else block

    async def list_issuer(self, list_id: bytes) -> str | None:
        await self.ensure_fresh()
        value = await self.redis.get(self.key("list-issuer", list_id.hex()))
        return None if value is None else _text(value)

    async def latest_list(self, issuer: str, list_id: bytes) -> ListState | None:
        block = await self.ensure_fresh()
        data = await self.redis.hgetall(self.key("list", issuer.lower(), list_id.hex()))
        if not data:
            return None
        return ListState(
            issuer=_text(data[b"issuer"]),
            version=int(data[b"version"]),
            digest=bytes.fromhex(_text(data[b"digest"])),
            length=int(data[b"length"]),
            entry_size=int(data[b"entry_size"]),
            block=block,
        )

    async def version_digest(self, issuer: str, list_id: bytes, version: int) -> bytes | None:
        await self.ensure_fresh()
        value = await self.redis.hget(
            self.key("digests", issuer.lower(), list_id.hex()), str(version)
        )
        return None if value is None else bytes.fromhex(_text(value))

    async def windows(self, subject: bytes, role: int) -> Sequence[Window]:
        await self.ensure_fresh()
        value = await self.redis.get(self.key("acc", subject.hex(), str(role)))
        if value is None:
            return ()
        return tuple(Window(int(a), int(b)) for a, b in json.loads(value))
