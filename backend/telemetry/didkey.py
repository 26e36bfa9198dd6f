"""Ed25519 `did:key` identifiers of gateways: parse and verify signatures."""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credentials.multiformats import b58decode

_ED25519 = b"\xed\x01"
MAX_DID_LENGTH = 120


@lru_cache(maxsize=8192)
def public_key(did: str) -> Ed25519PublicKey:
    """The key inside an Ed25519 did:key (cached: every batch of a device needs it)."""
    if not did.startswith("did:key:z") or len(did) > MAX_DID_LENGTH:
        raise ValueError("not a base58btc did:key")
    try:
        data = b58decode(did.removeprefix("did:key:z"))
    except Exception as error:  # the library's typed key error: not base58
        raise ValueError("not a base58btc did:key") from error
    if len(data) != 34 or data[:2] != _ED25519:
        raise ValueError("not an Ed25519 did:key")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def is_ed25519_did_key(did: str) -> bool:
    try:
        public_key(did)
    except ValueError:
        return False
    return True


def verify(did: str, signature: bytes, message: bytes) -> bool:
    try:
        public_key(did).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
