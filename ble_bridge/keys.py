"""The gateway's device key: Ed25519, identified by its ``did:key``.

The private key lives in one PEM file (mode 0600) on the gateway; an organisation registers the
``did:key`` with the platform, which verifies every upload batch against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ble_bridge.errors import ConfigInvalidError

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_ED25519_MULTICODEC = b"\xed\x01"


def base58btc(data: bytes) -> str:
    """Bitcoin-alphabet base58 (the ``z`` multibase without its prefix)."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = _B58[rem] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def base58btc_decode(text: str) -> bytes:
    """Inverse of :func:`base58btc`; raises ``ValueError`` on a foreign character."""
    n = 0
    for ch in text:
        idx = _B58.find(ch)
        if idx < 0:
            raise ValueError(f"not base58btc: {ch!r}")
        n = n * 58 + idx
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def did_key_from_public(public: Ed25519PublicKey) -> str:
    """``did:key:z6Mk…`` of an Ed25519 public key (multicodec 0xed01, base58btc)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "did:key:z" + base58btc(_ED25519_MULTICODEC + raw)


def public_from_did_key(did: str) -> Ed25519PublicKey:
    """The Ed25519 public key of a ``did:key``; raises ``ValueError`` for anything else."""
    if not did.startswith("did:key:z"):
        raise ValueError("not a base58btc did:key")
    data = base58btc_decode(did.removeprefix("did:key:z"))
    if data[:2] != _ED25519_MULTICODEC or len(data) != 34:
        raise ValueError("not an Ed25519 did:key")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def verify_signature(did: str, signature: bytes, message: bytes) -> bool:
    """True when ``signature`` is the device ``did``'s Ed25519 signature of ``message``."""
    try:
        public_from_did_key(did).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class DeviceKey:
    """An Ed25519 signing key with its ``did:key``."""

    private: Ed25519PrivateKey

    @property
    def did(self) -> str:
        """The device id."""
        return did_key_from_public(self.private.public_key())

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature (64 bytes)."""
        return self.private.sign(message)

    @classmethod
    def generate(cls) -> DeviceKey:
        """A fresh key."""
        return cls(Ed25519PrivateKey.generate())

    def save(self, path: Path) -> None:
        """Write the PEM file with mode 0600 (refuses to overwrite)."""
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)

    @classmethod
    def load(cls, path: Path) -> DeviceKey:
        """Read a PEM file written by :meth:`save`."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise ConfigInvalidError(f"cannot read device key {path}: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigInvalidError(f"{path} is not an Ed25519 key")
        return cls(key)
