"""Off-chain side of ``StatusListRegistry``: digest, change records, snapshots and rebuild.

A status list is modelled by its *decoded values*: ``bytes`` with one byte per entry, each
below ``2 ** entry_size``. Every function here works on that form, so the W3C Bitstring Status
List and the IETF Token Status List (each with its own wire encoding) share one digest and one
on-chain history. Formats (all big-endian):

digest
    ``keccak256(b"BPP-STATUS-LIST/v1" ‖ list_id (32) ‖ uint64 version ‖ uint8 entry_size ‖
    uint32 length ‖ values)``, ``values`` one byte per entry.
change record
    ``record_bytes = ceil((bit_length(length - 1) + entry_size) / 8)`` bytes holding the integer
    ``index << entry_size | value``; a publish concatenates records with strictly increasing
    indices.
snapshot, codec 1
    ``zlib`` (RFC 1950) of the entries packed ``entry_size`` bits each, most significant bit
    first, entry 0 first, the last byte padded with zero bits (the W3C Bitstring layout).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final

from eth_utils.crypto import keccak

from contracts.errors import ContractError, ContractErrorCode

DIGEST_DOMAIN: Final = b"BPP-STATUS-LIST/v1"
MAX_ENTRY_SIZE: Final = 8
MAX_LENGTH: Final = 2**32 - 1
_ZLIB_LEVEL: Final = 9


class BitOrder(StrEnum):
    """How entries fill a byte: W3C Bitstring Status List is MSB first, IETF Token Status
    List is LSB first. Only for converting served lists; the digest never depends on it."""

    MSB_FIRST = "msb-first"
    LSB_FIRST = "lsb-first"


class SnapshotCodec(IntEnum):
    """Snapshot encodings understood by the registry (``codec`` argument and event field)."""

    ZLIB_MSB_FIRST = 1


@dataclass(frozen=True, slots=True)
class ListShape:
    """Number of entries and bits per entry of a list; fixed when the list is created."""

    length: int
    entry_size: int

    def __post_init__(self) -> None:
        if not 1 <= self.entry_size <= MAX_ENTRY_SIZE:
            raise ContractError(
                ContractErrorCode.INVALID_SHAPE, f"entry size {self.entry_size} not in 1..8"
            )
        if not 1 <= self.length <= MAX_LENGTH:
            raise ContractError(
                ContractErrorCode.INVALID_SHAPE, f"length {self.length} not in 1..2**32-1"
            )

    @property
    def index_bits(self) -> int:
        """Bits needed for the largest index."""
        return (self.length - 1).bit_length()

    @property
    def record_bytes(self) -> int:
        """Width in bytes of one change record (the contract computes the same number)."""
        return (self.index_bits + self.entry_size + 7) // 8

    @property
    def max_value(self) -> int:
        """Largest value an entry can hold."""
        return (1 << self.entry_size) - 1

    def zero_values(self) -> bytes:
        """The values of version 0: every entry 0."""
        return bytes(self.length)

    def check_values(self, values: bytes) -> None:
        """Raise ``invalid_values`` unless ``values`` fits this shape."""
        if len(values) != self.length:
            raise ContractError(
                ContractErrorCode.INVALID_VALUES,
                f"{len(values)} values for a list of {self.length} entries",
            )
        if self.entry_size < 8 and max(values, default=0) > self.max_value:
            raise ContractError(
                ContractErrorCode.INVALID_VALUES,
                f"a value exceeds {self.entry_size} bits",
            )


@dataclass(frozen=True, slots=True, order=True)
class StatusChange:
    """New value of one entry in one version."""

    index: int
    value: int


# ---------------------------------------------------------------------------- digest


def status_digest(list_id: bytes, version: int, shape: ListShape, values: bytes) -> bytes:
    """Digest of version ``version`` of list ``list_id`` with ``values`` (one byte per entry).

    This is the digest the registry stores and emits; see the module docstring for the layout.
    """
    if len(list_id) != 32:
        raise ContractError(ContractErrorCode.INVALID_SHAPE, "list id must be 32 bytes")
    if not 0 <= version < 2**64:
        raise ContractError(ContractErrorCode.INVALID_SHAPE, f"version {version} not a uint64")
    shape.check_values(values)
    header = (
        DIGEST_DOMAIN
        + bytes(list_id)
        + version.to_bytes(8, "big")
        + shape.entry_size.to_bytes(1, "big")
        + shape.length.to_bytes(4, "big")
    )
    return keccak(header + bytes(values))


# ---------------------------------------------------------------------------- changes


def _as_changes(
    changes: Mapping[int, int] | Iterable[StatusChange | tuple[int, int]],
) -> list[StatusChange]:
    items = changes.items() if isinstance(changes, Mapping) else changes
    out: list[StatusChange] = []
    for item in items:
        if isinstance(item, StatusChange):
            out.append(item)
        else:
            index, value = item
            out.append(StatusChange(int(index), int(value)))
    return out


def pack_changes(
    changes: Mapping[int, int] | Iterable[StatusChange | tuple[int, int]], shape: ListShape
) -> bytes:
    """Encode changes as the ``changes`` argument of ``publishChanges``.

    Accepts a ``{index: value}`` mapping or ``(index, value)`` pairs in any order; sorts them.
    Raises ``invalid_change`` for an index out of range, a value too wide, a repeated index or
    no change at all (the contract refuses an empty publish).
    """
    items = sorted(_as_changes(changes))
    if not items:
        raise ContractError(ContractErrorCode.INVALID_CHANGE, "a publish needs at least one change")
    width = shape.record_bytes
    out = bytearray()
    previous = -1
    for change in items:
        if not 0 <= change.index < shape.length:
            raise ContractError(
                ContractErrorCode.INVALID_CHANGE,
                f"index {change.index} outside a list of {shape.length} entries",
            )
        if not 0 <= change.value <= shape.max_value:
            raise ContractError(
                ContractErrorCode.INVALID_CHANGE,
                f"value {change.value} does not fit {shape.entry_size} bits",
            )
        if change.index == previous:
            raise ContractError(
                ContractErrorCode.INVALID_CHANGE, f"index {change.index} changed twice"
            )
        previous = change.index
        out += ((change.index << shape.entry_size) | change.value).to_bytes(width, "big")
    return bytes(out)


def unpack_changes(data: bytes, shape: ListShape) -> tuple[StatusChange, ...]:
    """Decode a ``changes`` blob; refuses what the contract refuses (``malformed_changes``)."""
    width = shape.record_bytes
    if not data or len(data) % width:
        raise ContractError(
            ContractErrorCode.MALFORMED_CHANGES,
            f"{len(data)} bytes is not a positive multiple of {width}-byte records",
        )
    mask = shape.max_value
    out: list[StatusChange] = []
    previous = -1
    for offset in range(0, len(data), width):
        record = int.from_bytes(data[offset : offset + width], "big")
        index = record >> shape.entry_size
        if index <= previous:
            raise ContractError(
                ContractErrorCode.MALFORMED_CHANGES,
                f"record {offset // width} is not after the one before it",
            )
        if index >= shape.length:
            raise ContractError(
                ContractErrorCode.MALFORMED_CHANGES,
                f"index {index} outside a list of {shape.length} entries",
            )
        previous = index
        out.append(StatusChange(index, record & mask))
    return tuple(out)


def apply_changes(values: bytes, changes: Iterable[StatusChange], shape: ListShape) -> bytes:
    """Return ``values`` with ``changes`` applied (changes assumed validated)."""
    shape.check_values(values)
    updated = bytearray(values)
    for change in changes:
        updated[change.index] = change.value
    return bytes(updated)


def diff_values(old: bytes, new: bytes, shape: ListShape) -> tuple[StatusChange, ...]:
    """The changes that turn ``old`` into ``new`` (what a publisher sends)."""
    shape.check_values(old)
    shape.check_values(new)
    return tuple(
        StatusChange(i, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b
    )


# ---------------------------------------------------------------------------- snapshots


def _expand_table(entry_size: int, order: BitOrder) -> tuple[bytes, ...]:
    per_byte = 8 // entry_size
    mask = (1 << entry_size) - 1

    def shift(k: int) -> int:
        return entry_size * k if order is BitOrder.LSB_FIRST else 8 - entry_size * (k + 1)

    return tuple(bytes((byte >> shift(k)) & mask for k in range(per_byte)) for byte in range(256))


def _check_order(shape: ListShape, order: BitOrder) -> None:
    if order is BitOrder.LSB_FIRST and 8 % shape.entry_size:
        raise ContractError(
            ContractErrorCode.INVALID_SHAPE,
            f"LSB-first packing needs an entry size of 1, 2, 4 or 8, not {shape.entry_size}",
        )


def pack_values(values: bytes, shape: ListShape, order: BitOrder = BitOrder.MSB_FIRST) -> bytes:
    """Pack values ``entry_size`` bits each, entry 0 first, zero-padded.

    ``MSB_FIRST`` (default, snapshot codec 1, W3C Bitstring): entry 0 in the most significant
    bits of byte 0. ``LSB_FIRST`` (IETF Token Status List, sizes 1, 2, 4, 8): entry 0 in the
    least significant bits.
    """
    shape.check_values(values)
    _check_order(shape, order)
    size = shape.entry_size
    if size == 8:
        return bytes(values)
    out = bytearray()
    if 8 % size == 0:
        per_byte = 8 // size
        padded = bytes(values) + bytes(-len(values) % per_byte)
        for start in range(0, len(padded), per_byte):
            group = padded[start : start + per_byte]
            if order is BitOrder.LSB_FIRST:
                group = group[::-1]
            byte = 0
            for value in group:
                byte = (byte << size) | value
            out.append(byte)
        return bytes(out)
    acc = 0
    bits = 0
    for value in values:
        acc = (acc << size) | value
        bits += size
        while bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
        acc &= (1 << bits) - 1
    if bits:
        out.append((acc << (8 - bits)) & 0xFF)
    return bytes(out)


def unpack_values(packed: bytes, shape: ListShape, order: BitOrder = BitOrder.MSB_FIRST) -> bytes:
    """Inverse of :func:`pack_values`; refuses a wrong length or non-zero padding."""
    _check_order(shape, order)
    size = shape.entry_size
    expected = (shape.length * size + 7) // 8
    if len(packed) != expected:
        raise ContractError(
            ContractErrorCode.MALFORMED_SNAPSHOT,
            f"{len(packed)} packed bytes, expected {expected}",
        )
    if size == 8:
        return bytes(packed)
    if 8 % size == 0:
        table = _expand_table(size, order)
        values = b"".join(table[byte] for byte in packed)
    else:
        out = bytearray()
        mask = (1 << size) - 1
        acc = 0
        bits = 0
        for byte in packed:
            acc = (acc << 8) | byte
            bits += 8
            while bits >= size:
                bits -= size
                out.append((acc >> bits) & mask)
            acc &= (1 << bits) - 1
        values = bytes(out)
    if any(values[shape.length :]):
        raise ContractError(ContractErrorCode.MALFORMED_SNAPSHOT, "non-zero padding bits")
    return values[: shape.length]


def encode_snapshot(values: bytes, shape: ListShape) -> bytes:
    """Encode a full list for ``publishSnapshot`` with codec 1 (zlib of the packed entries)."""
    return zlib.compress(pack_values(values, shape), _ZLIB_LEVEL)


def decode_snapshot(
    data: bytes, shape: ListShape, codec: int = SnapshotCodec.ZLIB_MSB_FIRST
) -> bytes:
    """Decode a snapshot to values; bounded (a zlib bomb stops at the expected size)."""
    if codec != SnapshotCodec.ZLIB_MSB_FIRST:
        raise ContractError(ContractErrorCode.UNKNOWN_CODEC, f"snapshot codec {codec}")
    expected = (shape.length * shape.entry_size + 7) // 8
    inflater = zlib.decompressobj()
    try:
        packed = inflater.decompress(data, expected + 1)
    except zlib.error as exc:
        raise ContractError(ContractErrorCode.MALFORMED_SNAPSHOT, f"zlib: {exc}") from None
    if len(packed) > expected or not inflater.eof or inflater.unused_data:
        raise ContractError(
            ContractErrorCode.MALFORMED_SNAPSHOT, "snapshot is not one zlib stream of the list"
        )
    return unpack_values(packed, shape)


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class ListCreated:
    """``ListCreated`` event: the list's shape; version 0 is all zeros."""

    issuer: str
    list_id: bytes
    shape: ListShape


