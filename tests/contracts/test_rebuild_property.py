"""Property: any history of publishes and checkpoints rebuilds from chain events alone.

Random shapes, random changes over many versions with random snapshots in between; the rebuild
from the chain's logs must equal the lists the publisher held, every version's digest in the
events must be the digest of the rebuilt values, and the stored (latest) digest must match.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.status import (
    ChangesPublished,
    ListCreated,
    ListShape,
    SnapshotPublished,
    StatusChange,
    apply_changes,
    encode_snapshot,
    pack_changes,
    rebuild_versions,
    status_digest,
)
from tests.contracts.conftest import Chain
from tests.contracts.test_status_registry import chain_events

_list_ids = itertools.count(1)


@dataclass(frozen=True)
class Step:
    snapshot: bool
    changes: dict[int, int]


@st.composite
def histories(
    draw: st.DrawFn, *, max_length: int, max_versions: int, max_changes: int
) -> tuple[ListShape, list[Step]]:
    shape = ListShape(length=draw(st.integers(1, max_length)), entry_size=draw(st.integers(1, 8)))
    steps = []
    for _ in range(draw(st.integers(1, max_versions))):
        indices = draw(
            st.sets(
                st.integers(0, shape.length - 1),
                min_size=1,
                max_size=min(max_changes, shape.length),
            )
        )
        values = draw(
            st.lists(st.integers(0, shape.max_value), min_size=len(indices), max_size=len(indices))
        )
        steps.append(
            Step(
                snapshot=draw(st.booleans().map(lambda b: b and draw(st.booleans()))),
                changes=dict(zip(sorted(indices), values, strict=True)),
            )
        )
    return shape, steps


def run_history(chain: Chain, shape: ListShape, steps: list[Step]) -> None:
    issuer = chain.accounts[1]
    list_id = next(_list_ids).to_bytes(32, "big")
    fns = chain.status.functions
    chain.send(fns.createList(issuer, list_id, shape.length, shape.entry_size), issuer)
    expected = {0: shape.zero_values()}
    values = expected[0]
    for version, step in enumerate(steps, start=1):
        values = apply_changes(values, [StatusChange(i, v) for i, v in step.changes.items()], shape)
        digest = status_digest(list_id, version, shape, values)
        if step.snapshot:
            call = fns.publishSnapshot(
                issuer, list_id, version, digest, 1, encode_snapshot(values, shape)
            )
        else:
            call = fns.publishChanges(
                issuer, list_id, version, digest, pack_changes(step.changes, shape)
            )
        chain.send(call, issuer)
        expected[version] = values

    events = chain_events(chain, issuer, list_id)
    assert rebuild_versions(events) == expected
    for event in events:
        if isinstance(event, ChangesPublished | SnapshotPublished):
            assert event.digest == status_digest(
                list_id, event.version, shape, expected[event.version]
            )
    assert fns.latest(issuer, list_id).call() == [
        len(steps),
        status_digest(list_id, len(steps), shape, expected[len(steps)]),
    ]
    # A rebuild from the newest checkpoint on gives the same recent versions.
    checkpoints = [e.version for e in events if isinstance(e, SnapshotPublished)]
    if checkpoints:
        last = max(checkpoints)
        recent = [e for e in events if isinstance(e, ListCreated) or e.version >= last]
        rebuilt = rebuild_versions(recent)
        # Version 0 comes along when the checkpoint is version 1 (its base is all zeros).
        assert rebuilt == {v: expected[v] for v in expected if v >= last or last == 1}


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories(max_length=5000, max_versions=8, max_changes=60))
def test_rebuild_from_chain_equals_published_lists(
    chain: Chain, history: tuple[ListShape, list[Step]]
) -> None:
    # Each example publishes into a fresh list id, so sharing the function's chain is safe.
    run_history(chain, *history)


@st.composite
def large_histories(draw: st.DrawFn) -> tuple[ListShape, list[Step]]:
    """Thousands of changes: sizes drawn by hypothesis, indices and values from a drawn seed."""
    shape = ListShape(length=draw(st.integers(10_000, 131_072)), entry_size=draw(st.integers(1, 8)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    steps = []
    for _ in range(draw(st.integers(25, 40))):
        count = draw(st.integers(80, 400))
        indices = rng.sample(range(shape.length), count)
        changes = {i: rng.randint(0, shape.max_value) for i in indices}
        steps.append(Step(snapshot=draw(st.integers(0, 7)) == 0, changes=changes))
    return shape, steps


@pytest.mark.slow
@pytest.mark.anvil
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=large_histories())
def test_rebuild_after_thousands_of_changes(
    anvil_chain: Chain, history: tuple[ListShape, list[Step]]
) -> None:
    # At least 25 versions x 80 changes = 2,000 changes per example (five examples).
    assert sum(len(step.changes) for step in history[1]) >= 2000
    run_history(anvil_chain, *history)
