"""Multibase (base58btc ``z``, base64url ``u``) and the multicodec key prefixes we use."""

from __future__ import annotations

import binascii
from typing import Final

from credentials.errors import ErrorCode, KeyMaterialError

_B58_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58_ALPHABET)}

# multicodec varint prefixes (https://github.com/multiformats/multicodec table.csv)
ED25519_PUB: Final = b"\xed\x01"
ED25519_PRIV: Final = b"\x80\x26"
P256_PUB: Final = b"\x80\x24"
P384_PUB: Final = b"\x81\x24"
P256_PRIV: Final = b"\x86\x26"
P384_PRIV: Final = b"\x87\x26"


def b58encode(data: bytes) -> str:
    """Bitcoin base58 encoding (leading zero bytes become ``1``)."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58_ALPHABET[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode bitcoin base58; raises :class:`KeyMaterialError` on a foreign character."""
    num = 0
    for ch in text:
        idx = _B58_INDEX.get(ch)
        if idx is None:
            raise KeyMaterialError(f"invalid base58 character {ch!r}", code=ErrorCode.INVALID_KEY)
        num = num * 58 + idx
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\0" * zeros + body


_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE: Final = bytes.maketrans(b"-_", b"+/")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (``binascii`` directly: the ``base64`` wrappers cost more
    than the encoding for the short values of JOSE headers, salts and digests)."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode()


def b64url_decode(text: str) -> bytes:
    """base64url with or without padding; raises :class:`KeyMaterialError` if malformed."""
    try:
        # what base64.urlsafe_b64decode does (non-alphabet characters discarded, non-ASCII
        # text refused), without its wrappers
        data = text.encode("ascii").translate(_FROM_URLSAFE)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"invalid base64url: {exc}") from None


def multibase_encode(data: bytes, base: str = "z") -> str:
    """Multibase-encode ``data`` as base58btc (``z``) or base64url-no-pad (``u``)."""
    if base == "z":
        return "z" + b58encode(data)
    if base == "u":
        return "u" + b64url_encode(data)
    raise KeyMaterialError(f"unsupported multibase prefix {base!r}")


def multibase_decode(text: str) -> bytes:
    """Decode a ``z`` (base58btc) or ``u`` (base64url) multibase string."""
    if not text:
        raise KeyMaterialError("empty multibase value")
    if text[0] == "z":
        return b58decode(text[1:])
    if text[0] == "u":
        return b64url_decode(text[1:])
    raise KeyMaterialError(f"unsupported multibase prefix {text[0]!r}")