@dataclass(frozen=True, slots=True)
class ChangesPublished:
    """``StatusChangesPublished`` event."""

    issuer: str
    list_id: bytes
    version: int
    digest: bytes
    changes: bytes


@dataclass(frozen=True, slots=True)
class SnapshotPublished:
    """``StatusSnapshotPublished`` event (a checkpoint)."""

    issuer: str
    list_id: bytes
    version: int
    digest: bytes
    codec: int
    snapshot: bytes


StatusListEvent = ListCreated | ChangesPublished | SnapshotPublished


def status_event_from_log(log: Mapping[str, Any]) -> StatusListEvent:
    """Convert a web3-decoded log (``{"event": name, "args": {...}}``) of the registry."""
    name = log.get("event")
    args: Mapping[str, Any] = log.get("args", {})
    if name == "ListCreated":
        return ListCreated(
            issuer=str(args["issuer"]),
            list_id=bytes(args["listId"]),
            shape=ListShape(length=int(args["length"]), entry_size=int(args["entrySize"])),
        )
    if name == "StatusChangesPublished":
        return ChangesPublished(
            issuer=str(args["issuer"]),
            list_id=bytes(args["listId"]),
            version=int(args["version"]),
            digest=bytes(args["digest"]),
            changes=bytes(args["changes"]),
        )
    if name == "StatusSnapshotPublished":
        return SnapshotPublished(
            issuer=str(args["issuer"]),
            list_id=bytes(args["listId"]),
            version=int(args["version"]),
            digest=bytes(args["digest"]),
            codec=int(args["codec"]),
            snapshot=bytes(args["snapshot"]),
        )
    raise ContractError(ContractErrorCode.UNKNOWN_EVENT, f"not a status list event: {name!r}")


