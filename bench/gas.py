"""Gas per status change of StatusListRegistry on anvil, beside an EIP-5539-style baseline.

    python -m bench.gas --json

Deploys to a fresh anvil (contracts/node_modules/.bin/anvil, its default hardfork) and prints
one JSON object:

- ``per_change``: gas per change for publishes of 1, 10, 100, 1,000 and 10,000 random changes
  into a 131,072-entry list that already holds 10,000 set entries;
- ``per_publish``: gas of those publishes (whole transaction, ``gasUsed`` of the receipt);
- ``per_publish_empty_list``: the same batch sizes into a list with no set entry (shows the
  cost does not depend on how full the list is);
- ``baseline_single``: one revocation in ``bench/RevocationBaseline.sol`` (one mapping slot per
  revocation, one transaction each);
- ``rebuild_100_versions_s``: seconds to fetch the events of a 100-version list (checkpoints
  every 25 versions, 100 changes per version) from anvil and rebuild and digest-check every
  version with ``contracts.status.rebuild_versions``;
- ``node``: anvil's version and hardfork.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

from web3 import Web3
from web3.contract import Contract

from contracts import ContractName, load_artifact
from contracts.status import (
    ListShape,
    StatusChange,
    apply_changes,
    encode_snapshot,
    pack_changes,
    rebuild_versions,
    status_digest,
    status_event_from_log,
)

REPO = Path(__file__).resolve().parent.parent
ANVIL = REPO / "contracts" / "node_modules" / ".bin" / "anvil"
BASELINE = Path(__file__).resolve().parent / "artifacts" / "RevocationBaseline.json"
BATCHES = (1, 10, 100, 1_000, 10_000)
SHAPE = ListShape(length=131_072, entry_size=1)
PREFILL = 10_000
ANVIL_VERSION = "1.7.1"  # the exact version pinned in contracts/package.json


@contextmanager
def anvil() -> Iterator[Web3]:
    """A fresh anvil on a free port, stopped on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 120}))
        deadline = time.monotonic() + 20
        while not _connected(w3):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("anvil did not start")
            time.sleep(0.05)
        yield w3
    finally:
        process.terminate()
        process.wait(timeout=10)


def _connected(w3: Web3) -> bool:
    with suppress(Exception):
        return w3.is_connected()
    return False


def _deploy(w3: Web3, abi: Any, bytecode: str) -> Contract:
    sender = w3.eth.accounts[0]
    tx = w3.eth.contract(abi=abi, bytecode=bytecode).constructor().transact({"from": sender})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return cast(Contract, w3.eth.contract(address=address, abi=abi))


def _gas(w3: Web3, call: Any) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": w3.eth.accounts[0]}))
    if receipt["status"] != 1:
        raise RuntimeError("transaction failed")
    return int(receipt["gasUsed"])


class BenchList:
    """One status list of the bench issuer, tracked in Python as it is published."""

    def __init__(self, w3: Web3, registry: Contract, list_id: bytes) -> None:
        self.w3 = w3
        self.registry = registry
        self.list_id = list_id
        self.issuer = w3.eth.accounts[0]
        self.values = SHAPE.zero_values()
        self.version = 0
        _gas(w3, registry.functions.createList(self.issuer, list_id, SHAPE.length, 1))

    def publish_changes(self, changes: dict[int, int]) -> int:
        self.version += 1
        items = [StatusChange(i, v) for i, v in changes.items()]
        self.values = apply_changes(self.values, items, SHAPE)
        digest = status_digest(self.list_id, self.version, SHAPE, self.values)
        call = self.registry.functions.publishChanges(
            self.issuer, self.list_id, self.version, digest, pack_changes(changes, SHAPE)
        )
        return _gas(self.w3, call)

    def publish_snapshot(self, values: bytes) -> int:
        self.version += 1
        self.values = values
        digest = status_digest(self.list_id, self.version, SHAPE, values)
        call = self.registry.functions.publishSnapshot(
            self.issuer, self.list_id, self.version, digest, 1, encode_snapshot(values, SHAPE)
        )
        return _gas(self.w3, call)

    def random_revocations(self, rng: random.Random, count: int) -> dict[int, int]:
        """`count` random entries that are 0 now, set to 1 (revocations)."""
        chosen: set[int] = set()
        while len(chosen) < count:
            index = rng.randrange(SHAPE.length)
            if not self.values[index]:
                chosen.add(index)
        return dict.fromkeys(chosen, 1)


