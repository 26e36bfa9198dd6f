from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode


class ChainError(DomainError):
    code = ErrorCode.UNAVAILABLE
    status_code = 503


class WrongChainError(ChainError):
    """The node answers with another chain id than the one configured or deployed to."""


class NotDeployedError(ChainError):
    """No deployment record of a contract for this chain: run `bpp chain deploy`."""
