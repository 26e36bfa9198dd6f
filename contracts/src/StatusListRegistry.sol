// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title StatusListRegistry
/// @notice Records every version of every credential status list of every issuer.
/// @dev Storage keeps only the newest version number and digest of a list, so that a verifier's
///      `eth_call` is cheap; the status changes themselves travel in event data (packed
///      `(index, value)` records, or a compressed full snapshot at checkpoints), so anyone can
///      rebuild every version of a list from the chain alone. Nothing in this contract ever
///      touches the list's entries, which is why a publish costs in proportion to the number of
///      changes it carries and not to the size or fill of the list.
///
///      The digest is computed off chain over the decoded values (see contracts/README.md):
///      keccak256("BPP-STATUS-LIST/v1" ‖ listId ‖ uint64 version ‖ uint8 entrySize ‖
///      uint32 length ‖ one byte per entry). It is independent of the list's wire format, so a
///      W3C Bitstring Status List and an IETF Token Status List publish through this contract
///      alike. The contract cannot recompute it (it never sees the whole list); a wrong digest is
///      detected by any rebuild, which every verifier can run.
///
///      There is no owner: only the issuer, or a delegate it authorised until an expiry, can
///      create or publish its lists.
contract StatusListRegistry {
    /// @notice Largest entry size in bits (an entry's value is one byte in the digest).
    uint8 public constant MAX_ENTRY_SIZE = 8;
    /// @notice Snapshot codec 1: zlib (RFC 1950) of the entries packed most significant bit
    ///         first, `entrySize` bits each, entry 0 first (the W3C Bitstring layout).
    uint8 public constant CODEC_ZLIB_MSB_FIRST = 1;

    /// @notice EIP-712 type of a signed delegation (expiresAt 0 = withdraw the delegate).
    bytes32 public constant DELEGATION_TYPEHASH =
        keccak256("Delegation(address issuer,address delegate,uint64 expiresAt,uint256 nonce)");
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant _NAME_HASH = keccak256("BPP StatusListRegistry");
    bytes32 private constant _VERSION_HASH = keccak256("1");
    /// @dev secp256k1n / 2: larger `s` values are the malleable twin of a valid signature.
    uint256 private constant _HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @dev Slot 0 holds everything but the digest, so a publish writes exactly two slots.
    struct List {
        uint64 version;
        uint64 checkpointVersion;
        uint32 length;
        uint8 entrySize;
        uint8 recordBytes;
        bytes32 digest;
    }

    mapping(address issuer => mapping(bytes32 listId => List)) private _lists;
    mapping(address issuer => mapping(address delegate => uint64 expiresAt)) private _delegates;
    mapping(address issuer => uint256) private _delegationNonces;

    /// @notice A list was created: version 0, every entry 0.
    /// @param recordBytes Width of one packed change record of this list (see `publishChanges`).
    event ListCreated(
        address indexed issuer,
        bytes32 indexed listId,
        uint32 length,
        uint8 entrySize,
        uint8 recordBytes,
        address publisher
    );

    /// @notice Version `version` of a list = the previous version with `changes` applied.
    /// @param changes Packed change records, strictly increasing by index (see `publishChanges`).
    event StatusChangesPublished(
        address indexed issuer,
        bytes32 indexed listId,
        uint64 indexed version,
        bytes32 digest,
        address publisher,
        bytes changes
    );

    /// @notice Version `version` of a list as a full snapshot (a checkpoint).
    event StatusSnapshotPublished(
        address indexed issuer,
        bytes32 indexed listId,
        uint64 indexed version,
        bytes32 digest,
        address publisher,
        uint8 codec,
        bytes snapshot
    );

    /// @notice `delegate` may create and publish `issuer`'s lists while block time < `expiresAt`.
    event DelegateAuthorised(address indexed issuer, address indexed delegate, uint64 expiresAt);

    /// @notice `delegate` may no longer act for `issuer`.
    event DelegateRevoked(address indexed issuer, address indexed delegate);

    /// @notice The sender is neither the issuer nor an unexpired delegate of it.
    error NotAuthorised(address issuer, address sender);
    /// @notice No list `listId` exists for `issuer`.
    error ListNotFound(address issuer, bytes32 listId);
    /// @notice The list already exists.
    error ListAlreadyExists(address issuer, bytes32 listId);
    /// @notice Entry size must be 1..8 bits.
    error InvalidEntrySize(uint8 entrySize);
    /// @notice A list needs at least one entry.
    error InvalidListLength(uint32 length);
    /// @notice A publish must carry exactly the next version (no skipping, no repeating).
    error VersionNotNext(uint64 expected, uint64 given);
    /// @notice The zero digest is reserved (it never results from the digest function).
    error ZeroDigest();
    /// @notice A change publish must carry at least one change.
    error NoChanges();
    /// @notice The change bytes are not a whole number of records.
    error ChangesMalformed(uint256 byteLength, uint8 recordBytes);
    /// @notice Change `position` does not have a larger index than the change before it.
    error ChangesNotSorted(uint256 position);
    /// @notice An index is outside the list.
    error IndexOutOfRange(uint256 index, uint32 length);
    /// @notice Unknown snapshot codec.
    error UnknownCodec(uint8 codec);
    /// @notice A snapshot must not be empty.
    error EmptySnapshot();
    /// @notice A delegate's expiry must lie in the future.
    error ExpiryNotInFuture(uint64 expiresAt);
    /// @notice The zero address cannot be a delegate.
    error ZeroDelegate();
    /// @notice The sender has no delegate `delegate`.
    error DelegateNotFound(address issuer, address delegate);
    /// @notice The delegation is not signed by the issuer (or the signature is malformed,
    ///         malleable, or for another nonce, chain or contract).
    error InvalidSignature();

    // ---------------------------------------------------------------- delegates

    /// @notice Let `delegate` create and publish the sender's lists until `expiresAt`
    ///         (exclusive, unix seconds). Re-authorising replaces the expiry.
    function authoriseDelegate(address delegate, uint64 expiresAt) external {
        if (delegate == address(0)) revert ZeroDelegate();
        if (expiresAt <= block.timestamp) revert ExpiryNotInFuture(expiresAt);
        _delegates[msg.sender][delegate] = expiresAt;
        emit DelegateAuthorised(msg.sender, delegate, expiresAt);
    }

    /// @notice Withdraw a delegate of the sender at once.
    function revokeDelegate(address delegate) external {
        if (_delegates[msg.sender][delegate] == 0) revert DelegateNotFound(msg.sender, delegate);
        delete _delegates[msg.sender][delegate];
        emit DelegateRevoked(msg.sender, delegate);
    }

    /// @notice Set a delegate of `issuer` with the issuer's EIP-712 signature, sent by anyone
    ///         (e.g. the relayer itself), so the issuer's key needs no funds on the chain.
    /// @param expiresAt New expiry (in the future), or 0 to withdraw the delegate.
    /// @param signature 65 bytes r ‖ s ‖ v over `Delegation(issuer, delegate, expiresAt,
    ///        delegationNonce(issuer))` in the domain `BPP StatusListRegistry`, version 1.
    function setDelegateBySig(
        address issuer,
        address delegate,
        uint64 expiresAt,
        bytes calldata signature
    ) external {
        if (delegate == address(0)) revert ZeroDelegate();
        if (expiresAt != 0 && expiresAt <= block.timestamp) revert ExpiryNotInFuture(expiresAt);
        uint256 nonce = _delegationNonces[issuer];
        bytes32 structHash = keccak256(abi.encode(DELEGATION_TYPEHASH, issuer, delegate, expiresAt, nonce));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
        address signer = _recover(digest, signature);
        if (signer == address(0) || signer != issuer) revert InvalidSignature();
        _delegationNonces[issuer] = nonce + 1;
        if (expiresAt == 0) {
            delete _delegates[issuer][delegate];
            emit DelegateRevoked(issuer, delegate);
        } else {
            _delegates[issuer][delegate] = expiresAt;
            emit DelegateAuthorised(issuer, delegate, expiresAt);
        }
    }

    /// @notice Nonce the next signed delegation of `issuer` must carry.
    function delegationNonce(address issuer) external view returns (uint256) {
        return _delegationNonces[issuer];
    }

    /// @notice EIP-712 domain separator of this registry on this chain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice Expiry of `delegate` for `issuer` (0 = none).
    function delegateExpiry(address issuer, address delegate) external view returns (uint64) {
        return _delegates[issuer][delegate];
    }

    /// @notice Whether `account` may publish `issuer`'s lists now.
    function canPublish(address issuer, address account) public view returns (bool) {
        return account == issuer || block.timestamp < _delegates[issuer][account];
    }

    // ---------------------------------------------------------------- lists

    /// @notice Create list `listId` of `issuer` with `length` entries of `entrySize` bits,
    ///         all 0 (version 0).
    /// @dev A change record is `recordBytes` = ceil((bitLength(length - 1) + entrySize) / 8)
    ///      bytes wide, fixed per list, so packing is as tight as the list allows.
    function createList(address issuer, bytes32 listId, uint32 length, uint8 entrySize) external {
        _authorise(issuer);
        if (entrySize == 0 || entrySize > MAX_ENTRY_SIZE) revert InvalidEntrySize(entrySize);
        if (length == 0) revert InvalidListLength(length);
        List storage list = _lists[issuer][listId];
        if (list.recordBytes != 0) revert ListAlreadyExists(issuer, listId);
        uint256 indexBits = 0;
        for (uint256 rest = uint256(length) - 1; rest != 0; rest >>= 1) {
            ++indexBits;
        }
        // At most 32 + 8 bits: five bytes.
        uint8 recordBytes = uint8((indexBits + entrySize + 7) / 8);
        list.length = length;
        list.entrySize = entrySize;
        list.recordBytes = recordBytes;
        emit ListCreated(issuer, listId, length, entrySize, recordBytes, msg.sender);
    }

    /// @notice Publish version `version` (= current + 1) of a list as changes to the previous one.
    /// @param digest Status list digest of the new version (see contract notes).
    /// @param changes Concatenated records of `recordBytes` bytes each; a record is the big-endian
    ///        integer `index << entrySize | value`. Records are strictly increasing by index, so
    ///        each index appears once per version and the encoding is canonical.
    function publishChanges(
        address issuer,
        bytes32 listId,
        uint64 version,
        bytes32 digest,
        bytes calldata changes
    ) external {
        List storage list = _lists[issuer][listId];
        uint8 recordBytes = list.recordBytes;
        if (recordBytes == 0) revert ListNotFound(issuer, listId);
        _authorise(issuer);
        _checkNext(list.version, version, digest);
        uint256 byteLength = changes.length;
        if (byteLength == 0) revert NoChanges();
        if (byteLength % recordBytes != 0) revert ChangesMalformed(byteLength, recordBytes);
        _checkChanges(changes, recordBytes, list.entrySize, list.length);

        list.version = version;
        list.digest = digest;

        bytes32 topic0 = StatusChangesPublished.selector;
        // Emit straight from one memory copy of the calldata: `emit` with a `bytes calldata`
        // argument would copy it twice, and the copy is most of the execution cost per change.
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, digest)
            mstore(add(ptr, 0x20), caller())
            mstore(add(ptr, 0x40), 0x60)
            mstore(add(ptr, 0x60), byteLength)
            calldatacopy(add(ptr, 0x80), changes.offset, byteLength)
            // Zero the ABI padding after the data (memory past the free pointer may be dirty).
            mstore(add(add(ptr, 0x80), byteLength), 0)
            let padded := and(add(byteLength, 31), not(31))
            log4(ptr, add(0x80, padded), topic0, issuer, listId, version)
        }
    }

    /// @notice Publish version `version` (= current + 1) of a list as a full snapshot; it becomes
    ///         the list's checkpoint, from which a rebuild of later versions can start.
    /// @param codec Snapshot encoding, `CODEC_ZLIB_MSB_FIRST`.
    /// @param snapshot The encoded entries; only its digest is checked, by rebuilders.
    function publishSnapshot(
        address issuer,
        bytes32 listId,
        uint64 version,
        bytes32 digest,
        uint8 codec,
        bytes calldata snapshot
    ) external {
        List storage list = _lists[issuer][listId];
        if (list.recordBytes == 0) revert ListNotFound(issuer, listId);
        _authorise(issuer);
        _checkNext(list.version, version, digest);
        if (codec != CODEC_ZLIB_MSB_FIRST) revert UnknownCodec(codec);
        if (snapshot.length == 0) revert EmptySnapshot();
        list.version = version;
        list.checkpointVersion = version;
        list.digest = digest;
        emit StatusSnapshotPublished(issuer, listId, version, digest, msg.sender, codec, snapshot);
    }

    /// @notice Newest version and its digest: what a verifier compares a served list with.
    function latest(address issuer, bytes32 listId)
        external
        view
        returns (uint64 version, bytes32 digest)
    {
        List storage list = _lists[issuer][listId];
        if (list.recordBytes == 0) revert ListNotFound(issuer, listId);
        return (list.version, list.digest);
    }

    /// @notice Everything stored about a list.
    /// @return version Newest version (0 = just created, all entries 0).
    /// @return digest Digest of the newest version (0 for version 0).
    /// @return checkpointVersion Newest version published as a snapshot (0 = none).
    /// @return length Number of entries.
    /// @return entrySize Bits per entry.
    /// @return recordBytes Width of one change record.
    function getList(address issuer, bytes32 listId)
        external
        view
        returns (
            uint64 version,
            bytes32 digest,
            uint64 checkpointVersion,
            uint32 length,
            uint8 entrySize,
            uint8 recordBytes
        )
    {
        List storage list = _lists[issuer][listId];
        if (list.recordBytes == 0) revert ListNotFound(issuer, listId);
        return (
            list.version,
            list.digest,
            list.checkpointVersion,
            list.length,
            list.entrySize,
            list.recordBytes
        );
    }

    // ---------------------------------------------------------------- internals

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > _HALF_N || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    function _authorise(address issuer) private view {
        if (msg.sender != issuer && block.timestamp >= _delegates[issuer][msg.sender]) {
            revert NotAuthorised(issuer, msg.sender);
        }
    }

    function _checkNext(uint64 current, uint64 version, bytes32 digest) private pure {
        unchecked {
            // `current` cannot reach 2**64 - 1: that many publishes would not fit in any chain.
            if (version != current + 1) revert VersionNotNext(current + 1, version);
        }
        if (digest == bytes32(0)) revert ZeroDigest();
    }

    /// @dev Only sortedness is checked per record: with strictly increasing indices, the range
    ///      check on the last one covers all. The hot loop only accumulates a failure flag (no
    ///      branch per record, four records per iteration); the failing position is searched
    ///      for only on the revert path.
    ///      Under EIP-7623 pricing a change costs at least its calldata floor (10 gas per token,
    ///      4 tokens per non-zero byte), and execution below that floor is paid by it.
    function _checkChanges(
        bytes calldata changes,
        uint8 recordBytes,
        uint8 entrySize,
        uint32 length
    ) private pure {
        bool unsorted;
        uint256 next;
        assembly {
            // A record's index is the top (recordBytes * 8 - entrySize) bits of its first word.
            let shift := add(sub(256, shl(3, recordBytes)), entrySize)
            let w := recordBytes
            let p := changes.offset
            let end := add(p, changes.length)
            // Four records per iteration: the loop overhead is most of the cost of one.
            let w4 := shl(2, w)
            for {} iszero(gt(add(p, w4), end)) { p := add(p, w4) } {
                let i0 := shr(shift, calldataload(p))
                let i1 := shr(shift, calldataload(add(p, w)))
                let i2 := shr(shift, calldataload(add(p, shl(1, w))))
                let i3 := shr(shift, calldataload(sub(add(p, w4), w)))
                unsorted := or(
                    or(or(unsorted, lt(i0, next)), or(iszero(gt(i1, i0)), iszero(gt(i2, i1)))),
                    iszero(gt(i3, i2))
                )
                next := add(i3, 1)
            }
            for {} lt(p, end) { p := add(p, w) } {
                let index := shr(shift, calldataload(p))
                unsorted := or(unsorted, lt(index, next))
                next := add(index, 1)
            }
        }
        if (unsorted) revert ChangesNotSorted(_firstUnsorted(changes, recordBytes, entrySize));
        // `next` = last index + 1.
        if (next > length) revert IndexOutOfRange(next - 1, length);
    }

    /// @dev Position of the first record whose index is not above the previous one's.
    function _firstUnsorted(bytes calldata changes, uint8 recordBytes, uint8 entrySize)
        private
        pure
        returns (uint256 position)
    {
        uint256 shift = 256 - 8 * uint256(recordBytes) + entrySize;
        uint256 previous;
        for (uint256 p = 0; p < changes.length; p += recordBytes) {
            uint256 index = uint256(bytes32(changes[p:])) >> shift;
            if (p != 0 && index <= previous) return p / recordBytes;
            previous = index;
        }
        return type(uint256).max;
    }
}