# ---------------------------------------------------------------------------- rebuild


def rebuild_versions(events: Iterable[StatusListEvent]) -> dict[int, bytes]:
    """Rebuild every version of one list from its events, checking each version's digest.

    ``events`` must hold the list's ``ListCreated`` event and its publish events in any order
    (they are ordered by version). The rebuild starts at version 0 (all zeros) or, when the
    events start later, at a snapshot: passing only the events from the newest checkpoint on
    rebuilds just the recent versions. Returns ``{version: values}``.

    Raises ``rebuild_wrong_list`` (events of several lists, or no ``ListCreated``),
    ``rebuild_gap`` (a missing version), ``digest_mismatch`` (a version whose values do not
    hash to the digest on chain) and the decoding errors of malformed event data.
    """
    return dict(iter_versions(events))


def rebuild_latest(events: Iterable[StatusListEvent]) -> tuple[int, bytes]:
    """``(version, values)`` of the newest version, checking every digest on the way but
    keeping only one version in memory (for long histories)."""
    latest: tuple[int, bytes] | None = None
    for latest in iter_versions(events):  # noqa: B007 - the loop runs for its checks
        pass
    if latest is None:  # pragma: no cover - iter_versions yields at least one version
        raise ContractError(ContractErrorCode.REBUILD_GAP, "no version")
    return latest


