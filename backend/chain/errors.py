"""Typed errors of the chain service, each with a machine code (`ChainErrorCode`).

Reverts are decoded from the contracts' custom errors (`contracts.decode_custom_error`) and
mapped to the error classes below, so callers never parse node messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from backend.kit.errors import DomainError, ErrorCode


class ChainErrorCode(StrEnum):
    WRONG_CHAIN = "wrong_chain"
    NOT_DEPLOYED = "not_deployed"
    NODE_UNAVAILABLE = "node_unavailable"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_LIST = "unknown_list"
    INDEX_OUT_OF_RANGE = "index_out_of_range"
    NOT_AUTHORISED = "not_authorised"
    REVERTED = "reverted"
    NO_SIGNER = "no_signer"
    UNKNOWN_ISSUER = "unknown_issuer"
    NOT_LEADER = "not_leader"


class ChainError(DomainError):
    code = ErrorCode.UNAVAILABLE
    status_code = 503
    chain_code: ChainErrorCode = ChainErrorCode.NODE_UNAVAILABLE


class WrongChainError(ChainError):
    """The node answers with another chain id than the one configured or deployed to."""

    chain_code = ChainErrorCode.WRONG_CHAIN


class NotDeployedError(ChainError):
    """No deployment record of a contract for this chain: run `bpp chain deploy`."""

    chain_code = ChainErrorCode.NOT_DEPLOYED


class NodeUnavailableError(ChainError):
    """The JSON-RPC node did not answer (down, restarting, network); the work is retried."""

    chain_code = ChainErrorCode.NODE_UNAVAILABLE


class InsufficientFundsError(ChainError):
    """The sending account cannot pay for gas: its operator must fund it; the row waits."""

    chain_code = ChainErrorCode.INSUFFICIENT_FUNDS

    def __init__(self, message: str, *, account: str) -> None:
        super().__init__(message)
        self.account = account


class NoSignerError(ChainError):
    """The outbox has a row whose sender's key this process does not hold."""

    chain_code = ChainErrorCode.NO_SIGNER


class NotLeaderError(ChainError):
    """Another writer holds the outbox lock; this one must not send."""

    chain_code = ChainErrorCode.NOT_LEADER


class UnknownIssuerError(ChainError):
    """An issuer given by slug, DID or address has no chain account."""

    code = ErrorCode.NOT_FOUND
    status_code = 404
    chain_code = ChainErrorCode.UNKNOWN_ISSUER


class ChainRevertError(ChainError):
    """A call or transaction reverted; `name`/`args` are the decoded custom error."""

    code = ErrorCode.INVALID_INPUT
    status_code = 422
    chain_code = ChainErrorCode.REVERTED

    def __init__(self, message: str, *, name: str | None = None, args: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.name = name
        self.args_ = dict(args)


class UnknownListError(ChainRevertError):
    """`ListNotFound`: no such list for this issuer on chain."""

    code = ErrorCode.NOT_FOUND
    status_code = 404
    chain_code = ChainErrorCode.UNKNOWN_LIST


class IndexOutOfRangeError(ChainRevertError):
    """`IndexOutOfRange`: a status index at or beyond the list's length."""

    chain_code = ChainErrorCode.INDEX_OUT_OF_RANGE


class NotAuthorisedError(ChainRevertError):
    """`NotAuthorised` / `NotRoot`: the sender may not write this issuer's data."""

    code = ErrorCode.FORBIDDEN
    status_code = 403
    chain_code = ChainErrorCode.NOT_AUTHORISED


_REVERT_CLASSES: dict[str, type[ChainRevertError]] = {
    "ListNotFound": UnknownListError,
    "IndexOutOfRange": IndexOutOfRangeError,
    "NotAuthorised": NotAuthorisedError,
    "NotRoot": NotAuthorisedError,
}


def revert_error(name: str | None, args: Mapping[str, Any], context: str) -> ChainRevertError:
    """The typed error for a decoded custom error (`name` None: undecodable revert data)."""
    cls = _REVERT_CLASSES.get(name or "", ChainRevertError)
    shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
    label = f"{name}({shown})" if name else "a revert without a known custom error"
    return cls(f"{context} reverted with {label}", name=name, args=args)


def _show(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)
