"""`credentials.verifier.ChainConsistency` on the chain mirror: a served status list must hash
to the on-chain digest of the version it claims.

The served list credential carries its version as `credentialSubject.statusListVersion`. The
verdicts:

- the claimed version is the chain's latest and its values hash to the stored digest: `pass`;
- the values do not hash to the digest of the claimed version: `fail` (a split view);
- the claimed version is ahead of the chain (a publish is waiting in the outbox), the list is
  not on chain yet, or the version carries no number: `unknown`, with the reason;
- the claimed version is older than the chain's latest and matches its own digest: `unknown`
  — authentic but stale, later status changes are not in it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from backend.chain.errors import ChainError
from backend.chain.mirror import ChainMirror
from contracts import ContractError
from contracts.status import ListShape, status_digest, unpack_values
from credentials.statuslist import DecodedStatusList
from credentials.verifier import ChainVerdict, CheckStatus

VERSION_TERM = "statusListVersion"


def chain_list_id(list_id: str) -> bytes:
    """The registry's bytes32 list id: the list's UUID, left-padded (as issuance creates it)."""
    return uuid.UUID(list_id).bytes.rjust(32, b"\0")


def list_id_from_url(url: str) -> str | None:
    """The list UUID at the end of a status list URL (`…/status/<uuid>`), or None."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    try:
        return str(uuid.UUID(last))
    except ValueError:
        return None


class StatusListChainCheck:
    """Compares served status lists with the registry, reading the Redis mirror."""

    def __init__(self, mirror: ChainMirror) -> None:
        self.mirror = mirror

    async def check_status_list(
        self, list_credential: Mapping[str, Any], decoded: DecodedStatusList
    ) -> ChainVerdict:
        """pass / fail / unknown with a reason (see the module docstring)."""
        list_uuid = list_id_from_url(decoded.url)
        if list_uuid is None:
            return _unknown(f"{decoded.url} names no list id the registry knows")
        subject = list_credential.get("credentialSubject")
        version = subject.get(VERSION_TERM) if isinstance(subject, Mapping) else None
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            return _unknown(f"the status list credential carries no {VERSION_TERM}")
        list_id = chain_list_id(list_uuid)
        try:
            return await self._check(list_id, version, decoded)
        except ChainError as exc:
            return _unknown(f"chain unavailable: {exc.message}")

    async def _check(
        self, list_id: bytes, version: int, decoded: DecodedStatusList
    ) -> ChainVerdict:
        issuer = await self.mirror.list_issuer(list_id)
        if issuer is None:
            return _unknown("the list is not on chain yet (creation pending)")
        state = await self.mirror.latest_list(issuer, list_id)
        if state is None:
            return _unknown("the list is not on chain yet (creation pending)")
        bitstring = decoded.bitstring
        if bitstring.size != state.length or bitstring.status_size != state.entry_size:
            return ChainVerdict(
                CheckStatus.FAIL,
                f"served list has {bitstring.size}×{bitstring.status_size} bits, the chain "
                f"{state.length}×{state.entry_size}",
            )
        if version > state.version:
            return _unknown(
                f"version {version} is not on chain yet (chain at version {state.version}, "
                f"block {state.block}): publish pending"
            )
        shape = ListShape(length=state.length, entry_size=state.entry_size)
        try:
            values = unpack_values(bitstring.to_bytes(), shape)
        except ContractError as exc:
            return ChainVerdict(CheckStatus.FAIL, f"served list does not decode: {exc.message}")
        if version == 0:
            if any(values):
                return ChainVerdict(CheckStatus.FAIL, "version 0 must be all zeros")
            expected: bytes | None = bytes(32)
            digest = bytes(32)
        else:
            expected = (
                state.digest
                if version == state.version
                else await self.mirror.version_digest(issuer, list_id, version)
            )
            digest = status_digest(list_id, version, shape, values)
        if expected is None:
            return _unknown(f"no digest of version {version} in the chain mirror")
        if digest != expected:
            return ChainVerdict(
                CheckStatus.FAIL,
                f"served list differs from version {version} on chain (digest "
                f"0x{digest.hex()[:16]}… ≠ 0x{expected.hex()[:16]}…, block {state.block})",
            )
        if version < state.version:
            return _unknown(
                f"served list matches version {version}, but the chain is at version "
                f"{state.version}: stale"
            )
        return ChainVerdict(
            CheckStatus.PASS,
            f"matches version {version} on chain (issuer {issuer}, block {state.block})",
        )


def _unknown(reason: str) -> ChainVerdict:
    return ChainVerdict(CheckStatus.UNKNOWN, reason)
