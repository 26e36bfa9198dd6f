"""Bitstring Status List v1.0: the bitstring, its encoding, entries and list credentials.

* Bit order: index 0 is the most significant bit of the first byte; an entry of
  ``statusSize`` bits occupies bits ``index*statusSize .. index*statusSize+statusSize-1``,
  read most significant first.
* ``encodedList`` = multibase base64url (``u``, no padding) of the GZIP-compressed bitstring.
* A list holds at least 131,072 entries (16 KiB per status bit) for herd privacy.
"""

from __future__ import annotations

import gzip
import secrets
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from credentials.contexts import CREDENTIALS_V2_URL
from credentials.errors import CredentialError, ErrorCode, StatusListError
from credentials.multiformats import multibase_decode, multibase_encode

MIN_ENTRIES: Final = 131_072
"""Minimum number of entries in a list (Bitstring Status List v1.0 §6.1)."""

MAX_DECODED_BYTES: Final = 16 * 1024 * 1024
"""Refuse lists that inflate beyond 16 MiB (zip-bomb bound for untrusted input)."""

ENTRY_TYPE: Final = "BitstringStatusListEntry"
LIST_CREDENTIAL_TYPE: Final = "BitstringStatusListCredential"
LIST_TYPE: Final = "BitstringStatusList"


class StatusPurpose(StrEnum):
    """``statusPurpose`` values of the specification."""

    REVOCATION = "revocation"
    SUSPENSION = "suspension"
    REFRESH = "refresh"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """One ``statusMessage`` item: a status value (hex string ``0x..``) and its meaning."""

    status: int
    message: str

    def to_json(self) -> dict[str, str]:
        """JSON form ``{"status": "0x1", "message": ...}``."""
        return {"status": hex(self.status), "message": self.message}


