"""Bitstring Status List v1.0: bit order, encoding, sizes, entries, index allocation."""

from __future__ import annotations

import gzip

import pytest

from credentials.errors import ErrorCode, StatusListError
from credentials.multiformats import multibase_decode, multibase_encode
from credentials.statuslist import (
    MIN_ENTRIES,
    Bitstring,
    StatusListCredentialBuilder,
    StatusMessage,
    allocate_index,
    decode_status_list_credential,
    make_status_entry,
    parse_status_entry,
)


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    bits = Bitstring()
    bits.set(0, 1)
    bits.set(9, 1)
    raw = bits.to_bytes()
    assert raw[0] == 0b1000_0000
    assert raw[1] == 0b0100_0000
    assert len(raw) == MIN_ENTRIES // 8


def test_encoding_is_gzip_base64url_multibase_and_round_trips() -> None:
    bits = Bitstring()
    for index in (0, 7, 8, 131_071, 50_000):
        bits.set(index, 1)
    encoded = bits.encode()
    assert encoded.startswith("u")
    assert "=" not in encoded
    assert gzip.decompress(multibase_decode(encoded)) == bits.to_bytes()
    decoded = Bitstring.decode(encoded)
    assert [decoded.get(i) for i in (0, 1, 7, 8, 131_071, 50_000)] == [1, 0, 1, 1, 1, 1]


def test_status_size_two_values_are_msb_first() -> None:
    bits = Bitstring(status_size=2)
    bits.set(0, 0b10)
    bits.set(1, 0b01)
    bits.set(3, 0b11)
    assert bits.to_bytes()[0] == 0b10_01_00_11
    assert [bits.get(i) for i in range(4)] == [2, 1, 0, 3]
    assert len(bits.to_bytes()) == MIN_ENTRIES * 2 // 8


def test_lists_shorter_than_the_minimum_are_refused() -> None:
    with pytest.raises(StatusListError):
        Bitstring(size=1024)
    short = multibase_encode(gzip.compress(bytes(1024)), "u")
    with pytest.raises(StatusListError):
        Bitstring.decode(short)


def test_zip_bomb_is_refused() -> None:
    bomb = multibase_encode(gzip.compress(bytes(20 * 1024 * 1024)), "u")
    with pytest.raises(StatusListError) as info:
        Bitstring.decode(bomb)
    assert info.value.code is ErrorCode.INPUT_TOO_LARGE


@pytest.mark.parametrize("encoded", ["zabc", "u!!!", "u" + "A" * 40, 5])
def test_malformed_encoded_lists_are_typed_errors(encoded: object) -> None:
    with pytest.raises(StatusListError):
        Bitstring.decode(encoded)  # type: ignore[arg-type]


def test_out_of_range_index_and_value() -> None:
    bits = Bitstring()
    with pytest.raises(StatusListError):
        bits.get(MIN_ENTRIES)
    with pytest.raises(StatusListError):
        bits.set(0, 2)


def test_allocation_is_random_and_never_reuses() -> None:
    used: set[int] = set()
    for _ in range(200):
        index = allocate_index(used)
        assert index not in used
        used.add(index)
    assert sorted(used) != list(range(200))


def test_allocation_fills_a_dense_list_then_reports_full() -> None:
    size = MIN_ENTRIES
    used = set(range(size)) - {5, 77}
    assert allocate_index(used, size) in {5, 77}
    with pytest.raises(StatusListError) as info:
        allocate_index(set(range(size)), size)
    assert info.value.code is ErrorCode.STATUS_LIST_FULL


MESSAGES = [StatusMessage(i, m) for i, m in enumerate(["ok", "pending", "restricted", "off"])]


def test_message_entry_round_trip() -> None:
    entry = make_status_entry(
        "https://x.example/s/1", 42, "message", status_size=2, messages=MESSAGES
    )
    assert entry["statusListIndex"] == "42"
    assert entry["statusSize"] == 2
    assert entry["statusMessage"][1] == {"status": "0x1", "message": "pending"}
    parsed = parse_status_entry(entry)
    assert parsed.status_size == 2
    assert parsed.status_messages[3].message == "off"


def test_status_size_above_one_requires_all_messages() -> None:
    with pytest.raises(StatusListError):
        make_status_entry(
            "https://x.example/s/1", 1, "message", status_size=2, messages=MESSAGES[:2]
        )


@pytest.mark.parametrize(
    "entry",
    [
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": 5,
            "statusListCredential": "https://x/1",
        },
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "-1",
            "statusListCredential": "https://x/1",
        },
        {
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": "1",
            "statusListCredential": "nope",
        },
        {
            "type": "Other",
            "statusPurpose": "revocation",
            "statusListIndex": "1",
            "statusListCredential": "https://x/1",
        },
    ],
)
def test_malformed_entries_are_refused(entry: dict[str, object]) -> None:
    with pytest.raises(StatusListError):
        parse_status_entry(entry)


def test_builder_output_decodes() -> None:
    bits = Bitstring()
    bits.set(1234, 1)
    credential = StatusListCredentialBuilder(
        url="https://x.example/s/1", issuer="did:web:x.example", bitstring=bits, ttl_ms=300_000
    ).build()
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    decoded = decode_status_list_credential(credential)
    assert decoded.purposes == ("revocation",)
    assert decoded.bitstring.get(1234) == 1
    assert decoded.issuer == "did:web:x.example"