def iter_versions(events: Iterable[StatusListEvent]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(version, values)`` in order, as :func:`rebuild_versions` checks them."""
    created: ListCreated | None = None
    publishes: list[ChangesPublished | SnapshotPublished] = []
    for event in events:
        if isinstance(event, ListCreated):
            if created is not None and created != event:
                raise ContractError(ContractErrorCode.REBUILD_WRONG_LIST, "two ListCreated events")
            created = event
        else:
            publishes.append(event)
    if created is None:
        raise ContractError(ContractErrorCode.REBUILD_WRONG_LIST, "no ListCreated event")
    key = (created.issuer.lower(), created.list_id)
    for publish in publishes:
        if (publish.issuer.lower(), publish.list_id) != key:
            raise ContractError(
                ContractErrorCode.REBUILD_WRONG_LIST, "events of more than one list"
            )
    publishes.sort(key=lambda p: p.version)
    shape = created.shape
    current: bytes | None = None
    current_version = 0
    # Start from version 0 unless the events begin at a later snapshot (a partial rebuild).
    first = publishes[0] if publishes else None
    if not isinstance(first, SnapshotPublished) or first.version == 1:
        current = shape.zero_values()
        yield 0, current
    for publish in publishes:
        if current is not None and publish.version != current_version + 1:
            raise ContractError(
                ContractErrorCode.REBUILD_GAP,
                f"version {publish.version} follows version {current_version}",
            )
        if isinstance(publish, SnapshotPublished):
            values = decode_snapshot(publish.snapshot, shape, publish.codec)
        elif current is None:  # pragma: no cover - the first publish is then a snapshot
            raise ContractError(ContractErrorCode.REBUILD_GAP, "changes without a base version")
        else:
            values = apply_changes(current, unpack_changes(publish.changes, shape), shape)
        if status_digest(created.list_id, publish.version, shape, values) != publish.digest:
            raise ContractError(
                ContractErrorCode.DIGEST_MISMATCH,
                f"version {publish.version} does not match its digest on chain",
            )
        yield publish.version, values
        current = values
        current_version = publish.version
