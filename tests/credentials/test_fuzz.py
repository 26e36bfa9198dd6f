"""Nothing crashes: random JSON spliced into a signed credential always yields a result."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credentials.did import did_key_from_public_key, did_key_vm_id
from credentials.issuance import issue
from credentials.keys import KeyPair
from credentials.verifier import CheckStatus, Verifier
from tests.credentials.conftest import passport_credential

_PAIR = KeyPair.generate("P-256")
_DID = did_key_from_public_key(_PAIR.public)
_SIGNED = issue(passport_credential(_DID), _PAIR.with_key_id(did_key_vm_id(_DID)))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_paths(item, (*path, index)))
    return out


PATHS = [p for p in _paths(_SIGNED) if p]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(PATHS) - 1), value=json_values)
async def test_random_values_anywhere_never_crash_the_verifier(index: int, value: Any) -> None:
    document = copy.deepcopy(_SIGNED)
    path = PATHS[index]
    target: Any = document
    for step in path[:-1]:
        target = target[step]
    if target[path[-1]] == value:
        return
    target[path[-1]] = value
    result = await Verifier().verify(document)
    assert not result.verified
    assert any(c.status is CheckStatus.FAIL for c in result.checks)


@settings(max_examples=40, deadline=None)
@given(document=json_values)
async def test_arbitrary_json_never_crashes_the_verifier(document: Any) -> None:
    result = await Verifier().verify(document)
    assert not result.verified
