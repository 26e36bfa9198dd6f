"""contracts.status without a chain: digest layout, change records, snapshots, rebuild rules."""

from __future__ import annotations

import base64
import zlib

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given
from hypothesis import strategies as st

from contracts import ContractError, ContractErrorCode
from contracts.status import (
    BitOrder,
    ChangesPublished,
    ListCreated,
    ListShape,
    SnapshotPublished,
    StatusChange,
    StatusListEvent,
    apply_changes,
    decode_snapshot,
    diff_values,
    encode_snapshot,
    pack_changes,
    pack_values,
    rebuild_latest,
    rebuild_versions,
    status_digest,
    unpack_changes,
    unpack_values,
)

LIST_ID = bytes(range(32))
ISSUER = "0x" + "ab" * 20


def keccak256(data: bytes) -> bytes:
    # A second keccak implementation (pycryptodome), so the layout is checked, not the helper.
    return pycryptodome_keccak.new(digest_bits=256, data=data).digest()


@st.composite
def shapes(draw: st.DrawFn, max_length: int = 3000) -> ListShape:
    return ListShape(length=draw(st.integers(1, max_length)), entry_size=draw(st.integers(1, 8)))


@st.composite
def shaped_values(draw: st.DrawFn) -> tuple[ListShape, bytes]:
    shape = draw(shapes())
    raw = draw(st.binary(min_size=shape.length, max_size=shape.length))
    return shape, bytes(b & shape.max_value for b in raw)


def test_digest_is_keccak_over_the_documented_layout() -> None:
    shape = ListShape(length=5, entry_size=2)
    values = bytes([0, 3, 1, 0, 2])
    expected = keccak256(
        b"BPP-STATUS-LIST/v1"
        + LIST_ID
        + (7).to_bytes(8, "big")
        + b"\x02"
        + (5).to_bytes(4, "big")
        + b"\x00\x03\x01\x00\x02"
    )
    assert status_digest(LIST_ID, 7, shape, values) == expected


def test_digest_binds_list_version_shape_and_values() -> None:
    shape = ListShape(8, 1)
    values = bytes([0, 1, 0, 0, 0, 0, 0, 1])
    base = status_digest(LIST_ID, 1, shape, values)
    assert base != status_digest(bytes(32), 1, shape, values)
    assert base != status_digest(LIST_ID, 2, shape, values)
    assert base != status_digest(LIST_ID, 1, ListShape(8, 2), values)
    assert base != status_digest(LIST_ID, 1, shape, bytes([1, 1, 0, 0, 0, 0, 0, 1]))


def test_digest_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ContractError) as info:
        status_digest(LIST_ID, 1, ListShape(4, 1), bytes([0, 2, 0, 0]))
    assert info.value.code is ContractErrorCode.INVALID_VALUES
    with pytest.raises(ContractError):
        status_digest(LIST_ID, 1, ListShape(4, 1), bytes(3))
    with pytest.raises(ContractError):
        status_digest(b"short", 1, ListShape(4, 1), bytes(4))


@pytest.mark.parametrize(
    ("length", "entry_size", "record_bytes"),
    [
        (1, 1, 1),
        (2, 1, 1),
        (128, 1, 1),
        (129, 1, 2),
        (131_072, 1, 3),
        (131_073, 1, 3),
        (2**20, 8, 4),
        (2**32 - 1, 8, 5),
    ],
)
def test_record_width(length: int, entry_size: int, record_bytes: int) -> None:
    assert ListShape(length, entry_size).record_bytes == record_bytes


def test_shape_limits() -> None:
    for length, entry_size in [(0, 1), (2**32, 1), (10, 0), (10, 9)]:
        with pytest.raises(ContractError) as info:
            ListShape(length, entry_size)
        assert info.value.code is ContractErrorCode.INVALID_SHAPE


