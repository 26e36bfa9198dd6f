// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.28;

/// @title EventAnchorRegistry
/// @notice Issuers anchor Merkle roots of their lifecycle events; anyone checks inclusion.
/// @dev Merkle scheme (RFC 9162 tree shape, keccak256, domain-separated):
///      leaf = keccak256(0x00 ‖ eventHash), node = keccak256(0x01 ‖ left ‖ right); each level
///      pairs nodes left to right and an odd last node moves up unchanged. The prefixes keep a
///      leaf from ever being read as an inner node (second-preimage attack); the proof checks the
///      leaf's index against the anchored count, so a proof fixes the position too.
///      Anchors are numbered per issuer 1, 2, 3, … with no gaps.
contract EventAnchorRegistry {
    /// @dev Two slots per anchor; `anchoredAt` is the block time of the anchoring.
    struct Anchor {
        bytes32 root;
        uint64 count;
        uint64 anchoredAt;
    }

    mapping(address issuer => uint64) private _lastSequence;
    mapping(address issuer => mapping(uint64 sequence => Anchor)) private _anchors;

    /// @notice `issuer` anchored Merkle `root` over `count` events as anchor number `sequence`.
    event Anchored(address indexed issuer, uint64 indexed sequence, bytes32 root, uint64 count);

    /// @notice Anchors of an issuer are numbered 1, 2, 3, … without gaps or repeats.
    error SequenceNotNext(uint64 expected, uint64 given);
    /// @notice An anchor covers at least one event.
    error EmptyAnchor();
    /// @notice The zero root is reserved.
    error ZeroRoot();
    /// @notice No anchor `sequence` for `issuer`.
    error AnchorNotFound(address issuer, uint64 sequence);

    /// @notice Anchor `root` over `count` events as the sender's anchor number `sequence`.
    function anchor(bytes32 root, uint64 count, uint64 sequence) external {
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert EmptyAnchor();
        uint64 expected = _lastSequence[msg.sender] + 1;
        if (sequence != expected) revert SequenceNotNext(expected, sequence);
        _lastSequence[msg.sender] = sequence;
        _anchors[msg.sender][sequence] = Anchor(root, count, uint64(block.timestamp));
        emit Anchored(msg.sender, sequence, root, count);
    }

    /// @notice Newest anchor number of `issuer` (0 = none yet).
    function lastSequence(address issuer) external view returns (uint64) {
        return _lastSequence[issuer];
    }

    /// @notice Anchor number `sequence` of `issuer`.
    function getAnchor(address issuer, uint64 sequence)
        external
        view
        returns (bytes32 root, uint64 count, uint64 anchoredAt)
    {
        Anchor storage a = _anchors[issuer][sequence];
        if (a.root == bytes32(0)) revert AnchorNotFound(issuer, sequence);
        return (a.root, a.count, a.anchoredAt);
    }

    /// @notice Whether the event with hash `eventHash` is leaf `index` of anchor `sequence`.
    function verifyInclusion(
        address issuer,
        uint64 sequence,
        bytes32 eventHash,
        uint64 index,
        bytes32[] calldata proof
    ) external view returns (bool) {
        Anchor storage a = _anchors[issuer][sequence];
        if (a.root == bytes32(0)) revert AnchorNotFound(issuer, sequence);
        return verifyProof(a.root, a.count, eventHash, index, proof);
    }

    /// @notice Whether `proof` shows `eventHash` is leaf `index` of the `count`-leaf tree `root`.
    /// @dev The audit path check of RFC 9162 section 2.1.3.2, with this contract's hashing.
    function verifyProof(
        bytes32 root,
        uint64 count,
        bytes32 eventHash,
        uint64 index,
        bytes32[] calldata proof
    ) public pure returns (bool) {
        if (index >= count) return false;
        uint256 fn = index;
        uint256 sn = uint256(count) - 1;
        bytes32 r = leafHash(eventHash);
        uint256 length = proof.length;
        for (uint256 i = 0; i < length; ++i) {
            if (sn == 0) return false;
            if (fn & 1 == 1 || fn == sn) {
                r = nodeHash(proof[i], r);
                // Skip the levels where this node had no sibling and moved up unchanged.
                while (fn & 1 == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
            } else {
                r = nodeHash(r, proof[i]);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }

    /// @notice Leaf hash of an event: keccak256(0x00 ‖ eventHash).
    function leafHash(bytes32 eventHash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x00), eventHash));
    }

    /// @notice Inner node hash: keccak256(0x01 ‖ left ‖ right).
    function nodeHash(bytes32 left, bytes32 right) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(bytes1(0x01), left, right));
    }
}
