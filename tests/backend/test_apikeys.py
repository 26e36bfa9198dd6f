from __future__ import annotations

from backend.orgs.apikeys import api_key_matches, generate_api_key, hash_api_key, parse_api_key


def test_generated_key_parses_to_its_prefix() -> None:
    key = generate_api_key()
    assert key.plaintext.startswith(f"bpp_{key.prefix}_")
    assert parse_api_key(key.plaintext) == key.prefix


def test_a_mistyped_key_fails_its_checksum() -> None:
    key = generate_api_key().plaintext
    position = len(key) - 10
    flipped = key[:position] + ("A" if key[position] != "A" else "B") + key[position + 1 :]
    assert parse_api_key(flipped) is None
    assert parse_api_key("bpp_short") is None
    assert parse_api_key("") is None


def test_only_a_keyed_hash_is_compared() -> None:
    key = generate_api_key().plaintext
    stored = hash_api_key(key, "secret-one")
    assert key not in stored
    assert api_key_matches(key, stored, "secret-one")
    assert not api_key_matches(key, stored, "secret-two")
