"""The platform's Solidity registries: committed artifacts and their off-chain encodings.

Pure Python, no Node at run time and no chain access: the backend's chain client deploys and
calls the contracts with these artifacts, and uses :mod:`contracts.status`,
:mod:`contracts.merkle` and :mod:`contracts.issuers` to encode what it sends and to check what
it reads. See ``contracts/README.md`` for the ABI-level interface.
"""

from __future__ import annotations

from contracts.artifacts import Artifact, ContractName, load_artifact
from contracts.errors import (
    ContractError,
    ContractErrorCode,
    CustomErrorRevert,
    decode_custom_error,
    revert_data_from_exception,
)

__all__ = [
    "Artifact",
    "ContractError",
    "ContractErrorCode",
    "ContractName",
    "CustomErrorRevert",
    "decode_custom_error",
    "load_artifact",
    "revert_data_from_exception",
]
