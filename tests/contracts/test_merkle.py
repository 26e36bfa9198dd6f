"""contracts.merkle against the RFC 9162 definition of the tree."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from contracts import ContractError, ContractErrorCode
from contracts.merkle import MerkleTree, leaf_hash, merkle_root, node_hash, verify_proof


def rfc9162_root(event_hashes: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, written from the RFC's recursive definition."""
    n = len(event_hashes)
    if n == 1:
        return keccak(b"\x00" + event_hashes[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return keccak(b"\x01" + rfc9162_root(event_hashes[:k]) + rfc9162_root(event_hashes[k:]))


def hashes(n: int) -> list[bytes]:
    return [keccak(i.to_bytes(4, "big")) for i in range(n)]


def test_prefixes_separate_leaves_from_nodes() -> None:
    h = keccak(b"event")
    assert leaf_hash(h) == keccak(b"\x00" + h)
    assert node_hash(h, h) == keccak(b"\x01" + h + h)


@pytest.mark.parametrize("n", range(1, 40))
def test_root_and_every_proof_match_rfc9162(n: int) -> None:
    events = hashes(n)
    tree = MerkleTree.build(events)
    assert tree.root == rfc9162_root(events) == merkle_root(events)
    assert tree.count == n
    for index, event_hash in enumerate(events):
        proof = tree.proof(index)
        assert verify_proof(tree.root, n, event_hash, index, proof)
        if n > 1:
            assert not verify_proof(tree.root, n, event_hash, (index + 1) % n, proof)


@given(st.integers(2, 300), st.data())
def test_a_proof_never_verifies_another_event(n: int, data: st.DataObject) -> None:
    events = hashes(n)
    tree = MerkleTree.build(events)
    index = data.draw(st.integers(0, n - 1))
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index))
    assert not verify_proof(tree.root, n, events[other], index, tree.proof(index))


def test_bad_input_is_typed() -> None:
    with pytest.raises(ContractError) as info:
        MerkleTree.build([])
    assert info.value.code is ContractErrorCode.EMPTY_TREE
    with pytest.raises(ContractError) as info:
        MerkleTree.build([b"short"])
    assert info.value.code is ContractErrorCode.INVALID_LEAF
    with pytest.raises(ContractError) as info:
        MerkleTree.build(hashes(3)).proof(3)
    assert info.value.code is ContractErrorCode.INVALID_INDEX
    assert not verify_proof(merkle_root(hashes(2)), 2, hashes(2)[0], 0, [b"short"])