def measure(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    with anvil() as w3:
        artifact = load_artifact(ContractName.STATUS_LIST_REGISTRY)
        registry = _deploy(w3, list(artifact.abi), artifact.bytecode)
        node = w3.provider.make_request("anvil_nodeInfo", [])["result"]  # type: ignore[arg-type]

        full = BenchList(w3, registry, b"\x01" * 32)
        prefill = bytearray(SHAPE.zero_values())
        for index in rng.sample(range(SHAPE.length), PREFILL):
            prefill[index] = 1
        full.publish_snapshot(bytes(prefill))

        empty = BenchList(w3, registry, b"\x02" * 32)
        # Set and clear one entry so the empty list's digest slot is already non-zero, as the
        # full list's is: both then pay the same storage writes.
        empty.publish_changes({0: 1})
        empty.publish_changes({0: 0})

        per_publish: dict[str, int] = {}
        per_publish_empty: dict[str, int] = {}
        for size in BATCHES:
            per_publish[str(size)] = full.publish_changes(full.random_revocations(rng, size))
            per_publish_empty[str(size)] = empty.publish_changes(
                empty.random_revocations(rng, size)
            )

        baseline_json = json.loads(BASELINE.read_text(encoding="utf-8"))
        baseline = _deploy(w3, baseline_json["abi"], baseline_json["bytecode"])
        namespace = bytes(12) + bytes.fromhex(w3.eth.accounts[0][2:])
        baseline_single = _gas(
            w3,
            baseline.functions.changeStatus(True, namespace, b"\x01" * 32, rng.randbytes(32)),
        )

        rebuild_s = _rebuild_100_versions(w3, registry, rng)

    return {
        "per_change": {k: round(v / int(k), 1) for k, v in per_publish.items()},
        "per_publish": per_publish,
        "per_publish_empty_list": per_publish_empty,
        "baseline_single": baseline_single,
        "rebuild_100_versions_s": round(rebuild_s, 3),
        "node": {"anvil": ANVIL_VERSION, "hardfork": node.get("hardFork", "?")},
    }


def _rebuild_100_versions(w3: Web3, registry: Contract, rng: random.Random) -> float:
    bench_list = BenchList(w3, registry, b"\x03" * 32)
    expected: dict[int, bytes] = {0: bench_list.values}
    for version in range(1, 101):
        if version % 25 == 1:
            values = bytearray(bench_list.values)
            for index in rng.sample(range(SHAPE.length), 100):
                values[index] ^= 1
            bench_list.publish_snapshot(bytes(values))
        else:
            changes = {i: 1 - bench_list.values[i] for i in rng.sample(range(SHAPE.length), 100)}
            bench_list.publish_changes(changes)
        expected[version] = bench_list.values

    start = time.perf_counter()
    filters = {"issuer": bench_list.issuer, "listId": bench_list.list_id}
    events = registry.events
    logs = [
        *events.ListCreated.get_logs(from_block=0, argument_filters=filters),
        *events.StatusChangesPublished.get_logs(from_block=0, argument_filters=filters),
        *events.StatusSnapshotPublished.get_logs(from_block=0, argument_filters=filters),
    ]
    rebuilt = rebuild_versions(status_event_from_log(log) for log in logs)
    elapsed = time.perf_counter() - start
    if rebuilt != expected:
        raise RuntimeError("rebuild from chain differs from the published lists")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    if not ANVIL.exists():
        print(f"{ANVIL} missing: run `npm ci --prefix contracts`", file=sys.stderr)
        return 2
    result = measure(args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"node: {result['node']}")
        print(f"baseline (one revocation, one tx): {result['baseline_single']} gas")
        for size in BATCHES:
            key = str(size)
            print(
                f"{size:>6} changes: {result['per_publish'][key]:>9} gas/publish "
                f"{result['per_change'][key]:>9} gas/change "
                f"(empty list: {result['per_publish_empty_list'][key]} gas/publish)"
            )
        print(f"rebuild of 100 versions from chain: {result['rebuild_100_versions_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
