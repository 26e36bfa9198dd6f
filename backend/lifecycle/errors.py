"""Typed errors of the lifecycle event log."""

from __future__ import annotations

from backend.kit.errors import DomainError, ErrorCode


class LifecycleTransitionError(DomainError):
    """The event does not follow from the battery's history (e.g. installed before made)."""

    code = ErrorCode.LIFECYCLE_TRANSITION
    status_code = 409


class EventNotAnchoredError(DomainError):
    """The event's Merkle root is not anchored yet: no proof can be given."""

    code = ErrorCode.EVENT_NOT_ANCHORED
    status_code = 409


class EventChainBrokenError(DomainError):
    """A stored event does not hash to its recorded hash or does not link to its predecessor."""

    code = ErrorCode.EVENT_CHAIN_BROKEN
    status_code = 500
