"""API keys: `bpp_<prefix>_<secret><checksum>`, stored only as an HMAC under BPP_SECRET_KEY.

The prefix finds the row without scanning; the checksum lets a client (or a secret scanner)
reject a mistyped key without a round trip; the keyed hash means a leaked database does not
leak usable keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import zlib
from dataclasses import dataclass

_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 32
_CHECKSUM_LENGTH = 6


@dataclass(frozen=True, slots=True)
class NewApiKey:
    prefix: str
    plaintext: str


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def generate_api_key() -> NewApiKey:
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    body = f"bpp_{prefix}_{secret}"
    return NewApiKey(prefix=prefix, plaintext=body + _checksum(body))


def parse_api_key(plaintext: str) -> str | None:
    """The key's prefix if it is well formed and its checksum matches, else None."""
    parts = plaintext.split("_")
    if len(parts) != 3 or parts[0] != "bpp" or len(parts[1]) != 8:
        return None
    tail = parts[2]
    if len(tail) != _SECRET_LENGTH + _CHECKSUM_LENGTH:
        return None
    body = f"bpp_{parts[1]}_{tail[:_SECRET_LENGTH]}"
    if not hmac.compare_digest(_checksum(body), tail[_SECRET_LENGTH:]):
        return None
    return parts[1]


def hash_api_key(plaintext: str, secret_key: str) -> str:
    return hmac.new(secret_key.encode(), plaintext.encode(), hashlib.sha256).hexdigest()


def api_key_matches(plaintext: str, key_hash: str, secret_key: str) -> bool:
    return hmac.compare_digest(hash_api_key(plaintext, secret_key), key_hash)
