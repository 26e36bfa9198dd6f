"""AsyncWeb3 client for any EVM JSON-RPC node, or the in-process EVM as the embedded default.

The embedded chain (py-evm through eth-tester) lives in memory. It is rebuilt at every start:
the contracts are deployed again by the same relayer account (so they land at the same
addresses) and every chain write the outbox ever confirmed is replayed in order
(`backend.chain.outbox.replay_confirmed`). A restarted demo therefore still resolves the same
status list versions and revocations as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import TxParams, Wei

from backend.chain.errors import NotDeployedError, WrongChainError
from backend.chain.models import ChainDeployment
from contracts import load_artifact

log = structlog.get_logger("bpp.chain")

# Contracts the platform deploys, in deployment order.
PLATFORM_CONTRACTS: tuple[str, ...] = ("StatusListRegistry",)


@dataclass
class ChainClient:
    w3: AsyncWeb3[Any]
    chain_id: int
    relayer: LocalAccount
    embedded: bool
    addresses: dict[str, str] = field(default_factory=dict)
    _contracts: dict[str, AsyncContract] = field(default_factory=dict)

    @classmethod
    async def connect(
        cls,
        rpc_url: str | None,
        relayer: LocalAccount,
        expected_chain_id: int | None = None,
        *,
        fund_from_node: bool = False,
    ) -> ChainClient:
        """Connect and check the chain id.

        The relayer's gas is paid from the node's own unlocked account on the embedded chain
        always, and on a development node (anvil) when `fund_from_node` is set; a production
        relayer is funded by its operator.
        """
        provider: Any = (
            AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": 30})
            if rpc_url
            else AsyncEthereumTesterProvider()
        )
        w3: AsyncWeb3[Any] = AsyncWeb3(provider)
        chain_id = int(await w3.eth.chain_id)
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise WrongChainError(
                f"the node at {rpc_url or 'embedded EVM'} serves chain id {chain_id}, "
                f"but BPP_CHAIN_ID is {expected_chain_id}"
            )
        client = cls(w3=w3, chain_id=chain_id, relayer=relayer, embedded=rpc_url is None)
        if client.embedded or fund_from_node:
            await client._fund_from_node(relayer.address)
        return client

    async def _fund_from_node(self, address: str) -> None:
        accounts: list[Any] = list(await self.w3.eth.accounts)
        if not accounts:
            return
        balance = await self.w3.eth.get_balance(AsyncWeb3.to_checksum_address(address))
        if balance < 10**20:
            tx = await self.w3.eth.send_transaction(
                {
                    "from": accounts[0],
                    "to": AsyncWeb3.to_checksum_address(address),
                    "value": Wei(10**21),
                }
            )
            await self.w3.eth.wait_for_transaction_receipt(tx)

    # -- deployments -------------------------------------------------------------------------

    async def load_deployments(self, session: AsyncSession) -> dict[str, str]:
        rows = await session.exec(
            select(ChainDeployment).where(ChainDeployment.chain_id == self.chain_id)
        )
        self.addresses = {row.contract: row.address for row in rows}
        self._contracts.clear()
        return self.addresses

    async def deploy_all(self, session: AsyncSession, *, record: bool = True) -> dict[str, str]:
        """Deploy every platform contract from the relayer and record where it landed.

        On the embedded chain a previous record must match the new address: the relayer's
        nonces replay identically, so a mismatch means the data directory was tampered with.
        """
        previous = await self.load_deployments(session)
        for name in PLATFORM_CONTRACTS:
            address, block = await self._deploy(name, self._constructor_args(name))
            if name in previous and previous[name] != address:
                raise WrongChainError(
                    f"{name} redeployed at {address}, but the record says {previous[name]}"
                )
            if record and name not in previous:
                session.add(
                    ChainDeployment(
                        chain_id=self.chain_id, contract=name, address=address, block_number=block
                    )
                )
            self.addresses[name] = address
            log.info("contract deployed", contract=name, address=address, block=block)
        self._contracts.clear()
        return self.addresses

    def _constructor_args(self, name: str) -> Sequence[Any]:
        del name
        return ()

    async def _deploy(self, name: str, args: Sequence[Any]) -> tuple[str, int]:
        artifact = load_artifact(name)
        factory = self.w3.eth.contract(abi=list(artifact.abi), bytecode=artifact.bytecode)
        tx = await factory.constructor(*args).build_transaction(
            await self.transaction_defaults(self.relayer.address)
        )
        receipt = await self.send_signed(tx)
        address = receipt["contractAddress"]
        assert address is not None
        return str(address), int(receipt["blockNumber"])

    def contract(self, name: str) -> AsyncContract:
        if name not in self._contracts:
            if name not in self.addresses:
                raise NotDeployedError(
                    f"{name} is not deployed on chain {self.chain_id}: run `bpp chain deploy`"
                )
            self._contracts[name] = self.w3.eth.contract(
                address=AsyncWeb3.to_checksum_address(self.addresses[name]),
                abi=list(load_artifact(name).abi),
            )
        return self._contracts[name]

    # -- transactions ------------------------------------------------------------------------

    async def transaction_defaults(self, sender: str, nonce: int | None = None) -> dict[str, Any]:
        latest = await self.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        tip = 10**9
        if nonce is None:
            nonce = await self.w3.eth.get_transaction_count(
                AsyncWeb3.to_checksum_address(sender), "pending"
            )
        return {
            "from": AsyncWeb3.to_checksum_address(sender),
            "chainId": self.chain_id,
            "nonce": nonce,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base_fee + tip,
        }

    def sign(self, tx: dict[str, Any]) -> HexBytes:
        return HexBytes(self.relayer.sign_transaction(tx).raw_transaction)

    async def send_signed(self, tx: dict[str, Any]) -> Any:
        if "gas" not in tx:
            tx["gas"] = int(await self.w3.eth.estimate_gas(cast(TxParams, tx)) * 1.2) + 10_000
        raw = self.sign(tx)
        tx_hash = await self.w3.eth.send_raw_transaction(raw)
        return await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)

    async def block_number(self) -> int:
        return int(await self.w3.eth.block_number)

    async def close(self) -> None:
        provider = self.w3.provider
        if isinstance(provider, AsyncHTTPProvider):
            await provider.disconnect()
