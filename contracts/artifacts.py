"""Load the committed contract artifacts (built by ``contracts/build.mjs``; no Node needed)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from contracts.errors import ContractError, ContractErrorCode


class ContractName(StrEnum):
    """The platform's deployable contracts."""

    STATUS_LIST_REGISTRY = "StatusListRegistry"
    ISSUER_REGISTRY = "IssuerRegistry"
    EVENT_ANCHOR_REGISTRY = "EventAnchorRegistry"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A compiled contract: ABI, creation and runtime bytecode, and how it was compiled."""

    contract_name: str
    source_name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    compiler_settings: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Artifact:
        """Build an artifact from the JSON document the build script writes."""
        return cls(
            contract_name=str(data["contractName"]),
            source_name=str(data["sourceName"]),
            abi=tuple(data["abi"]),
            bytecode=str(data["bytecode"]),
            deployed_bytecode=str(data["deployedBytecode"]),
            compiler_version=str(data["compiler"]["version"]),
            compiler_settings=dict(data["compiler"]["settings"]),
        )


@cache
def load_artifact(name: ContractName | str) -> Artifact:
    """Return the committed artifact of contract ``name`` (e.g. ``"StatusListRegistry"``).

    Raises :class:`ContractError` (``unknown_artifact``) for a name that is not one of
    :class:`ContractName`.
    """
    try:
        contract = ContractName(name)
    except ValueError:
        raise ContractError(
            ContractErrorCode.UNKNOWN_ARTIFACT, f"no contract artifact named {name!r}"
        ) from None
    path = resources.files("contracts").joinpath("artifacts", f"{contract.value}.json")
    return Artifact.from_json(json.loads(path.read_text(encoding="utf-8")))
