// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title IssuerRegistry
/// @notice The root of trust (the city) accredits issuers for roles with validity windows.
/// @dev The root is a set of up to 16 keys with a threshold: an operation (accredit, revoke,
///      change the root set) runs when `threshold` distinct root keys have called it with the
///      same arguments. An operation's id binds its arguments, the root epoch (bumped on every
///      root change, which voids pending approvals given under the old set) and, for
///      accreditations, a per-(subject, role) generation counter bumped on every executed
///      accredit/revoke (so an executed operation can never be replayed by one key).
///
///      A subject is a bytes32: an address left-padded with zeros (`bytes32(uint256(uint160(a)))`)
///      or keccak256 of a DID's UTF-8 bytes. Roles are numbered in this order: platform, issuer,
///      manufacturer, inspector, charge-point-operator, repairer, second-life-operator, recycler.
contract IssuerRegistry {
    /// @notice Number of roles; valid role numbers are 0 .. ROLE_COUNT - 1.
    uint8 public constant ROLE_COUNT = 8;
    /// @notice Most root keys.
    uint256 public constant MAX_ROOTS = 16;
    /// @notice Most accreditation windows kept per (subject, role); bounds `isAccredited`'s loop.
    uint256 public constant MAX_WINDOWS = 32;

    bytes32 private constant _OP_ACCREDIT = keccak256("BPP-ISSUER-REGISTRY/accredit");
    bytes32 private constant _OP_REVOKE = keccak256("BPP-ISSUER-REGISTRY/revoke");
    bytes32 private constant _OP_ROOTS = keccak256("BPP-ISSUER-REGISTRY/roots");

    /// @notice An accreditation is valid for `validFrom <= t < validUntil` (unix seconds).
    struct Window {
        uint64 validFrom;
        uint64 validUntil;
    }

    address[] private _roots;
    mapping(address root => uint256 indexPlusOne) private _rootIndex;
    uint8 private _threshold;
    uint64 private _epoch;
    mapping(bytes32 opId => uint256 bitmap) private _approvals;
    mapping(bytes32 subject => mapping(uint8 role => Window[])) private _windows;
    mapping(bytes32 subject => mapping(uint8 role => uint64)) private _generation;

    /// @notice Root key `root` approved operation `opId`; it has `approvals` of `threshold`.
    event OperationApproved(bytes32 indexed opId, address indexed root, uint256 approvals, uint8 threshold);
    /// @notice `subject` is accredited for `role` in [validFrom, validUntil).
    event Accredited(bytes32 indexed subject, uint8 indexed role, uint64 validFrom, uint64 validUntil);
    /// @notice `subject` is not accredited for `role` from `effectiveAt` on.
    event AccreditationRevoked(bytes32 indexed subject, uint8 indexed role, uint64 effectiveAt);
    /// @notice The root key set is now `roots` with `threshold`; `epoch` numbers the set.
    event RootsChanged(address[] roots, uint8 threshold, uint64 epoch);

    /// @notice The sender is not a root key.
    error NotRoot(address sender);
    /// @notice This root key already approved this operation.
    error AlreadyApproved(bytes32 opId, address root);
    /// @notice Role numbers run 0 .. ROLE_COUNT - 1.
    error UnknownRole(uint8 role);
    /// @notice The zero subject is reserved.
    error ZeroSubject();
    /// @notice A window must end after it starts.
    error InvalidWindow(uint64 validFrom, uint64 validUntil);
    /// @notice The (subject, role) already holds MAX_WINDOWS windows.
    error TooManyWindows(bytes32 subject, uint8 role);
    /// @notice No non-empty part of a window of (subject, role) lies at or after `effectiveAt`.
    error NothingToRevoke(bytes32 subject, uint8 role, uint64 effectiveAt);
    /// @notice A root set needs 1..MAX_ROOTS keys.
    error InvalidRootCount(uint256 count);
    /// @notice A root key is zero or listed twice.
    error InvalidRoot(address root);
    /// @notice Threshold must be 1 .. number of roots.
    error InvalidThreshold(uint8 threshold, uint256 rootCount);

    /// @param roots Initial root keys (the city's).
    /// @param threshold How many of them must approve an operation.
    constructor(address[] memory roots, uint8 threshold) {
        _setRoots(roots, threshold);
    }

    // ---------------------------------------------------------------- operations

    /// @notice Approve (and, at the threshold, execute) accrediting `subject` for `role` in
    ///         [validFrom, validUntil). Windows accumulate; history stays answerable.
    /// @return executed Whether this approval reached the threshold and the accreditation holds.
    function accredit(bytes32 subject, uint8 role, uint64 validFrom, uint64 validUntil)
        external
        returns (bool executed)
    {
        _checkSubjectRole(subject, role);
        if (validFrom >= validUntil) revert InvalidWindow(validFrom, validUntil);
        bytes32 opId = accreditOperationId(subject, role, validFrom, validUntil);
        if (!_approve(opId)) return false;
        Window[] storage windows = _windows[subject][role];
        if (windows.length >= MAX_WINDOWS) revert TooManyWindows(subject, role);
        windows.push(Window(validFrom, validUntil));
        ++_generation[subject][role];
        emit Accredited(subject, role, validFrom, validUntil);
        return true;
    }

    /// @notice Approve (and, at the threshold, execute) ending every accreditation of
    ///         `subject` for `role` at `effectiveAt`: afterwards `isAccredited(subject, role, t)`
    ///         is false for every t >= effectiveAt. Earlier times keep their answer.
    /// @return executed Whether this approval reached the threshold and the revocation holds.
    function revoke(bytes32 subject, uint8 role, uint64 effectiveAt) external returns (bool executed) {
        _checkSubjectRole(subject, role);
        bytes32 opId = revokeOperationId(subject, role, effectiveAt);
        // Checked before approving so that a pointless revocation fails for the first key too.
        Window[] storage windows = _windows[subject][role];
        uint256 count = windows.length;
        bool any = false;
        for (uint256 i = 0; i < count; ++i) {
            Window storage w = windows[i];
            if (w.validUntil > _cut(w, effectiveAt)) {
                any = true;
                break;
            }
        }
        if (!any) revert NothingToRevoke(subject, role, effectiveAt);
        if (!_approve(opId)) return false;
        for (uint256 i = 0; i < count; ++i) {
            Window storage w = windows[i];
            uint64 cut = _cut(w, effectiveAt);
            if (w.validUntil > cut) w.validUntil = cut;
        }
        ++_generation[subject][role];
        emit AccreditationRevoked(subject, role, effectiveAt);
        return true;
    }

    /// @notice Approve (and, at the threshold, execute) replacing the root key set.
    /// @return executed Whether this approval reached the threshold and the new set is in force.
    function changeRoots(address[] calldata roots, uint8 threshold) external returns (bool executed) {
        _validateRoots(roots, threshold);
        bytes32 opId = rootsOperationId(roots, threshold);
        if (!_approve(opId)) return false;
        _setRoots(roots, threshold);
        return true;
    }

    // ---------------------------------------------------------------- views

    /// @notice Whether `subject` is accredited for `role` at time `at` (unix seconds).
    function isAccredited(bytes32 subject, uint8 role, uint64 at) public view returns (bool) {
        if (role >= ROLE_COUNT) revert UnknownRole(role);
        Window[] storage windows = _windows[subject][role];
        uint256 count = windows.length;
        for (uint256 i = 0; i < count; ++i) {
            Window storage w = windows[i];
            if (w.validFrom <= at && at < w.validUntil) return true;
        }
        return false;
    }

    /// @notice `isAccredited` for an issuer identified by its chain address.
    function isAccreditedAddress(address issuer, uint8 role, uint64 at) external view returns (bool) {
        return isAccredited(bytes32(uint256(uint160(issuer))), role, at);
    }

    /// @notice Every window of (subject, role), oldest first, as revoked so far.
    function windowsOf(bytes32 subject, uint8 role) external view returns (Window[] memory) {
        return _windows[subject][role];
    }

    /// @notice Current root keys, threshold and epoch.
    function rootSet() external view returns (address[] memory roots, uint8 threshold, uint64 epoch) {
        return (_roots, _threshold, _epoch);
    }

    /// @notice Number of root keys that approved `opId` so far.
    function approvalCount(bytes32 opId) public view returns (uint256 count) {
        uint256 bitmap = _approvals[opId];
        while (bitmap != 0) {
            bitmap &= bitmap - 1;
            ++count;
        }
    }

    /// @notice Id of the accredit operation with these arguments, in the current state.
    function accreditOperationId(bytes32 subject, uint8 role, uint64 validFrom, uint64 validUntil)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                _OP_ACCREDIT,
                block.chainid,
                address(this),
                _epoch,
                _generation[subject][role],
                subject,
                role,
                validFrom,
                validUntil
            )
        );
    }

    /// @notice Id of the revoke operation with these arguments, in the current state.
    function revokeOperationId(bytes32 subject, uint8 role, uint64 effectiveAt) public view returns (bytes32) {
        return keccak256(
            abi.encode(
                _OP_REVOKE,
                block.chainid,
                address(this),
                _epoch,
                _generation[subject][role],
                subject,
                role,
                effectiveAt
            )
        );
    }

    /// @notice Id of the root change operation with these arguments, in the current state.
    function rootsOperationId(address[] calldata roots, uint8 threshold) public view returns (bytes32) {
        return keccak256(abi.encode(_OP_ROOTS, block.chainid, address(this), _epoch, roots, threshold));
    }

    // ---------------------------------------------------------------- internals

    /// @dev Where a revocation at `effectiveAt` makes window `w` end (never before it starts).
    function _cut(Window storage w, uint64 effectiveAt) private view returns (uint64) {
        uint64 from = w.validFrom;
        return effectiveAt > from ? effectiveAt : from;
    }

    function _checkSubjectRole(bytes32 subject, uint8 role) private pure {
        if (subject == bytes32(0)) revert ZeroSubject();
        if (role >= ROLE_COUNT) revert UnknownRole(role);
    }

    /// @dev Records the sender's approval; true when the threshold is reached (approvals are
    ///      then cleared, and the caller executes the operation).
    function _approve(bytes32 opId) private returns (bool) {
        uint256 index = _rootIndex[msg.sender];
        if (index == 0) revert NotRoot(msg.sender);
        uint256 bit = 1 << (index - 1);
        uint256 bitmap = _approvals[opId];
        if (bitmap & bit != 0) revert AlreadyApproved(opId, msg.sender);
        bitmap |= bit;
        uint256 count = 0;
        for (uint256 b = bitmap; b != 0; b &= b - 1) {
            ++count;
        }
        emit OperationApproved(opId, msg.sender, count, _threshold);
        if (count >= _threshold) {
            delete _approvals[opId];
            return true;
        }
        _approvals[opId] = bitmap;
        return false;
    }

    function _validateRoots(address[] memory roots, uint8 threshold) private pure {
        uint256 count = roots.length;
        if (count == 0 || count > MAX_ROOTS) revert InvalidRootCount(count);
        if (threshold == 0 || threshold > count) revert InvalidThreshold(threshold, count);
        for (uint256 i = 0; i < count; ++i) {
            if (roots[i] == address(0)) revert InvalidRoot(roots[i]);
            for (uint256 j = 0; j < i; ++j) {
                if (roots[j] == roots[i]) revert InvalidRoot(roots[i]);
            }
        }
    }

    function _setRoots(address[] memory roots, uint8 threshold) private {
        _validateRoots(roots, threshold);
        uint256 old = _roots.length;
        for (uint256 i = 0; i < old; ++i) {
            delete _rootIndex[_roots[i]];
        }
        delete _roots;
        for (uint256 i = 0; i < roots.length; ++i) {
            _roots.push(roots[i]);
            _rootIndex[roots[i]] = i + 1;
        }
        _threshold = threshold;
        ++_epoch;
        emit RootsChanged(roots, threshold, _epoch);
    }
}
