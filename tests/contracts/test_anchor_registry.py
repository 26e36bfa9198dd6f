"""EventAnchorRegistry on chain and contracts.merkle: the same proofs verify in both."""

from __future__ import annotations

from eth_utils.crypto import keccak
from web3.logs import DISCARD

from contracts.merkle import MerkleTree, leaf_hash, node_hash, verify_proof
from tests.contracts.conftest import Chain


def event_hashes(count: int, salt: int = 0) -> list[bytes]:
    return [keccak(f"event {salt}/{i}".encode()) for i in range(count)]


def test_anchors_are_numbered_without_gaps(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.anchors.functions
    tree = MerkleTree.build(event_hashes(5))
    receipt = chain.send(fns.anchor(tree.root, 5, 1), issuer)
    (event,) = chain.anchors.events.Anchored().process_receipt(receipt, errors=DISCARD)
    assert event["args"] == {"issuer": issuer, "sequence": 1, "root": tree.root, "count": 5}
    root, count, anchored_at = fns.getAnchor(issuer, 1).call()
    assert (root, count) == (tree.root, 5)
    assert anchored_at == chain.now()
    for wrong in (1, 3):
        err = chain.revert_of(chain.anchors, fns.anchor(tree.root, 5, wrong), issuer)
        assert (err.name, err.args) == ("SequenceNotNext", {"expected": 2, "given": wrong})
    # Sequences are per issuer.
    chain.send(fns.anchor(tree.root, 5, 1), chain.accounts[2])
    chain.send(fns.anchor(tree.root, 5, 2), issuer)
    assert fns.lastSequence(issuer).call() == 2


def test_anchor_errors(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.anchors.functions
    assert chain.revert_of(chain.anchors, fns.anchor(bytes(32), 1, 1), issuer).name == "ZeroRoot"
    assert chain.revert_of(chain.anchors, fns.anchor(b"\x01" * 32, 0, 1), issuer).name == (
        "EmptyAnchor"
    )
    err = chain.call_revert_of(chain.anchors, fns.getAnchor(issuer, 1))
    assert (err.name, err.args) == ("AnchorNotFound", {"issuer": issuer, "sequence": 1})
    err = chain.call_revert_of(chain.anchors, fns.verifyInclusion(issuer, 1, b"\x01" * 32, 0, []))
    assert err.name == "AnchorNotFound"


def test_hashing_matches_python(chain: Chain) -> None:
    fns = chain.anchors.functions
    h = keccak(b"x")
    assert fns.leafHash(h).call() == leaf_hash(h)
    assert fns.nodeHash(h, leaf_hash(h)).call() == node_hash(h, leaf_hash(h))


def test_every_proof_of_many_tree_sizes_verifies_on_chain(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.anchors.functions
    for sequence, count in enumerate([1, 2, 3, 5, 7, 8, 13], start=1):
        hashes = event_hashes(count, sequence)
        tree = MerkleTree.build(hashes)
        chain.send(fns.anchor(tree.root, count, sequence), issuer)
        for index, event_hash in enumerate(hashes):
            proof = list(tree.proof(index))
            assert verify_proof(tree.root, count, event_hash, index, proof)
            assert fns.verifyInclusion(issuer, sequence, event_hash, index, proof).call()


def test_wrong_proofs_fail_on_chain_and_in_python(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.anchors.functions
    hashes = event_hashes(6)
    tree = MerkleTree.build(hashes)
    chain.send(fns.anchor(tree.root, 6, 1), issuer)
    proof = list(tree.proof(4))
    cases = [
        (hashes[4], 5, proof),  # right leaf, wrong position
        (hashes[5], 4, proof),  # another leaf
        (hashes[4], 4, proof[:-1]),  # truncated
        (hashes[4], 4, [*proof, proof[0]]),  # padded
        (hashes[4], 4, [bytes(32), *proof[1:]]),  # tampered sibling
        (hashes[4], 6, proof),  # index beyond the count
        (leaf_hash(hashes[4]), 4, proof),  # a leaf hash given as event hash
    ]
    for event_hash, index, bad in cases:
        assert not verify_proof(tree.root, 6, event_hash, index, bad)
        assert not fns.verifyInclusion(issuer, 1, event_hash, index, bad).call()
    # An inner node presented as a leaf of a smaller tree must not verify either.
    inner = tree.levels[1][0]
    assert not fns.verifyProof(tree.root, 3, inner, 0, list(tree.levels[1][1:2])).call()
