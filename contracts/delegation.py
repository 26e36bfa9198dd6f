"""EIP-712 signed delegations for ``StatusListRegistry.setDelegateBySig``.

An issuing organisation authorises the platform's relayer by signing this message with its own
key; anyone (usually the relayer) submits it, so the organisation's account needs no funds.
"""

from __future__ import annotations

from typing import Any, Final

from eth_utils.address import is_hex_address, to_checksum_address

from contracts.errors import ContractError, ContractErrorCode

DOMAIN_NAME: Final = "BPP StatusListRegistry"
DOMAIN_VERSION: Final = "1"


def delegation_typed_data(
    *,
    chain_id: int,
    registry: str,
    issuer: str,
    delegate: str,
    expires_at: int,
    nonce: int,
) -> dict[str, Any]:
    """The EIP-712 message an issuer signs to set ``delegate``'s expiry (0 withdraws it).

    ``nonce`` is ``delegationNonce(issuer)`` read from the registry. The result is the
    ``full_message`` argument of ``eth_account.messages.encode_typed_data``; the 65-byte
    signature (r ‖ s ‖ v) of its hash is what ``setDelegateBySig`` takes.
    """
    for name, address in (("registry", registry), ("issuer", issuer), ("delegate", delegate)):
        if not is_hex_address(address):
            raise ContractError(ContractErrorCode.INVALID_CHANGE, f"{name} is not an address")
    if not 0 <= expires_at < 2**64 or nonce < 0:
        raise ContractError(ContractErrorCode.INVALID_CHANGE, "expiry or nonce out of range")
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Delegation": [
                {"name": "issuer", "type": "address"},
                {"name": "delegate", "type": "address"},
                {"name": "expiresAt", "type": "uint64"},
                {"name": "nonce", "type": "uint256"},
            ],
        },
        "primaryType": "Delegation",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(registry),
        },
        "message": {
            "issuer": to_checksum_address(issuer),
            "delegate": to_checksum_address(delegate),
            "expiresAt": expires_at,
            "nonce": nonce,
        },
    }
