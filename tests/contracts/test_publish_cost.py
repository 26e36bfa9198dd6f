"""Publish cost grows with the number of changes only, never with the list's size or fill."""

from __future__ import annotations

import random

from contracts.status import (
    ListShape,
    StatusChange,
    apply_changes,
    encode_snapshot,
    pack_changes,
    status_digest,
)
from tests.contracts.conftest import Chain

SHAPE = ListShape(131_072, 1)


def _publish_gas(
    chain: Chain, list_id: bytes, version: int, values: bytes, changes: dict[int, int]
) -> tuple[bytes, int]:
    issuer = chain.accounts[1]
    after = apply_changes(values, [StatusChange(i, v) for i, v in changes.items()], SHAPE)
    receipt = chain.send(
        chain.status.functions.publishChanges(
            issuer,
            list_id,
            version,
            status_digest(list_id, version, SHAPE, after),
            pack_changes(changes, SHAPE),
        ),
        issuer,
    )
    return after, int(receipt["gasUsed"])


def test_cost_does_not_depend_on_fill_and_grows_with_changes(chain: Chain) -> None:
    issuer = chain.accounts[1]
    rng = random.Random(7)
    full_id, empty_id = b"\x0f" * 32, b"\x0e" * 32
    fns = chain.status.functions
    for list_id in (full_id, empty_id):
        chain.send(fns.createList(issuer, list_id, SHAPE.length, 1), issuer)
    filled = bytearray(SHAPE.length)
    for index in rng.sample(range(SHAPE.length), 10_000):
        filled[index] = 1
    chain.send(
        fns.publishSnapshot(
            issuer,
            full_id,
            1,
            status_digest(full_id, 1, SHAPE, bytes(filled)),
            1,
            encode_snapshot(bytes(filled), SHAPE),
        ),
        issuer,
    )
    # Set and clear one entry: the empty list then has a non-zero digest slot like the full one.
    empty, _ = _publish_gas(chain, empty_id, 1, SHAPE.zero_values(), {0: 1})
    empty, _ = _publish_gas(chain, empty_id, 2, empty, {0: 0})

    full = bytes(filled)
    gas: dict[str, list[int]] = {"full": [], "empty": []}
    for n, size in enumerate((1, 100, 400)):
        # The same indices and values for both lists: identical calldata, different fill.
        picks = [i for i in rng.sample(range(SHAPE.length), 2 * size) if not full[i]][:size]
        changes = dict.fromkeys(picks, 1)
        full, g_full = _publish_gas(chain, full_id, 2 + n, full, changes)
        empty, g_empty = _publish_gas(chain, empty_id, 3 + n, empty, changes)
        gas["full"].append(g_full)
        gas["empty"].append(g_empty)
    # Calldata differs only in the 32-byte digest (and versions/ids of equal width): a zero
    # byte costs 12 gas less than a non-zero one, so at most 32 x 12 gas apart.
    for g_full, g_empty in zip(gas["full"], gas["empty"], strict=True):
        assert abs(g_full - g_empty) <= 32 * 12
    one, hundred, four_hundred = gas["full"]
    # Linear in the number of changes: the marginal cost per change is the same between
    # 1 -> 100 and 100 -> 400 changes (within 5 %).
    slope_a = (hundred - one) / 99
    slope_b = (four_hundred - hundred) / 300
    assert abs(slope_a - slope_b) <= 0.05 * slope_b
    if chain.kind == "anvil":
        # Below the ~47k gas of an EIP-5539-style registry for one revocation, and well under
        # the 250 gas per change target at large batches (see bench/gas.py for the figures).
        assert one < 47_000
        assert slope_b < 200
