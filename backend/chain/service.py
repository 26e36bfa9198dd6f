"""Wiring of the chain service: accounts, client, outbox and the read side, from settings.

`connect_chain(settings)` opens the key store, connects (chain id checked) and registers the
signing accounts; `ChainServices.build(...)` puts the issuer accounts, the Redis mirror and
the two verifier hooks on top of a connected client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncWeb3

from backend.chain.accounts import CITY_ROOT, RELAYER, ChainAccountStore
from backend.chain.accreditation import RegistryAccreditation
from backend.chain.client import ISSUER_REGISTRY, STATUS_REGISTRY, ChainClient
from backend.chain.consistency import StatusListChainCheck
from backend.chain.errors import NoSignerError, WrongChainError
from backend.chain.issuers import IssuerAccounts
from backend.chain.mirror import ChainMirror
from backend.chain.models import ChainTransaction
from backend.chain.outbox import enqueue
from backend.kit.db import Database
from backend.settings import Settings
from contracts.issuers import Role, subject_for_address, subject_for_did

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def account_store(settings: Settings) -> ChainAccountStore:
    return ChainAccountStore(
        settings.resolved_data_dir / "chain-keys", settings.keystore_passphrase.get_secret_value()
    )


async def connect_chain(
    settings: Settings, store: ChainAccountStore | None = None, *, fund: bool | None = None
) -> tuple[ChainClient, ChainAccountStore]:
    """Connect to the configured chain (`WrongChainError` on a chain id mismatch) with the
    relayer and, unless `BPP_CHAIN_CITY_ROOT` names an external root, the city root key.

    Development nodes fund both accounts from the node's own account (`fund`, default: in
    development); production accounts are funded by their operators.
    """
    store = store or account_store(settings)
    relayer = store.load_or_create(RELAYER)
    chain = await ChainClient.connect(
        settings.chain_rpc_url,
        relayer,
        settings.chain_id,
        fund_from_node=settings.is_development if fund is None else fund,
    )
    external_root = settings.chain_city_root
    if external_root:
        if not _ADDRESS.match(external_root):
            await chain.close()
            raise WrongChainError(f"BPP_CHAIN_CITY_ROOT is not an address: {external_root!r}")
        chain.city_root = AsyncWeb3.to_checksum_address(external_root)
    else:
        root = store.load_or_create(CITY_ROOT)
        chain.add_signer(root)
        chain.city_root = root.address
        if chain.fund_from_node:
            await chain.fund(root.address)
    return chain, store


@dataclass
class ChainServices:
    """The chain service's parts above the client and the outbox."""

    store: ChainAccountStore
    issuers: IssuerAccounts
    mirror: ChainMirror
    accreditation: RegistryAccreditation
    consistency: StatusListChainCheck

    @classmethod
    async def build(
        cls,
        db: Database,
        chain: ChainClient,
        store: ChainAccountStore,
        redis: Redis,
        *,
        mirror_max_age_s: float = 10.0,
    ) -> ChainServices:
        async with db.read_only() as session:
            start = min(
                [
                    await chain.deployment_block(session, name)
                    for name in (STATUS_REGISTRY, ISSUER_REGISTRY)
                ]
            )
        issuers = IssuerAccounts(db, chain, store)
        mirror = ChainMirror(chain, redis, from_block=start, max_age_s=mirror_max_age_s)
        return cls(
            store=store,
            issuers=issuers,
            mirror=mirror,
            accreditation=RegistryAccreditation(mirror, address_of=issuers.lookup),
            consistency=StatusListChainCheck(mirror),
        )


def enqueue_accreditation(
    session: AsyncSession,
    chain: ChainClient,
    issuer: str,
    role: Role,
    *,
    valid_from: int,
    valid_until: int,
) -> ChainTransaction:
    """Queue `IssuerRegistry.accredit` signed by the city root this process holds.

    `issuer` is a DID (subject `keccak256(did)`) or a chain address. With an external root
    (`BPP_CHAIN_CITY_ROOT`) the city signs elsewhere and this raises `NoSignerError`.
    """
    root = chain.city_root
    if root is None or not chain.holds_key(root):
        raise NoSignerError("the city root key is held outside this platform")
    return enqueue(
        session,
        contract=ISSUER_REGISTRY,
        function=ACCREDIT_FUNCTION,
        args=accreditation_args(issuer, role, valid_from, valid_until),
        sender=root,
    )


ACCREDIT_FUNCTION = "accredit"


def accreditation_args(issuer: str, role: Role, valid_from: int, valid_until: int) -> list[Any]:
    """`IssuerRegistry.accredit` arguments for a DID (`keccak256(did)`) or an address subject."""
    subject = subject_for_did(issuer) if issuer.startswith("did:") else subject_for_address(issuer)
    return ["0x" + subject.hex(), role.number, valid_from, valid_until]
