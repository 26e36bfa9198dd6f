"""IETF OAuth Token Status List: the list, its ``statuslist+jwt`` token, and references.

* Each token has ``bits`` (1, 2, 4 or 8) status bits; index 0 is in the *least*
  significant bits of the first byte (unlike the W3C Bitstring Status List).
* ``lst`` = base64url (no padding) of the ZLIB (RFC 1950) DEFLATE-compressed bytes.
* Status values: 0 VALID, 1 INVALID (revoked), 2 SUSPENDED, 3 and up application-specific.
* A referenced token carries ``"status": {"status_list": {"idx": n, "uri": "..."}}``.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from credentials import fastjson
from credentials.errors import ErrorCode, ProofError, StatusListError
from credentials.keys import KeyAlgorithm, PublicKey, Signer
from credentials.multiformats import b64url_decode, b64url_encode

STATUS_LIST_JWT_TYP: Final = "statuslist+jwt"
VALID: Final = 0
INVALID: Final = 1
SUSPENDED: Final = 2
MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
_ALLOWED_BITS: Final = (1, 2, 4, 8)
_ALG_BY_KEY: Final = {
    KeyAlgorithm.P256: "ES256",
    KeyAlgorithm.P384: "ES384",
    KeyAlgorithm.ED25519: "EdDSA",
}


class TokenStatusList:
    """A mutable Token Status List of ``size`` entries × ``bits`` bits (LSB first)."""

    __slots__ = ("_data", "bits", "size")

    def __init__(self, size: int, bits: int = 1) -> None:
        if bits not in _ALLOWED_BITS:
            raise StatusListError(f"bits must be one of {_ALLOWED_BITS}, got {bits}")
        if size < 1:
            raise StatusListError("a status list needs at least one entry")
        self.size = size
        self.bits = bits
        self._data = bytearray((size * bits + 7) // 8)

    @classmethod
    def from_bytes(cls, data: bytes, bits: int) -> TokenStatusList:
        """Wrap raw (uncompressed) list bytes."""
        if bits not in _ALLOWED_BITS:
            raise StatusListError(f"bits must be one of {_ALLOWED_BITS}, got {bits}")
        out = cls.__new__(cls)
        out.bits = bits
        out.size = len(data) * 8 // bits
        out._data = bytearray(data)
        return out

    def to_bytes(self) -> bytes:
        """The raw (uncompressed) list."""
        return bytes(self._data)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise StatusListError(f"index {index} outside the list (size {self.size})")

    def get(self, index: int) -> int:
        """Status value at ``index``."""
        self._check(index)
        per_byte = 8 // self.bits
        shift = (index % per_byte) * self.bits
        return (self._data[index // per_byte] >> shift) & ((1 << self.bits) - 1)

    def set(self, index: int, value: int) -> None:
        """Set the status value at ``index``."""
        self._check(index)
        if not 0 <= value < (1 << self.bits):
            raise StatusListError(f"value {value} does not fit in {self.bits} bits")
        per_byte = 8 // self.bits
        shift = (index % per_byte) * self.bits
        mask = ((1 << self.bits) - 1) << shift
        byte = index // per_byte
        self._data[byte] = (self._data[byte] & ~mask & 0xFF) | (value << shift)

    def to_json(self) -> dict[str, Any]:
        """``{"bits": n, "lst": "<base64url(zlib(bytes))>"}``."""
        return {"bits": self.bits, "lst": b64url_encode(zlib.compress(bytes(self._data), 9))}

    @classmethod
    def from_json(cls, value: Any) -> TokenStatusList:
        """Decode a ``status_list`` object (bounded inflate, typed errors)."""
        if not isinstance(value, Mapping):
            raise StatusListError("status_list must be an object")
        bits, lst = value.get("bits"), value.get("lst")
        if bits not in _ALLOWED_BITS or isinstance(bits, bool):
            raise StatusListError(f"bits must be one of {_ALLOWED_BITS}")
        if not isinstance(lst, str):
            raise StatusListError("lst must be a base64url string")
        try:
            compressed = b64url_decode(lst)
            inflater = zlib.decompressobj()
            raw = inflater.decompress(compressed, MAX_DECODED_BYTES + 1)
        except (zlib.error, ProofError, ValueError) as exc:
            raise StatusListError(f"lst is not base64url ZLIB data: {exc}") from None
        except Exception:
            raise StatusListError("lst is not base64url ZLIB data") from None
        if len(raw) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise StatusListError(
                "status list inflates beyond the bound", code=ErrorCode.INPUT_TOO_LARGE
            )
        return cls.from_bytes(raw, int(bits))


def status_reference(uri: str, index: int) -> dict[str, Any]:
    """The ``status`` claim of a referenced token."""
    return {"status_list": {"idx": index, "uri": uri}}


def _b64json(value: Mapping[str, Any]) -> str:
    return b64url_encode(json.dumps(dict(value), separators=(",", ":")).encode("utf-8"))


def issue_status_list_token(
    status_list: TokenStatusList,
    signer: Signer,
    *,
    uri: str,
    iat: int | None = None,
    exp: int | None = None,
    ttl: int | None = None,
) -> str:
    """A signed ``statuslist+jwt`` (``sub`` = the list's URI, ``kid`` = the signer's key)."""
    payload: dict[str, Any] = {
        "sub": uri,
        "iat": int(time.time()) if iat is None else iat,
        "status_list": status_list.to_json(),
    }
    if exp is not None:
        payload["exp"] = exp
    if ttl is not None:
        payload["ttl"] = ttl
    header = {
        "alg": _ALG_BY_KEY[signer.algorithm],
        "typ": STATUS_LIST_JWT_TYP,
        "kid": signer.key_id,
    }
    signing_input = _b64json(header) + "." + _b64json(payload)
    return signing_input + "." + b64url_encode(signer.sign(signing_input.encode("ascii")))


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A parsed ``statuslist+jwt`` (signature not checked yet)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes

    @property
    def kid(self) -> str:
        """The signing key's DID URL."""
        return str(self.header.get("kid", ""))

    def verify_signature(self, key: PublicKey) -> bool:
        """``alg`` pinned to the key type, then the signature."""
        return self.header.get("alg") == _ALG_BY_KEY[key.algorithm] and key.verify(
            self.signing_input, self.signature
        )

    def status_list(self) -> TokenStatusList:
        """The decoded list."""
        return TokenStatusList.from_json(self.payload.get("status_list"))