def test_change_record_layout() -> None:
    shape = ListShape(131_072, 1)
    # index 5, value 1 -> (5 << 1) | 1 = 11 in three bytes; records sorted by index.
    assert pack_changes({131_071: 1, 5: 1}, shape) == bytes.fromhex("00000b03ffff")


@given(data=st.data(), shape=shapes())
def test_changes_round_trip(data: st.DataObject, shape: ListShape) -> None:
    indices = data.draw(st.sets(st.integers(0, shape.length - 1), min_size=1, max_size=50))
    changes = {i: data.draw(st.integers(0, shape.max_value)) for i in indices}
    packed = pack_changes(changes, shape)
    assert len(packed) == len(changes) * shape.record_bytes
    assert unpack_changes(packed, shape) == tuple(
        StatusChange(i, v) for i, v in sorted(changes.items())
    )


def test_pack_changes_refuses_bad_changes() -> None:
    shape = ListShape(100, 2)
    for bad in ({}, {100: 1}, {-1: 1}, {5: 4}, [(5, 1), (5, 2)]):
        with pytest.raises(ContractError) as info:
            pack_changes(bad, shape)
        assert info.value.code is ContractErrorCode.INVALID_CHANGE


def test_unpack_changes_refuses_what_the_contract_refuses() -> None:
    shape = ListShape(100, 1)
    for blob in (b"", b"\x00\x01\x00", bytes([10, 10]), bytes([20, 10]), bytes([200])):
        with pytest.raises(ContractError) as info:
            unpack_changes(blob, shape)
        assert info.value.code is ContractErrorCode.MALFORMED_CHANGES


def test_bit_packing_is_msb_first_like_the_w3c_bitstring() -> None:
    assert pack_values(bytes([1, 0, 0, 0, 0, 0, 0, 1, 1]), ListShape(9, 1)) == b"\x81\x80"
    assert pack_values(bytes([3, 0, 2]), ListShape(3, 2)) == bytes([0b11001000])
    assert pack_values(bytes([5, 1]), ListShape(2, 3)) == bytes([0b10100100])


@given(shaped_values())
def test_snapshot_round_trip(case: tuple[ListShape, bytes]) -> None:
    shape, values = case
    assert unpack_values(pack_values(values, shape), shape) == values
    assert decode_snapshot(encode_snapshot(values, shape), shape) == values


def test_snapshot_decoding_is_strict_and_bounded() -> None:
    shape = ListShape(16, 1)
    bad_cases = [
        zlib.compress(b"\x00"),  # too short
        zlib.compress(b"\x00\x00\x00"),  # too long
        zlib.compress(bytes(10**7)),  # a bomb: stops at the expected size
        zlib.compress(b"\x00\x00") + b"junk",  # trailing data
        b"not zlib",
    ]
    for blob in bad_cases:
        with pytest.raises(ContractError) as info:
            decode_snapshot(blob, shape)
        assert info.value.code is ContractErrorCode.MALFORMED_SNAPSHOT
    with pytest.raises(ContractError) as info:
        unpack_values(b"\x00\x01", ListShape(15, 1))  # padding bit set
    assert info.value.code is ContractErrorCode.MALFORMED_SNAPSHOT
    with pytest.raises(ContractError) as info:
        decode_snapshot(zlib.compress(b"\x00\x00"), shape, codec=2)
    assert info.value.code is ContractErrorCode.UNKNOWN_CODEC


def test_diff_then_apply_gives_the_new_values() -> None:
    shape = ListShape(6, 4)
    old, new = bytes([0, 1, 2, 3, 4, 5]), bytes([0, 9, 2, 3, 15, 5])
    changes = diff_values(old, new, shape)
    assert changes == (StatusChange(1, 9), StatusChange(4, 15))
    assert apply_changes(old, changes, shape) == new


def _publish(
    version: int, values: bytes, changes: dict[int, int], shape: ListShape
) -> ChangesPublished:
    return ChangesPublished(
        issuer=ISSUER,
        list_id=LIST_ID,
        version=version,
        digest=status_digest(LIST_ID, version, shape, values),
        changes=pack_changes(changes, shape),
    )


