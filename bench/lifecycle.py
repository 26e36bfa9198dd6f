"""Lifecycle event log: hashing, Merkle proofs, and the gas of anchoring them on anvil.

    python -m bench.lifecycle --json

Prints one JSON object:

- ``event_hash_per_s``: lifecycle event documents hashed per second (JCS + SHA-256, the
  canonical event hash of ``backend.lifecycle.service.event_hash``);
- ``tree``: for anchors of 16, 256 and 4,096 events: milliseconds to build the Merkle tree
  (``contracts.merkle``), microseconds per inclusion proof and per local proof check, and
  the proof length;
- ``anchor_gas``: gas of one ``EventAnchorRegistry.anchor`` transaction per batch size (the
  receipt's ``gasUsed``) and the gas per anchored event;
- ``verify_inclusion_gas``: ``eth_estimateGas`` of ``verifyInclusion`` for a proof in each
  anchor (what an on-chain consumer pays; an off-chain verifier uses a free ``eth_call``);
- ``node``: anvil's version.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from typing import Any, cast

from web3 import Web3
from web3.contract import Contract

from backend.lifecycle.service import event_hash
from bench.gas import ANVIL, ANVIL_VERSION, anvil
from contracts import ContractName, load_artifact
from contracts.merkle import MerkleTree, verify_proof

SIZES = (16, 256, 4096)


def _event(sequence: int, previous: str) -> dict[str, Any]:
    return {
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": "installed",
        "passport": "urn:uuid:6f1c5c9e-8a3b-4d2f-9a77-2b1f0c3e4d5a",
        "sequence": sequence,
        "occurredAt": "2026-11-26T01:00:00Z",
        "recordedBy": "org:busan-battery-works",
        "data": {
            "vehicle": "urn:uuid:0b6f5e0e-2f3c-4a5b-8c9d-1e2f3a4b5c6d",
            "vin": "KMHC851CGLU123456",
            "swap": True,
        },
        "previousHash": previous,
    }


def _hash_rate(count: int) -> tuple[float, list[bytes]]:
    hashes: list[bytes] = []
    previous = "0" * 64
    started = time.perf_counter()
    for sequence in range(1, count + 1):
        previous = event_hash(_event(sequence, previous))
        hashes.append(bytes.fromhex(previous))
    return count / (time.perf_counter() - started), hashes


def _tree_figures(hashes: list[bytes]) -> dict[str, float | int]:
    started = time.perf_counter()
    tree = MerkleTree.build(hashes)
    build_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    proofs = [tree.proof(i) for i in range(tree.count)]
    proof_us = (time.perf_counter() - started) * 1e6 / tree.count
    started = time.perf_counter()
    ok = all(
        verify_proof(tree.root, tree.count, h, i, p)
        for i, (h, p) in enumerate(zip(hashes, proofs, strict=True))
    )
    check_us = (time.perf_counter() - started) * 1e6 / tree.count
    if not ok:
        raise RuntimeError("a proof did not verify")
    return {
        "build_ms": round(build_ms, 2),
        "proof_us": round(proof_us, 1),
        "check_us": round(check_us, 1),
        "proof_length": max(len(p) for p in proofs),
    }


def _deploy(w3: Web3) -> Contract:
    artifact = load_artifact(ContractName.EVENT_ANCHOR_REGISTRY)
    factory = w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
    tx = factory.constructor().transact({"from": w3.eth.accounts[0]})
    address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return cast(Contract, w3.eth.contract(address=address, abi=list(artifact.abi)))


def measure() -> dict[str, Any]:
    rate, hashes = _hash_rate(max(SIZES))
    result: dict[str, Any] = {
        "event_hash_per_s": round(rate),
        "tree": {str(n): _tree_figures(hashes[:n]) for n in SIZES},
        "anchor_gas": {},
        "verify_inclusion_gas": {},
        "node": f"anvil {ANVIL_VERSION}",
    }
    with anvil() as w3:
        registry = _deploy(w3)
        sender = w3.eth.accounts[0]
        for sequence, size in enumerate(SIZES, start=1):
            tree = MerkleTree.build(hashes[:size])
            tx = registry.functions.anchor(tree.root, size, sequence).transact({"from": sender})
            receipt = w3.eth.wait_for_transaction_receipt(tx)
            if receipt["status"] != 1:
                raise RuntimeError("anchor failed")
            gas = int(receipt["gasUsed"])
            result["anchor_gas"][str(size)] = {"per_anchor": gas, "per_event": round(gas / size, 1)}
            index = size - 1  # the deepest path of an unbalanced tree
            proof = list(tree.proof(index))
            check = registry.functions.verifyInclusion(
                sender, sequence, hashes[index], index, proof
            )
            if not check.call():
                raise RuntimeError("the registry refused a valid proof")
            result["verify_inclusion_gas"][str(size)] = int(check.estimate_gas({"from": sender}))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not ANVIL.exists():
        print(f"{ANVIL} missing: run `npm ci --prefix contracts`", file=sys.stderr)
        return 2
    result = measure()
    if args.json:
        print(json.dumps(result))
    else:
        print(f"node: {result['node']}")
        print(f"event hashes: {result['event_hash_per_s']}/s")
        for size in SIZES:
            key = str(size)
            tree, gas = result["tree"][key], result["anchor_gas"][key]
            print(
                f"{size:>5} events: tree {tree['build_ms']} ms, proof {tree['proof_us']} µs, "
                f"check {tree['check_us']} µs, anchor {gas['per_anchor']} gas "
                f"({gas['per_event']}/event), verifyInclusion "
                f"{result['verify_inclusion_gas'][key]} gas"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
