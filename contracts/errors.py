"""Typed errors of the off-chain encoders and a decoder for the contracts' custom errors."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

_TESTER_PREFIX = "execution reverted: "


class ContractErrorCode(StrEnum):
    """Machine codes of :class:`ContractError`."""

    UNKNOWN_ARTIFACT = "unknown_artifact"
    INVALID_SHAPE = "invalid_shape"
    INVALID_CHANGE = "invalid_change"
    MALFORMED_CHANGES = "malformed_changes"
    MALFORMED_SNAPSHOT = "malformed_snapshot"
    UNKNOWN_CODEC = "unknown_codec"
    INVALID_VALUES = "invalid_values"
    REBUILD_GAP = "rebuild_gap"
    REBUILD_WRONG_LIST = "rebuild_wrong_list"
    DIGEST_MISMATCH = "digest_mismatch"
    UNKNOWN_EVENT = "unknown_event"
    INVALID_LEAF = "invalid_leaf"
    INVALID_INDEX = "invalid_index"
    EMPTY_TREE = "empty_tree"
    UNKNOWN_ROLE = "unknown_role"


class ContractError(ValueError):
    """Bad input to an off-chain encoder/decoder of this package, with a machine code."""

    def __init__(self, code: ContractErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CustomErrorRevert:
    """A contract revert decoded from its data: the Solidity error name and its arguments."""

    name: str
    args: Mapping[str, Any]


def _signature(entry: Mapping[str, Any]) -> str:
    types = ",".join(_canonical_type(i) for i in entry["inputs"])
    return f"{entry['name']}({types})"


def _canonical_type(param: Mapping[str, Any]) -> str:
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def decode_custom_error(
    abi: Iterable[Mapping[str, Any]], data: bytes | str
) -> CustomErrorRevert | None:
    """Decode revert data against the ``error`` entries of ``abi``.

    ``data`` is the raw revert data (bytes or ``0x`` hex, as web3's ``ContractCustomError``
    carries it). Returns ``None`` when the selector is not one of the ABI's errors or the
    arguments do not decode.
    """
    raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else bytes(data)
    if len(raw) < 4:
        return None
    for entry in abi:
        if entry.get("type") != "error":
            continue
        if keccak(text=_signature(entry))[:4] != raw[:4]:
            continue
        inputs: Sequence[Mapping[str, Any]] = entry["inputs"]
        try:
            values = abi_decode([_canonical_type(i) for i in inputs], raw[4:])
        except Exception:  # any decoding failure means "not this error"
            return None
        return CustomErrorRevert(
            name=str(entry["name"]),
            args={
                str(i["name"]): to_checksum_address(v) if i["type"] == "address" else v
                for i, v in zip(inputs, values, strict=True)
            },
        )
    return None


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Find the raw revert data inside an exception raised by web3 for a reverted call.

    JSON-RPC nodes (anvil, Besu) surface it as ``ContractCustomError.data`` (hex); the in-process
    EVM (``EthereumTesterProvider``) raises ``TransactionFailed`` whose cause carries the bytes.
    Returns ``None`` when the exception holds no revert data.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        data = getattr(current, "data", None)
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        for arg in current.args:
            if isinstance(arg, bytes | bytearray) and len(arg) >= 4:
                return bytes(arg)
            if isinstance(arg, str) and arg.startswith(_TESTER_PREFIX):
                # web3's eth-tester provider re-raises with the bytes' repr in the message.
                with contextlib.suppress(ValueError, SyntaxError):
                    literal = ast.literal_eval(arg[len(_TESTER_PREFIX) :])
                    if isinstance(literal, bytes) and len(literal) >= 4:
                        return literal
        current = current.__cause__ or current.__context__
    return None