def parse_status_list_token(token: Any) -> StatusListToken:
    """Parse a ``statuslist+jwt``; typed errors for anything malformed."""
    if not isinstance(token, str) or len(token) > MAX_DECODED_BYTES:
        raise StatusListError("a status list token is a compact JWT string")
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise StatusListError("a compact JWT has three parts")
    try:
        header = fastjson.loads(b64url_decode(parts[0]))
        payload = fastjson.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except Exception:
        raise StatusListError("status list token parts are not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise StatusListError("status list token header and payload must be objects")
    if header.get("typ") != STATUS_LIST_JWT_TYP:
        raise StatusListError(f"typ must be {STATUS_LIST_JWT_TYP}")
    if header.get("alg") not in _ALG_BY_KEY.values() or "crit" in header:
        raise StatusListError("status list token alg not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or "#" not in kid:
        raise StatusListError("status list token kid must be a DID URL")
    return StatusListToken(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def parse_reference(status: Any) -> tuple[str, int]:
    """``(uri, idx)`` of a referenced token's ``status`` claim."""
    ref = status.get("status_list") if isinstance(status, Mapping) else None
    if not isinstance(ref, Mapping):
        raise StatusListError("status.status_list must be an object")
    uri, idx = ref.get("uri"), ref.get("idx")
    if not isinstance(uri, str) or ":" not in uri:
        raise StatusListError("status_list.uri must be a URI")
    if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
        raise StatusListError("status_list.idx must be a non-negative integer")
    return uri, idx
