"""Merkle trees of lifecycle events, as ``EventAnchorRegistry`` checks them on chain.

Scheme: the tree shape of RFC 9162 (Certificate Transparency v2) with keccak256 and one-byte
domain prefixes. ``leaf = keccak256(0x00 ‖ event_hash)``, ``node = keccak256(0x01 ‖ left ‖
right)``; each level pairs nodes left to right and an odd last node moves up unchanged (which
gives exactly RFC 9162's split at the largest power of two below the leaf count). A proof is
the list of sibling hashes from the leaf up, skipping levels where the node had no sibling; it
is checked with the leaf's index and the tree's leaf count, so it also fixes the position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.crypto import keccak

from contracts.errors import ContractError, ContractErrorCode

LEAF_PREFIX: Final = b"\x00"
NODE_PREFIX: Final = b"\x01"


def _check_hash(value: bytes, what: str) -> bytes:
    if len(value) != 32:
        raise ContractError(ContractErrorCode.INVALID_LEAF, f"{what} must be 32 bytes")
    return bytes(value)


def leaf_hash(event_hash: bytes) -> bytes:
    """Leaf of an event: ``keccak256(0x00 ‖ event_hash)``."""
    return keccak(LEAF_PREFIX + _check_hash(event_hash, "event hash"))


def node_hash(left: bytes, right: bytes) -> bytes:
    """Inner node: ``keccak256(0x01 ‖ left ‖ right)``."""
    return keccak(NODE_PREFIX + left + right)


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """A built tree: ``levels[0]`` are the leaf hashes, ``levels[-1]`` is ``(root,)``."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, event_hashes: Sequence[bytes]) -> MerkleTree:
        """Build the tree over 32-byte event hashes, in order (``empty_tree`` if none)."""
        if not event_hashes:
            raise ContractError(ContractErrorCode.EMPTY_TREE, "a tree needs at least one event")
        level = tuple(leaf_hash(h) for h in event_hashes)
        levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])
            level = tuple(paired)
            levels.append(level)
        return cls(levels=tuple(levels))

    @property
    def root(self) -> bytes:
        """The root to anchor."""
        return self.levels[-1][0]

    @property
    def count(self) -> int:
        """Number of leaves (the anchor's ``count``)."""
        return len(self.levels[0])

    def proof(self, index: int) -> tuple[bytes, ...]:
        """Inclusion proof of leaf ``index`` (``invalid_index`` if out of range)."""
        if not 0 <= index < self.count:
            raise ContractError(
                ContractErrorCode.INVALID_INDEX, f"leaf {index} of a {self.count}-leaf tree"
            )
        path: list[bytes] = []
        position = index
        for level in self.levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            position >>= 1
        return tuple(path)


def merkle_root(event_hashes: Sequence[bytes]) -> bytes:
    """Root of the tree over ``event_hashes``."""
    return MerkleTree.build(event_hashes).root


def verify_proof(
    root: bytes, count: int, event_hash: bytes, index: int, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows ``event_hash`` is leaf ``index`` of the ``count``-leaf ``root``.

    The audit path check of RFC 9162 §2.1.3.2, the same as the contract's ``verifyProof``.
    """
    if not 0 <= index < count:
        return False
    fn = index
    sn = count - 1
    node = leaf_hash(event_hash)
    for sibling in proof:
        if len(sibling) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = node_hash(sibling, node)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            node = node_hash(node, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root
