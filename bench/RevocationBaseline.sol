// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title RevocationBaseline
/// @notice The comparison point of bench/gas.py: an EIP-5539-style registry that stores one
///         mapping slot per revoked credential, one transaction per revocation.
/// @dev Not used by the platform. Namespace = the owner's address as bytes32, as in EIP-5539's
///      default namespace; the owner check and event mirror that design.
contract RevocationBaseline {
    mapping(bytes32 namespace => mapping(bytes32 list => mapping(bytes32 key => bool))) private _revoked;

    event RevocationStatusChanged(
        bytes32 indexed namespace, bytes32 indexed list, bytes32 indexed key, bool revoked
    );

    error NotOwner(bytes32 namespace, address sender);

    /// @notice Set the revocation status of `key` in `list` of the sender's namespace.
    function changeStatus(bool revoked, bytes32 namespace, bytes32 list, bytes32 key) external {
        if (namespace != bytes32(uint256(uint160(msg.sender)))) revert NotOwner(namespace, msg.sender);
        _revoked[namespace][list][key] = revoked;
        emit RevocationStatusChanged(namespace, list, key, revoked);
    }

    /// @notice Whether `key` is revoked.
    function isRevoked(bytes32 namespace, bytes32 list, bytes32 key) external view returns (bool) {
        return _revoked[namespace][list][key];
    }
}
