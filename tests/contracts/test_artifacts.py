"""Committed artifacts: loadable without Node, identical to a fresh compile, deployable."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from contracts import ContractError, ContractErrorCode, ContractName, load_artifact
from tests.conftest import REPO_ROOT
from tests.contracts.conftest import Chain

SOLC = REPO_ROOT / "contracts" / "node_modules" / "solc"


@pytest.mark.parametrize("name", list(ContractName))
def test_artifact_loads_with_abi_and_bytecode(name: ContractName) -> None:
    artifact = load_artifact(name)
    assert artifact.contract_name == name.value
    assert artifact.compiler_version.startswith("0.8.28+commit.")
    assert artifact.compiler_settings["optimizer"] == {"enabled": True, "runs": 200}
    assert artifact.bytecode.startswith("0x60")
    assert len(artifact.deployed_bytecode) > 100
    assert any(entry["type"] == "error" for entry in artifact.abi)
    assert any(entry["type"] == "event" for entry in artifact.abi)


def test_unknown_artifact_is_a_typed_error() -> None:
    with pytest.raises(ContractError) as info:
        load_artifact("Proxy")
    assert info.value.code is ContractErrorCode.UNKNOWN_ARTIFACT


def test_committed_artifacts_equal_a_fresh_compile() -> None:
    node = shutil.which("node")
    if node is None or not SOLC.exists():
        pytest.fail("needs Node and `npm ci --prefix contracts` (the pinned solc)")
    result = subprocess.run(
        [node, str(REPO_ROOT / "contracts" / "build.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_deployed_code_is_the_committed_runtime_bytecode(chain: Chain) -> None:
    for contract in (chain.status, chain.issuers, chain.anchors):
        code = chain.w3.eth.get_code(contract.address)
        names = {
            chain.status.address: ContractName.STATUS_LIST_REGISTRY,
            chain.issuers.address: ContractName.ISSUER_REGISTRY,
            chain.anchors.address: ContractName.EVENT_ANCHOR_REGISTRY,
        }
        expected = load_artifact(names[contract.address]).deployed_bytecode
        assert "0x" + code.hex().removeprefix("0x") == expected
