"""Issuing organisations' chain accounts, with the platform relayer as their delegate.

Every organisation that issues credentials owns its status lists on chain under its own
address (a secp256k1 key in the chain key store, one per DID). The organisation's key never
sends a transaction and needs no funds: it signs an EIP-712 delegation
(`StatusListRegistry.setDelegateBySig`) that authorises the platform's relayer, and the relayer
submits it through the outbox ahead of the organisation's first list. The relayer then
publishes for the organisation; the registry records the organisation as the issuer.
"""

from __future__ import annotations

import hashlib
import re
import time

from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncWeb3

from backend.chain.accounts import ChainAccountStore
from backend.chain.client import STATUS_REGISTRY, ChainClient
from backend.chain.errors import UnknownIssuerError
from backend.chain.models import ChainIssuerAccount
from backend.chain.outbox import enqueue
from backend.kit.db import Database
from contracts.delegation import delegation_typed_data

# Delegations are long-lived (the registry checks `block.timestamp < expiresAt`); an
# organisation withdraws one with a signed expiry of 0 or `revokeDelegate`.
DELEGATION_LIFETIME_S = 10 * 365 * 24 * 3600
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SLUG = re.compile(r"^[a-z0-9-]{1,64}$")


def key_name_for(did: str) -> str:
    """Key store name of a DID's chain account (file-name safe, stable)."""
    return "issuer-" + hashlib.sha256(did.encode("utf-8")).hexdigest()[:32]


class IssuerAccounts:
    """`issuer_address(did)`: the DID's chain account, created and delegated on first use."""

    def __init__(self, db: Database, chain: ChainClient, store: ChainAccountStore) -> None:
        self.db = db
        self.chain = chain
        self.store = store

    async def issuer_address(self, did: str, session: AsyncSession | None = None) -> str:
        """The chain address lists of `did` are published under.

        On first use this creates the key, and queues the relayer's delegation in the outbox
        inside `session` (the caller's unit of work, so it commits together with the first
        list) or in a unit of work of its own when `session` is None. Pass the caller's
        session when it already holds a write transaction (SQLite has one writer).
        """
        if session is None:
            async with self.db.unit_of_work() as own:
                return await self._issuer_address(own, did)
        return await self._issuer_address(session, did)

    async def _issuer_address(self, session: AsyncSession, did: str) -> str:
        if not did.startswith("did:"):
            raise UnknownIssuerError(f"not a DID: {did!r}", field="did")
        row = await session.get(ChainIssuerAccount, did)
        if row is not None:
            return row.address
        name = key_name_for(did)
        existed = self.store.exists(name)
        account = self.store.load_or_create(name)
        relayer = self.chain.relayer.address
        # A key that existed before (a database restored without this row) may have signed
        # delegations already: read its nonce; a brand-new key's nonce is 0 without asking.
        nonce = (
            int(await self.chain.call(STATUS_REGISTRY, "delegationNonce", account.address))
            if existed
            else 0
        )
        expires_at = int(time.time()) + DELEGATION_LIFETIME_S
        typed = delegation_typed_data(
            chain_id=self.chain.chain_id,
            registry=str(self.chain.contract(STATUS_REGISTRY).address),
            issuer=account.address,
            delegate=relayer,
            expires_at=expires_at,
            nonce=nonce,
        )
        signature = Account.sign_message(encode_typed_data(full_message=typed), account.key)
        enqueue(
            session,
            contract=STATUS_REGISTRY,
            function="setDelegateBySig",
            args=[account.address, relayer, expires_at, "0x" + bytes(signature.signature).hex()],
            sender=relayer,
        )
        session.add(
            ChainIssuerAccount(
                did=did,
                address=account.address,
                key_name=name,
                delegate=relayer,
                delegate_expires_at=expires_at,
            )
        )
        await session.flush()
        return str(account.address)

    async def lookup(self, did: str) -> str | None:
        """The DID's chain address if it has one (no creation)."""
        async with self.db.read_only() as session:
            row = await session.get(ChainIssuerAccount, did)
        return None if row is None else row.address

    async def did_for_address(self, address: str) -> str | None:
        async with self.db.read_only() as session:
            row = (
                await session.exec(
                    select(ChainIssuerAccount).where(
                        ChainIssuerAccount.address == AsyncWeb3.to_checksum_address(address)
                    )
                )
            ).first()
        return None if row is None else row.did


async def resolve_issuer(
    identifier: str,
    *,
    accounts: IssuerAccounts,
    organisation_did: str | None,
    platform_did: str,
) -> str:
    """An issuer given as chain address, DID or organisation slug → its chain address.

    `organisation_did` is the DID the platform gives the slug (None when `identifier` is not
    a slug). Lists the platform issued before per-issuer accounts existed live under the
    relayer, so the platform's DID without an account row resolves to the relayer.
    """
    if _ADDRESS.match(identifier):
        return AsyncWeb3.to_checksum_address(identifier)
    did = identifier if identifier.startswith("did:") else organisation_did
    if did is None or (not identifier.startswith("did:") and not _SLUG.match(identifier)):
        raise UnknownIssuerError(f"{identifier!r} is no address, DID or organisation slug")
    address = await accounts.lookup(did)
    if address is not None:
        return address
    if did == platform_did:
        return str(accounts.chain.relayer.address)
    raise UnknownIssuerError(f"{did} has no chain account")
