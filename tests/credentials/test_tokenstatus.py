"""IETF Token Status List: the draft's examples, bit order, bounds, tokens."""

from __future__ import annotations

import zlib

import pytest

from credentials.errors import ErrorCode, StatusListError
from credentials.keys import KeyPair
from credentials.multiformats import b64url_encode
from credentials.tokenstatus import (
    TokenStatusList,
    issue_status_list_token,
    parse_reference,
    parse_status_list_token,
    status_reference,
)

# examples of draft-ietf-oauth-status-list (status values and their "lst")
EXAMPLES = [
    (1, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1], "eNrbuRgAAhcBXQ"),
    (2, [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3], "eNo76fITAAPfAgc"),
]


@pytest.mark.parametrize(("bits", "values", "lst"), EXAMPLES)
def test_draft_examples_encode_and_decode(bits: int, values: list[int], lst: str) -> None:
    status_list = TokenStatusList(len(values), bits)
    for index, value in enumerate(values):
        status_list.set(index, value)
    assert status_list.to_json() == {"bits": bits, "lst": lst}
    decoded = TokenStatusList.from_json({"bits": bits, "lst": lst})
    assert [decoded.get(i) for i in range(len(values))] == values


def test_index_zero_is_the_least_significant_bit() -> None:
    status_list = TokenStatusList(16, 1)
    status_list.set(0, 1)
    status_list.set(9, 1)
    assert status_list.to_bytes() == bytes([0b0000_0001, 0b0000_0010])


@pytest.mark.parametrize("bits", [3, 0, 16, True])
def test_only_1_2_4_8_bits(bits: int) -> None:
    with pytest.raises(StatusListError):
        TokenStatusList.from_json({"bits": bits, "lst": "eNrbuRgAAhcBXQ"})


def test_zip_bomb_is_refused() -> None:
    bomb = b64url_encode(zlib.compress(bytes(20 * 1024 * 1024), 9))
    with pytest.raises(StatusListError) as info:
        TokenStatusList.from_json({"bits": 1, "lst": bomb})
    assert info.value.code is ErrorCode.INPUT_TOO_LARGE


def test_token_round_trip_and_signature() -> None:
    pair = KeyPair.generate("Ed25519", key_id="did:key:z6Mk#k")
    status_list = TokenStatusList(100, 2)
    status_list.set(42, 2)
    token = issue_status_list_token(status_list, pair, uri="https://x.example/tsl/1", ttl=300)
    parsed = parse_status_list_token(token)
    assert parsed.header["typ"] == "statuslist+jwt"
    assert parsed.payload["sub"] == "https://x.example/tsl/1"
    assert parsed.payload["ttl"] == 300
    assert parsed.verify_signature(pair.public)
    assert not parsed.verify_signature(KeyPair.generate("Ed25519").public)
    assert parsed.status_list().get(42) == 2


@pytest.mark.parametrize(
    "status",
    [None, {}, {"status_list": {"idx": -1, "uri": "https://x"}}, {"status_list": {"idx": 1}}],
)
def test_malformed_references(status: object) -> None:
    with pytest.raises(StatusListError):
        parse_reference(status)
    assert parse_reference(status_reference("https://x/1", 3)) == ("https://x/1", 3)