def test_rebuild_rules() -> None:
    shape = ListShape(10, 1)
    created = ListCreated(ISSUER, LIST_ID, shape)
    v1 = bytes([1] + [0] * 9)
    v2 = bytes([1, 1] + [0] * 8)
    v3 = bytes([0, 1] + [0] * 8)
    e1 = _publish(1, v1, {0: 1}, shape)
    e2 = SnapshotPublished(
        ISSUER, LIST_ID, 2, status_digest(LIST_ID, 2, shape, v2), 1, encode_snapshot(v2, shape)
    )
    e3 = _publish(3, v3, {0: 0}, shape)
    assert rebuild_versions([e3, created, e1, e2]) == {0: bytes(10), 1: v1, 2: v2, 3: v3}
    # From the checkpoint on only.
    assert rebuild_versions([created, e2, e3]) == {2: v2, 3: v3}

    def code_of(events: list[object]) -> ContractErrorCode:
        with pytest.raises(ContractError) as info:
            rebuild_versions(events)  # type: ignore[arg-type]
        return info.value.code

    assert code_of([e1, e2]) is ContractErrorCode.REBUILD_WRONG_LIST
    assert code_of([created, e1, e3]) is ContractErrorCode.REBUILD_GAP
    assert code_of([created, e3]) is ContractErrorCode.REBUILD_GAP
    assert code_of([created, e1, e1]) is ContractErrorCode.REBUILD_GAP
    other_list = ChangesPublished(ISSUER, bytes(32), 1, e1.digest, e1.changes)
    assert code_of([created, other_list]) is ContractErrorCode.REBUILD_WRONG_LIST
    lying = ChangesPublished(ISSUER, LIST_ID, 1, e3.digest, e1.changes)
    assert code_of([created, lying]) is ContractErrorCode.DIGEST_MISMATCH


# draft-ietf-oauth-status-list (Token Status List), section "Status List" examples: the
# statuses and the `lst` values (zlib, base64url) for bits = 1 and bits = 2.
IETF_BITS_1 = ([1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1], "eNrbuRgAAhcBXQ")
IETF_BITS_2 = ([1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3], "eNo76fITAAPfAgc")


@pytest.mark.parametrize(("entry_size", "example"), [(1, IETF_BITS_1), (2, IETF_BITS_2)])
def test_lsb_first_matches_the_ietf_token_status_list_examples(
    entry_size: int, example: tuple[list[int], str]
) -> None:
    statuses, lst = example
    shape = ListShape(len(statuses), entry_size)
    packed = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert unpack_values(packed, shape, BitOrder.LSB_FIRST) == bytes(statuses)
    assert pack_values(bytes(statuses), shape, BitOrder.LSB_FIRST) == packed


@given(shaped_values())
def test_lsb_first_round_trip(case: tuple[ListShape, bytes]) -> None:
    shape, values = case
    if 8 % shape.entry_size:
        with pytest.raises(ContractError) as info:
            pack_values(values, shape, BitOrder.LSB_FIRST)
        assert info.value.code is ContractErrorCode.INVALID_SHAPE
        return
    packed = pack_values(values, shape, BitOrder.LSB_FIRST)
    assert unpack_values(packed, shape, BitOrder.LSB_FIRST) == values


def test_rebuild_latest_keeps_only_the_newest_version() -> None:
    shape = ListShape(10, 1)
    v1 = bytes([1] + [0] * 9)
    v2 = bytes([1, 1] + [0] * 8)
    events: list[StatusListEvent] = [
        ListCreated(ISSUER, LIST_ID, shape),
        _publish(1, v1, {0: 1}, shape),
        _publish(2, v2, {1: 1}, shape),
    ]
    assert rebuild_latest(events) == (2, v2)
    assert rebuild_latest(events[:1]) == (0, bytes(10))
