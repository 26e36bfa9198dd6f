"""Chains for the contract tests: the in-process EVM and anvil, each with the registries deployed.

Every chain test runs on both (`chain` is parametrised); anvil cases carry the `anvil` marker.
Each test starts from a snapshot taken right after deployment and is reverted afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt

from contracts import (
    ContractName,
    CustomErrorRevert,
    decode_custom_error,
    load_artifact,
    revert_data_from_exception,
)
from tests.conftest import REPO_ROOT

ANVIL_BIN = REPO_ROOT / "contracts" / "node_modules" / ".bin" / "anvil"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AnvilNode:
    """An anvil process on a free local port (killed on `stop`)."""

    binary: Path
    extra_args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Web3:
        if not self.binary.exists():
            pytest.fail(
                f"{self.binary} is missing: run `npm ci --prefix contracts` "
                "(or deselect with -m 'not anvil')"
            )
        self.process = subprocess.Popen(
            [str(self.binary), "--port", str(self.port), "--silent", *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        w3 = Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"anvil exited with {self.process.returncode}")
            with contextlib.suppress(Exception):
                if w3.is_connected():
                    return w3
            time.sleep(0.05)
        self.stop()
        pytest.fail("anvil did not answer within 20 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def deploy(w3: Web3, name: ContractName | str, sender: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor(*args).transact({"from": sender})
    )
    assert receipt["status"] == 1
    address = receipt["contractAddress"]
    assert address is not None
    return w3.eth.contract(address=address, abi=artifact.abi)


@dataclass
class Chain:
    """One chain with the registries deployed and helpers that hide backend differences."""

    kind: str
    w3: Web3
    status: Contract
    issuers: Contract  # one root key (accounts[7]), threshold 1
    council: Contract  # root keys accounts[7], [8], [9], threshold 2
    anchors: Contract

    @property
    def accounts(self) -> list[str]:
        return list(self.w3.eth.accounts)

    def send(self, call: Any, sender: str) -> TxReceipt:
        receipt = self.w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}))
        assert receipt["status"] == 1
        return receipt

    def revert_of(self, contract: Contract, call: Any, sender: str) -> CustomErrorRevert:
        """Send `call` expecting a revert; return the decoded custom error."""
        return _expect_custom_error(contract, lambda: call.transact({"from": sender}))

    def call_revert_of(self, contract: Contract, call: Any) -> CustomErrorRevert:
        """`eth_call` expecting a revert; return the decoded custom error."""
        return _expect_custom_error(contract, call.call)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def mine_at(self, timestamp: int) -> None:
        """Mine a block at `timestamp` (later blocks are at least that late)."""
        if self.kind == "anvil":
            self.w3.provider.make_request("evm_mine", [timestamp])  # type: ignore[arg-type]
        else:
            tester = self.w3.provider.ethereum_tester  # type: ignore[attr-defined]
            tester.time_travel(timestamp)
            tester.mine_blocks(1)
        assert self.now() >= timestamp

    def snapshot(self) -> Any:
        if self.kind == "anvil":
            return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        return self.w3.provider.ethereum_tester.take_snapshot()  # type: ignore[attr-defined]

    def revert(self, snapshot_id: Any) -> None:
        if self.kind == "anvil":
            self.w3.provider.make_request("evm_revert", [snapshot_id])  # type: ignore[arg-type]
        else:
            self.w3.provider.ethereum_tester.revert_to_snapshot(snapshot_id)  # type: ignore[attr-defined]


def _expect_custom_error(contract: Contract, action: Callable[[], Any]) -> CustomErrorRevert:
    with pytest.raises((ContractLogicError, TransactionFailed)) as info:
        action()
    data = revert_data_from_exception(info.value)
    assert data is not None, f"no revert data in {info.value!r}"
    decoded = decode_custom_error(contract.abi, data)
    assert decoded is not None, f"not a custom error of the contract: {data.hex()}"
    return decoded


def _build_chain(kind: str, w3: Web3) -> Chain:
    accounts = list(w3.eth.accounts)
    owner = accounts[0]
    return Chain(
        kind=kind,
        w3=w3,
        status=deploy(w3, ContractName.STATUS_LIST_REGISTRY, owner),
        issuers=deploy(w3, ContractName.ISSUER_REGISTRY, owner, [accounts[7]], 1),
        council=deploy(
            w3, ContractName.ISSUER_REGISTRY, owner, [accounts[7], accounts[8], accounts[9]], 2
        ),
        anchors=deploy(w3, ContractName.EVENT_ANCHOR_REGISTRY, owner),
    )


@pytest.fixture(scope="session")
def anvil_node() -> Iterator[AnvilNode]:
    node = AnvilNode(ANVIL_BIN)
    node.start()
    yield node
    node.stop()


@pytest.fixture(
    scope="session",
    params=["eth_tester", pytest.param("anvil", marks=pytest.mark.anvil)],
)
def deployed_chain(request: pytest.FixtureRequest) -> Chain:
    if request.param == "anvil":
        node: AnvilNode = request.getfixturevalue("anvil_node")
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
        return _build_chain("anvil", w3)
    return _build_chain("eth_tester", Web3(EthereumTesterProvider()))


@pytest.fixture(scope="session")
def deployed_anvil_chain(anvil_node: AnvilNode) -> Chain:
    w3 = Web3(Web3.HTTPProvider(anvil_node.url, request_kwargs={"timeout": 120}))
    return _build_chain("anvil", w3)


@pytest.fixture
def anvil_chain(deployed_anvil_chain: Chain) -> Iterator[Chain]:
    """Anvil only, for heavy tests (mark them `anvil`)."""
    snapshot_id = deployed_anvil_chain.snapshot()
    yield deployed_anvil_chain
    deployed_anvil_chain.revert(snapshot_id)


@pytest.fixture
def chain(deployed_chain: Chain) -> Iterator[Chain]:
    snapshot_id = deployed_chain.snapshot()
    yield deployed_chain
    deployed_chain.revert(snapshot_id)
