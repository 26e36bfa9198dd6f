"""AsyncWeb3 client for any EVM JSON-RPC node, or the in-process EVM as the embedded default.

The embedded chain (py-evm through eth-tester) lives in memory. It is rebuilt at every start:
the contracts are deployed again by the same relayer account (so they land at the same
addresses) and every chain write the outbox ever mined is replayed in order
(`backend.chain.outbox.replay_confirmed`). A restarted demo therefore still resolves the same
status list versions and revocations as before.

Accounts: the relayer signs every transaction the platform pays for; the city root key (the
`IssuerRegistry` root) signs accreditations when the platform holds it (development and the
embedded chain; production names an external root address and the city signs elsewhere).
Issuing organisations' keys never send transactions: they sign EIP-712 delegations only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
import structlog
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from web3 import AsyncWeb3
from web3.contract import AsyncContract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.providers.eth_tester import AsyncEthereumTesterProvider
from web3.providers.rpc import AsyncHTTPProvider
from web3.types import TxParams, Wei

from backend.chain.errors import (
    ChainRevertError,
    InsufficientFundsError,
    NodeUnavailableError,
    NoSignerError,
    NotDeployedError,
    WrongChainError,
    revert_error,
)
from backend.chain.models import ChainDeployment
from contracts import decode_custom_error, load_artifact, revert_data_from_exception

log = structlog.get_logger("bpp.chain")

STATUS_REGISTRY = "StatusListRegistry"
ISSUER_REGISTRY = "IssuerRegistry"
ANCHOR_REGISTRY = "EventAnchorRegistry"
# Contracts the platform deploys, in deployment order (the embedded chain's replay relies on
# this order: the relayer's nonces, hence the addresses, repeat).
PLATFORM_CONTRACTS: tuple[str, ...] = (STATUS_REGISTRY, ISSUER_REGISTRY, ANCHOR_REGISTRY)

# Exceptions that mean "the node did not answer", as opposed to an answer we dislike.
NODE_DOWN_EXCEPTIONS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)
_REVERT_EXCEPTIONS = (ContractCustomError, ContractLogicError, TransactionFailed)
_DEFAULT_TIP = 10**9


def is_insufficient_funds(exc: BaseException) -> bool:
    """Node wording differs (geth/anvil/Besu vs py-evm); both say it in the message."""
    text = str(exc).lower()
    return any(
        phrase in text for phrase in ("insufficient funds", "enough balance", "cannot afford")
    )


@dataclass
class ChainClient:
    w3: AsyncWeb3[Any]
    chain_id: int
    relayer: LocalAccount
    embedded: bool
    addresses: dict[str, str] = field(default_factory=dict)
    city_root: str | None = None
    fund_from_node: bool = False
    _signers: dict[str, LocalAccount] = field(default_factory=dict)
    _contracts: dict[str, AsyncContract] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.add_signer(self.relayer)

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
        try:
            chain_id = int(await w3.eth.chain_id)
        except NODE_DOWN_EXCEPTIONS as exc:
            if isinstance(provider, AsyncHTTPProvider):
                await provider.disconnect()
            raise NodeUnavailableError(f"no answer from {rpc_url}: {exc}") from exc
        if expected_chain_id is not None and chain_id != expected_chain_id:
            if isinstance(provider, AsyncHTTPProvider):
                await provider.disconnect()
            raise WrongChainError(
                f"the node at {rpc_url or 'embedded EVM'} serves chain id {chain_id}, "
                f"but BPP_CHAIN_ID is {expected_chain_id}"
            )
        client = cls(w3=w3, chain_id=chain_id, relayer=relayer, embedded=rpc_url is None)
        client.fund_from_node = client.embedded or fund_from_node
        if client.fund_from_node:
            await client.fund(relayer.address)
        return client

    def add_signer(self, account: LocalAccount) -> None:
        """Let this client sign for `account` (the relayer, the city root)."""
        self._signers[account.address.lower()] = account

    def signer_for(self, address: str) -> LocalAccount:
        try:
            return self._signers[address.lower()]
        except KeyError:
            raise NoSignerError(f"this process holds no key for {address}") from None

    def holds_key(self, address: str) -> bool:
        return address.lower() in self._signers

    async def fund(self, address: str, *, minimum: int = 10**20) -> None:
        """Top `address` up from the node's unlocked account (embedded chain and anvil only)."""
        accounts: list[Any] = list(await self.w3.eth.accounts)
        if not accounts:
            return
        balance = await self.w3.eth.get_balance(AsyncWeb3.to_checksum_address(address))
        if balance < minimum:
            tx = await self.w3.eth.send_transaction(
                {
                    "from": accounts[0],
                    "to": AsyncWeb3.to_checksum_address(address),
                    "value": Wei(10 * minimum),
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

    async def deploy_missing(self, session: AsyncSession) -> dict[str, str]:
        """Deploy the contracts this chain has no record of (`bpp chain deploy`); returns the
        newly deployed ones. Records that point at an address without code are refused."""
        previous = await self.load_deployments(session)
        deployed: dict[str, str] = {}
        for name in PLATFORM_CONTRACTS:
            if name in previous:
                code = await self.w3.eth.get_code(AsyncWeb3.to_checksum_address(previous[name]))
                if len(code) == 0:
                    raise WrongChainError(
                        f"the record puts {name} at {previous[name]} on chain {self.chain_id}, "
                        "but there is no code there: a reset node? delete the record first"
                    )
                continue
            address, block = await self._deploy(name, self._constructor_args(name))
            session.add(
                ChainDeployment(
                    chain_id=self.chain_id, contract=name, address=address, block_number=block
                )
            )
            self.addresses[name] = address
            deployed[name] = address
        self._contracts.clear()
        return deployed

    def _constructor_args(self, name: str) -> Sequence[Any]:
        if name == ISSUER_REGISTRY:
            if self.city_root is None:
                raise NotDeployedError("IssuerRegistry needs the city root address")
            # One root key, threshold 1: the registry also supports a multi-key root
            # (`changeRoots`), which the city can switch to without a redeploy.
            return ([AsyncWeb3.to_checksum_address(self.city_root)], 1)
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

    async def deployment_block(self, session: AsyncSession, name: str) -> int:
        row = (
            await session.exec(
                select(ChainDeployment).where(
                    ChainDeployment.chain_id == self.chain_id, ChainDeployment.contract == name
                )
            )
        ).first()
        return 0 if row is None else row.block_number

    # -- calls -------------------------------------------------------------------------------

    async def call(self, contract: str, function: str, *args: Any, block: Any = "latest") -> Any:
        """A view call; reverts become typed errors (`UnknownListError`, …)."""
        fn = self.contract(contract).get_function_by_name(function)(*args)
        try:
            return await fn.call(block_identifier=block)
        except _REVERT_EXCEPTIONS as exc:
            raise self.decode_revert(contract, exc, f"{contract}.{function}") from exc
        except NODE_DOWN_EXCEPTIONS as exc:
            raise NodeUnavailableError(f"no answer from the node: {exc}") from exc

    def decode_revert(self, contract: str, exc: BaseException, context: str) -> ChainRevertError:
        data = revert_data_from_exception(exc)
        decoded = None if data is None else decode_custom_error(load_artifact(contract).abi, data)
        if decoded is None:
            return revert_error(None, {"message": str(exc)}, context)
        return revert_error(decoded.name, decoded.args, context)

    # -- transactions ------------------------------------------------------------------------

    async def fee_defaults(self) -> tuple[int, int]:
        """`(maxFeePerGas, maxPriorityFeePerGas)` for a new transaction: room for the base
        fee to double before it is stuck."""
        latest = await self.w3.eth.get_block("latest")
        base_fee = int(latest.get("baseFeePerGas", 0) or 0)
        return 2 * base_fee + _DEFAULT_TIP, _DEFAULT_TIP

    async def transaction_defaults(self, sender: str, nonce: int | None = None) -> dict[str, Any]:
        max_fee, tip = await self.fee_defaults()
        if nonce is None:
            nonce = await self.w3.eth.get_transaction_count(
                AsyncWeb3.to_checksum_address(sender), "pending"
            )
        return {
            "from": AsyncWeb3.to_checksum_address(sender),
            "chainId": self.chain_id,
            "nonce": nonce,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": max_fee,
        }

    def sign(self, tx: dict[str, Any]) -> HexBytes:
        """Sign with the key of `tx["from"]` (the relayer unless said otherwise)."""
        sender = str(tx.get("from") or self.relayer.address)
        unsigned = {k: v for k, v in tx.items() if k != "from"}
        return HexBytes(self.signer_for(sender).sign_transaction(unsigned).raw_transaction)

    async def send_signed(self, tx: dict[str, Any]) -> Any:
        """Sign, send and wait for the receipt (deployments and the embedded replay only:
        everything else goes through the outbox)."""
        if "gas" not in tx:
            tx["gas"] = int(await self.w3.eth.estimate_gas(cast(TxParams, tx)) * 1.2) + 10_000
        raw = self.sign(tx)
        try:
            tx_hash = await self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            if is_insufficient_funds(exc):
                raise InsufficientFundsError(
                    f"{tx.get('from')} cannot pay for gas", account=str(tx.get("from"))
                ) from exc
            raise
        return await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)

    async def block_number(self) -> int:
        return int(await self.w3.eth.block_number)

    async def close(self) -> None:
        provider = self.w3.provider
        if isinstance(provider, AsyncHTTPProvider):
            await provider.disconnect()