class Bitstring:
    """A mutable status bitstring of ``size`` entries × ``status_size`` bits."""

    __slots__ = ("_bits", "size", "status_size")

    def __init__(self, size: int = MIN_ENTRIES, status_size: int = 1) -> None:
        if status_size < 1 or status_size > 8:
            raise StatusListError(f"statusSize must be 1..8, got {status_size}")
        if size < MIN_ENTRIES:
            raise StatusListError(f"a status list needs at least {MIN_ENTRIES} entries")
        self.size = size
        self.status_size = status_size
        self._bits = bytearray((size * status_size + 7) // 8)

    @classmethod
    def from_bytes(cls, data: bytes, status_size: int = 1) -> Bitstring:
        """Wrap raw (uncompressed) bitstring bytes."""
        size = (len(data) * 8) // status_size
        out = cls.__new__(cls)
        if status_size < 1 or status_size > 8:
            raise StatusListError(f"statusSize must be 1..8, got {status_size}")
        if size < MIN_ENTRIES:
            raise StatusListError(
                f"status list has {size} entries, fewer than the minimum {MIN_ENTRIES}"
            )
        out.size = size
        out.status_size = status_size
        out._bits = bytearray(data)
        return out

    def to_bytes(self) -> bytes:
        """The raw (uncompressed) bitstring."""
        return bytes(self._bits)

    def _check(self, index: int) -> None:
        if not 0 <= index < self.size:
            raise StatusListError(f"status index {index} outside the list (size {self.size})")

    def get(self, index: int) -> int:
        """The status value at ``index`` (``status_size`` bits, most significant first)."""
        self._check(index)
        value = 0
        start = index * self.status_size
        for bit in range(start, start + self.status_size):
            value = (value << 1) | ((self._bits[bit >> 3] >> (7 - (bit & 7))) & 1)
        return value

    def set(self, index: int, value: int) -> None:
        """Set the status value at ``index``."""
        self._check(index)
        if not 0 <= value < (1 << self.status_size):
            raise StatusListError(f"status value {value} does not fit {self.status_size} bits")
        start = index * self.status_size
        for offset in range(self.status_size):
            bit = start + offset
            mask = 1 << (7 - (bit & 7))
            if (value >> (self.status_size - 1 - offset)) & 1:
                self._bits[bit >> 3] |= mask
            else:
                self._bits[bit >> 3] &= ~mask & 0xFF

    def encode(self) -> str:
        """``encodedList``: multibase base64url of the GZIP-compressed bitstring."""
        # mtime=0 keeps the encoding deterministic (same list → same bytes → same digest)
        return multibase_encode(gzip.compress(bytes(self._bits), mtime=0), "u")

    @classmethod
    def decode(cls, encoded: str, status_size: int = 1) -> Bitstring:
        """Decode an ``encodedList`` (refusing malformed, too small or too large lists)."""
        if not isinstance(encoded, str) or not encoded.startswith("u"):
            raise StatusListError("encodedList must be multibase base64url ('u')")
        try:
            compressed = multibase_decode(encoded)
        except CredentialError:
            raise StatusListError("encodedList is not valid base64url") from None
        try:
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            raw = inflater.decompress(compressed, MAX_DECODED_BYTES + 1)
        except zlib.error as exc:
            raise StatusListError(f"encodedList is not GZIP data: {exc}") from None
        if len(raw) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise StatusListError(
                "status list inflates beyond the bound", code=ErrorCode.INPUT_TOO_LARGE
            )
        return cls.from_bytes(raw, status_size)


def allocate_index(used: Iterable[int] | set[int], size: int = MIN_ENTRIES) -> int:
    """A uniformly random unused index in ``[0, size)`` (herd privacy: never sequential).

    Raises :class:`StatusListError` (``status_list_full``) when every index is taken.
    """
    used_set = used if isinstance(used, set) else set(used)
    free = size - sum(1 for i in used_set if 0 <= i < size)
    if free <= 0:
        raise StatusListError("no free index left in this list", code=ErrorCode.STATUS_LIST_FULL)
    # rejection sampling is fast while the list is sparse; fall back to counting when dense
    if free > size // 4:
        while True:
            candidate = secrets.randbelow(size)
            if candidate not in used_set:
                return candidate
    pick = secrets.randbelow(free)
    for candidate in range(size):
        if candidate in used_set:
            continue
        if pick == 0:
            return candidate
        pick -= 1
    raise StatusListError("no free index left in this list", code=ErrorCode.STATUS_LIST_FULL)


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """A parsed ``BitstringStatusListEntry``."""

    status_purpose: str
    status_list_index: int
    status_list_credential: str
    status_size: int = 1
    status_messages: tuple[StatusMessage, ...] = ()
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``credentialStatus``."""
        out: dict[str, Any] = {}
        if self.id:
            out["id"] = self.id
        out["type"] = ENTRY_TYPE
        out["statusPurpose"] = self.status_purpose
        out["statusListIndex"] = str(self.status_list_index)
        out["statusListCredential"] = self.status_list_credential
        if self.status_size != 1:
            out["statusSize"] = self.status_size
        if self.status_messages:
            out["statusMessage"] = [m.to_json() for m in self.status_messages]
        return out


def make_status_entry(
    list_credential_url: str,
    index: int,
    purpose: StatusPurpose | str = StatusPurpose.REVOCATION,
    *,
    status_size: int = 1,
    messages: Sequence[StatusMessage] = (),
) -> dict[str, Any]:
    """A ``credentialStatus`` entry object pointing at ``list_credential_url`` / ``index``.

    The entry ``id`` is ``<list URL>#<index>`` (unique per list and index).
    """
    if status_size > 1 and len(messages) != (1 << status_size):
        raise StatusListError(
            f"statusSize {status_size} needs {1 << status_size} statusMessage items"
        )
    return StatusEntry(
        status_purpose=str(purpose),
        status_list_index=index,
        status_list_credential=list_credential_url,
        status_size=status_size,
        status_messages=tuple(messages),
        id=f"{list_credential_url}#{index}",
    ).to_json()


def _parse_messages(value: Any) -> tuple[StatusMessage, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise StatusListError("statusMessage must be an array")
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise StatusListError("statusMessage items must be objects")
        status, message = item.get("status"), item.get("message")
        if not isinstance(status, str) or not status.lower().startswith("0x"):
            raise StatusListError("statusMessage.status must be a hex string like '0x1'")
        try:
            code = int(status, 16)
        except ValueError:
            raise StatusListError(f"statusMessage.status {status!r} is not hex") from None
        if not isinstance(message, str):
            raise StatusListError("statusMessage.message must be a string")
        out.append(StatusMessage(code, message))
    return tuple(out)


def parse_status_entry(entry: Mapping[str, Any]) -> StatusEntry:
    """Parse and check a ``BitstringStatusListEntry`` object (typed errors otherwise)."""
    if entry.get("type") != ENTRY_TYPE:
        raise StatusListError(f"not a {ENTRY_TYPE}")
    purpose = entry.get("statusPurpose")
    if not isinstance(purpose, str) or not purpose:
        raise StatusListError("statusPurpose must be a non-empty string")
    raw_index = entry.get("statusListIndex")
    if not isinstance(raw_index, str) or not raw_index.isdigit():
        raise StatusListError("statusListIndex must be a string of decimal digits")
    url = entry.get("statusListCredential")
    if not isinstance(url, str) or ":" not in url:
        raise StatusListError("statusListCredential must be a URL")
    size = entry.get("statusSize", 1)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 8:
        raise StatusListError("statusSize must be an integer 1..8")
    messages = _parse_messages(entry.get("statusMessage"))
    if size > 1 and len(messages) != (1 << size):
        raise StatusListError(f"statusSize {size} requires {1 << size} statusMessage items")
    entry_id = entry.get("id")
    return StatusEntry(
        status_purpose=purpose,
        status_list_index=int(raw_index),
        status_list_credential=url,
        status_size=size,
        status_messages=messages,
        id=entry_id if isinstance(entry_id, str) else None,
    )


@dataclass(slots=True)
class StatusListCredentialBuilder:
    """Builds the unsigned ``BitstringStatusListCredential`` for one list.

    ``statusSize`` and ``statusMessage`` belong on each entry (the VC v2 context defines
    them only there); the list itself is just the bitstring.

    Sign the result with :func:`credentials.issuance.issue` (or ``add_proof``).
    """

    url: str
    issuer: str
    purpose: StatusPurpose | str = StatusPurpose.REVOCATION
    bitstring: Bitstring = field(default_factory=Bitstring)
    valid_from: str | None = None
    valid_until: str | None = None
    ttl_ms: int | None = None

    def build(self) -> dict[str, Any]:
        """The unsigned status list credential (deterministic for the same inputs)."""
        subject: dict[str, Any] = {
            "id": f"{self.url}#list",
            "type": LIST_TYPE,
            "statusPurpose": str(self.purpose),
            "encodedList": self.bitstring.encode(),
        }
        if self.ttl_ms is not None:
            subject["ttl"] = self.ttl_ms
        credential: dict[str, Any] = {
            "@context": [CREDENTIALS_V2_URL],
            "id": self.url,
            "type": ["VerifiableCredential", LIST_CREDENTIAL_TYPE],
            "issuer": self.issuer,
        }
        if self.valid_from:
            credential["validFrom"] = self.valid_from
        if self.valid_until:
            credential["validUntil"] = self.valid_until
        credential["credentialSubject"] = subject
        return credential


@dataclass(frozen=True, slots=True)
class DecodedStatusList:
    """A status list credential's decoded content."""

    url: str
    issuer: str
    purposes: tuple[str, ...]
    bitstring: Bitstring


def decode_status_list_credential(
    credential: Mapping[str, Any], *, status_size: int = 1
) -> DecodedStatusList:
    """Check the shape of a ``BitstringStatusListCredential`` and decode its list."""
    types = credential.get("type")
    if not isinstance(types, list) or LIST_CREDENTIAL_TYPE not in types:
        raise StatusListError(f"status list credential lacks type {LIST_CREDENTIAL_TYPE}")
    subject = credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("type") != LIST_TYPE:
        raise StatusListError(f"credentialSubject must be a {LIST_TYPE}")
    purpose = subject.get("statusPurpose")
    purposes = purpose if isinstance(purpose, list) else [purpose]
    if not purposes or not all(isinstance(p, str) for p in purposes):
        raise StatusListError("statusPurpose must be a string or list of strings")
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    return DecodedStatusList(
        url=str(credential.get("id", "")),
        issuer=str(issuer_id),
        purposes=tuple(str(p) for p in purposes),
        bitstring=Bitstring.decode(str(subject.get("encodedList", "")), status_size),
    )
