"""Our RFC 8785 serialiser equals the ``rfc8785`` package on random JSON and numbers."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials.errors import ProofError
from credentials.jcs import canonicalize, format_number

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_equals_the_reference_on_random_json(value: Any) -> None:
    assert canonicalize(value) == rfc8785.dumps(value).decode("utf-8")


@settings(max_examples=2000, deadline=None)
@given(bits=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_double_formats_like_ecmascript(bits: int) -> None:
    value = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isnan(value) or math.isinf(value):
        with pytest.raises(ProofError):
            format_number(value)
        return
    assert format_number(value) == rfc8785.dumps(value).decode("ascii")
    assert canonicalize({"v": [value]}) == rfc8785.dumps({"v": [value]}).decode("ascii")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (9007199254740994.0, "9007199254740994"),
        (1.4225864691000406e17, "142258646910004060"),
        (1e-4, "0.0001"),
        (9.5e-5, "0.000095"),
    ],
)
def test_rfc8785_number_examples(value: float, text: str) -> None:
    assert format_number(value) == text
    assert canonicalize([value]) == f"[{text}]"  # the fast path too


def test_members_sort_by_utf16_code_units() -> None:
    assert canonicalize({"\U0001f600": 1, "\ufb01": 2, "a": 3}) == '{"a":3,"😀":1,"ﬁ":2}'


@pytest.mark.parametrize("value", [2**53, -(2**53), object(), {1: "x"}])
def test_unrepresentable_values_are_typed_errors(value: Any) -> None:
    with pytest.raises(ProofError):
        canonicalize(value)
