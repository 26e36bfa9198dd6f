"""Off-chain side of ``IssuerRegistry``: role numbers and subject keys."""

from __future__ import annotations

from enum import StrEnum

from eth_utils.address import is_hex_address, to_canonical_address
from eth_utils.crypto import keccak

from contracts.errors import ContractError, ContractErrorCode


class Role(StrEnum):
    """Organisation roles, in the contract's numbering (``Role.number``)."""

    PLATFORM = "platform"
    ISSUER = "issuer"
    MANUFACTURER = "manufacturer"
    INSPECTOR = "inspector"
    CHARGE_POINT_OPERATOR = "charge-point-operator"
    REPAIRER = "repairer"
    SECOND_LIFE_OPERATOR = "second-life-operator"
    RECYCLER = "recycler"

    @property
    def number(self) -> int:
        """The ``uint8 role`` the contract takes."""
        return list(Role).index(self)

    @classmethod
    def from_number(cls, number: int) -> Role:
        """The role with contract number ``number`` (``unknown_role`` if none)."""
        roles = list(cls)
        if not 0 <= number < len(roles):
            raise ContractError(ContractErrorCode.UNKNOWN_ROLE, f"no role number {number}")
        return roles[number]


def subject_for_address(address: str) -> bytes:
    """Subject key of an issuer known by its chain address: the address left-padded to 32 bytes."""
    if not is_hex_address(address):
        raise ContractError(ContractErrorCode.INVALID_LEAF, f"not an address: {address!r}")
    return bytes(12) + to_canonical_address(address)


def subject_for_did(did: str) -> bytes:
    """Subject key of an issuer known by its DID: keccak256 of the DID's UTF-8 bytes."""
    if not did.startswith("did:"):
        raise ContractError(ContractErrorCode.INVALID_LEAF, f"not a DID: {did!r}")
    return keccak(did.encode("utf-8"))
