"""StatusListRegistry on chain: lists, versions, delegates, every custom error, rebuild."""

from __future__ import annotations

from collections.abc import Mapping

from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.status import (
    ListShape,
    StatusChange,
    StatusListEvent,
    apply_changes,
    encode_snapshot,
    pack_changes,
    rebuild_versions,
    status_digest,
    status_event_from_log,
)
from tests.contracts.conftest import Chain

LIST_ID = bytes.fromhex("11" * 32)
SHAPE = ListShape(length=131_072, entry_size=1)


def create_list(
    chain: Chain, issuer: str, list_id: bytes = LIST_ID, shape: ListShape = SHAPE
) -> None:
    chain.send(
        chain.status.functions.createList(issuer, list_id, shape.length, shape.entry_size), issuer
    )


def publish(
    chain: Chain,
    issuer: str,
    version: int,
    before: bytes,
    changes: Mapping[int, int],
    *,
    sender: str | None = None,
    list_id: bytes = LIST_ID,
    shape: ListShape = SHAPE,
) -> tuple[bytes, TxReceipt]:
    after = apply_changes(before, [StatusChange(i, v) for i, v in changes.items()], shape)
    digest = status_digest(list_id, version, shape, after)
    receipt = chain.send(
        chain.status.functions.publishChanges(
            issuer, list_id, version, digest, pack_changes(changes, shape)
        ),
        sender or issuer,
    )
    return after, receipt


def chain_events(chain: Chain, issuer: str, list_id: bytes = LIST_ID) -> list[StatusListEvent]:
    filters = {"issuer": issuer, "listId": list_id}
    events = chain.status.events
    logs = [
        *events.ListCreated.get_logs(from_block=0, argument_filters=filters),
        *events.StatusChangesPublished.get_logs(from_block=0, argument_filters=filters),
        *events.StatusSnapshotPublished.get_logs(from_block=0, argument_filters=filters),
    ]
    return [status_event_from_log(log) for log in logs]


def test_created_list_is_version_zero_with_its_shape(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    version, digest, checkpoint, length, entry_size, record_bytes = chain.status.functions.getList(
        issuer, LIST_ID
    ).call()
    assert (version, digest, checkpoint) == (0, bytes(32), 0)
    assert (length, entry_size) == (131_072, 1)
    assert record_bytes == SHAPE.record_bytes == 3


def test_record_width_matches_python_for_several_shapes(chain: Chain) -> None:
    issuer = chain.accounts[1]
    for n, (length, entry_size) in enumerate([(1, 1), (2, 8), (256, 8), (257, 8), (2**20, 2)]):
        list_id = n.to_bytes(32, "big")
        shape = ListShape(length, entry_size)
        create_list(chain, issuer, list_id, shape)
        stored = chain.status.functions.getList(issuer, list_id).call()
        assert stored[5] == shape.record_bytes


def test_publish_stores_only_latest_version_and_digest(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    v1, _ = publish(chain, issuer, 1, SHAPE.zero_values(), {7: 1, 131_071: 1})
    v2, _ = publish(chain, issuer, 2, v1, {7: 0, 500: 1})
    version, digest = chain.status.functions.latest(issuer, LIST_ID).call()
    assert version == 2
    assert digest == status_digest(LIST_ID, 2, SHAPE, v2)
    assert (v2[7], v2[500], v2[131_071]) == (0, 1, 1)


def test_publish_emits_packed_changes_and_publisher(chain: Chain) -> None:
    issuer, relayer = chain.accounts[1], chain.accounts[2]
    create_list(chain, issuer)
    chain.send(chain.status.functions.authoriseDelegate(relayer, chain.now() + 3600), issuer)
    _, receipt = publish(chain, issuer, 1, SHAPE.zero_values(), {3: 1, 9: 1}, sender=relayer)
    (event,) = chain.status.events.StatusChangesPublished().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["changes"] == pack_changes({3: 1, 9: 1}, SHAPE)
    assert event["args"]["publisher"] == relayer
    assert event["args"]["issuer"] == issuer
    assert event["args"]["version"] == 1


def test_skipping_or_repeating_a_version_is_refused(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    v1, _ = publish(chain, issuer, 1, SHAPE.zero_values(), {1: 1})
    changes = pack_changes({2: 1}, SHAPE)
    for wrong in (1, 3, 0):
        err = chain.revert_of(
            chain.status,
            chain.status.functions.publishChanges(issuer, LIST_ID, wrong, b"\x01" * 32, changes),
            issuer,
        )
        assert err.name == "VersionNotNext"
        assert err.args == {"expected": 2, "given": wrong}
    assert chain.status.functions.latest(issuer, LIST_ID).call()[0] == 1
    publish(chain, issuer, 2, v1, {2: 1})


def test_strangers_cannot_create_or_publish(chain: Chain) -> None:
    issuer, stranger = chain.accounts[1], chain.accounts[3]
    err = chain.revert_of(
        chain.status, chain.status.functions.createList(issuer, LIST_ID, 16, 1), stranger
    )
    assert err.name == "NotAuthorised"
    assert err.args == {"issuer": issuer, "sender": stranger}
    create_list(chain, issuer)
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishChanges(
            issuer, LIST_ID, 1, b"\x01" * 32, pack_changes({1: 1}, SHAPE)
        ),
        stranger,
    )
    assert err.name == "NotAuthorised"
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishSnapshot(
            issuer, LIST_ID, 1, b"\x01" * 32, 1, encode_snapshot(SHAPE.zero_values(), SHAPE)
        ),
        stranger,
    )
    assert err.name == "NotAuthorised"


def test_delegate_publishes_until_expiry_only(chain: Chain) -> None:
    issuer, relayer = chain.accounts[1], chain.accounts[2]
    create_list(chain, issuer)
    expires = chain.now() + 1000
    chain.send(chain.status.functions.authoriseDelegate(relayer, expires), issuer)
    assert chain.status.functions.delegateExpiry(issuer, relayer).call() == expires
    assert chain.status.functions.canPublish(issuer, relayer).call()
    v1, _ = publish(chain, issuer, 1, SHAPE.zero_values(), {4: 1}, sender=relayer)
    chain.mine_at(expires)
    assert not chain.status.functions.canPublish(issuer, relayer).call()
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishChanges(
            issuer, LIST_ID, 2, b"\x01" * 32, pack_changes({5: 1}, SHAPE)
        ),
        relayer,
    )
    assert err.name == "NotAuthorised"
    # The issuer itself is never locked out.
    publish(chain, issuer, 2, v1, {5: 1})


def test_delegate_of_one_issuer_cannot_publish_for_another(chain: Chain) -> None:
    issuer, other, relayer = chain.accounts[1], chain.accounts[4], chain.accounts[2]
    create_list(chain, other)
    chain.send(chain.status.functions.authoriseDelegate(relayer, chain.now() + 1000), issuer)
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishChanges(
            other, LIST_ID, 1, b"\x01" * 32, pack_changes({1: 1}, SHAPE)
        ),
        relayer,
    )
    assert err.name == "NotAuthorised"


def test_revoked_delegate_is_refused_at_once(chain: Chain) -> None:
    issuer, relayer = chain.accounts[1], chain.accounts[2]
    create_list(chain, issuer)
    chain.send(chain.status.functions.authoriseDelegate(relayer, chain.now() + 10_000), issuer)
    receipt = chain.send(chain.status.functions.revokeDelegate(relayer), issuer)
    assert chain.status.events.DelegateRevoked().process_receipt(receipt, errors=DISCARD)[0][
        "args"
    ] == {
        "issuer": issuer,
        "delegate": relayer,
    }
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishChanges(
            issuer, LIST_ID, 1, b"\x01" * 32, pack_changes({1: 1}, SHAPE)
        ),
        relayer,
    )
    assert err.name == "NotAuthorised"


def test_delegate_management_errors(chain: Chain) -> None:
    issuer, relayer = chain.accounts[1], chain.accounts[2]
    zero = "0x" + "00" * 20
    fns = chain.status.functions
    assert chain.revert_of(chain.status, fns.authoriseDelegate(zero, 2**40), issuer).name == (
        "ZeroDelegate"
    )
    past = chain.now()
    err = chain.revert_of(chain.status, fns.authoriseDelegate(relayer, past), issuer)
    assert err.name == "ExpiryNotInFuture"
    assert err.args == {"expiresAt": past}
    err = chain.revert_of(chain.status, fns.revokeDelegate(relayer), issuer)
    assert err.name == "DelegateNotFound"


def test_list_creation_errors(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.status.functions
    for bad in (0, 9):
        err = chain.revert_of(chain.status, fns.createList(issuer, LIST_ID, 16, bad), issuer)
        assert err.name == "InvalidEntrySize"
        assert err.args == {"entrySize": bad}
    err = chain.revert_of(chain.status, fns.createList(issuer, LIST_ID, 0, 1), issuer)
    assert err.name == "InvalidListLength"
    create_list(chain, issuer)
    err = chain.revert_of(chain.status, fns.createList(issuer, LIST_ID, 16, 1), issuer)
    assert err.name == "ListAlreadyExists"
    # Another issuer's list with the same id is a different list.
    create_list(chain, chain.accounts[4])


def test_unknown_list_is_refused_everywhere(chain: Chain) -> None:
    issuer = chain.accounts[1]
    fns = chain.status.functions
    assert chain.call_revert_of(chain.status, fns.latest(issuer, LIST_ID)).name == "ListNotFound"
    assert chain.call_revert_of(chain.status, fns.getList(issuer, LIST_ID)).name == "ListNotFound"
    err = chain.revert_of(
        chain.status,
        fns.publishChanges(issuer, LIST_ID, 1, b"\x01" * 32, pack_changes({1: 1}, SHAPE)),
        issuer,
    )
    assert err.name == "ListNotFound"
    assert err.args == {"issuer": issuer, "listId": LIST_ID}
    err = chain.revert_of(
        chain.status, fns.publishSnapshot(issuer, LIST_ID, 1, b"\x01" * 32, 1, b"x"), issuer
    )
    assert err.name == "ListNotFound"


def test_malformed_change_blobs_are_refused(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    fns = chain.status.functions

    def error_for(blob: bytes, digest: bytes = b"\x01" * 32) -> tuple[str, object]:
        err = chain.revert_of(
            chain.status, fns.publishChanges(issuer, LIST_ID, 1, digest, blob), issuer
        )
        return err.name, dict(err.args)

    def record(index: int, value: int) -> bytes:
        return ((index << 1) | value).to_bytes(3, "big")

    assert error_for(b"")[0] == "NoChanges"
    assert error_for(b"\x00\x00\x02\x00") == (
        "ChangesMalformed",
        {"byteLength": 4, "recordBytes": 3},
    )
    assert error_for(record(5, 1) + record(5, 0)) == ("ChangesNotSorted", {"position": 1})
    assert error_for(record(1, 1) + record(9, 1) + record(3, 1)) == (
        "ChangesNotSorted",
        {"position": 2},
    )
    assert error_for(record(1, 1) + record(131_072, 1)) == (
        "IndexOutOfRange",
        {"index": 131_072, "length": 131_072},
    )
    four = record(1, 1) + record(2, 1) + record(3, 0) + record(131_072, 0)
    assert error_for(four) == ("IndexOutOfRange", {"index": 131_072, "length": 131_072})
    assert error_for(record(1, 1), digest=bytes(32))[0] == "ZeroDigest"


def test_snapshot_is_a_checkpoint_version(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    v1, _ = publish(chain, issuer, 1, SHAPE.zero_values(), {1: 1, 2: 1})
    v2 = bytes(b ^ (i % 3 == 0) for i, b in enumerate(v1))
    digest = status_digest(LIST_ID, 2, SHAPE, v2)
    receipt = chain.send(
        chain.status.functions.publishSnapshot(
            issuer, LIST_ID, 2, digest, 1, encode_snapshot(v2, SHAPE)
        ),
        issuer,
    )
    (event,) = chain.status.events.StatusSnapshotPublished().process_receipt(
        receipt, errors=DISCARD
    )
    assert event["args"]["codec"] == 1
    version, stored_digest, checkpoint, *_ = chain.status.functions.getList(issuer, LIST_ID).call()
    assert (version, stored_digest, checkpoint) == (2, digest, 2)
    v3, _ = publish(chain, issuer, 3, v2, {0: 0})
    rebuilt = rebuild_versions(chain_events(chain, issuer))
    assert rebuilt == {0: SHAPE.zero_values(), 1: v1, 2: v2, 3: v3}


def test_snapshot_errors(chain: Chain) -> None:
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    fns = chain.status.functions
    snap = encode_snapshot(SHAPE.zero_values(), SHAPE)
    err = chain.revert_of(
        chain.status, fns.publishSnapshot(issuer, LIST_ID, 1, b"\x01" * 32, 2, snap), issuer
    )
    assert err.name == "UnknownCodec"
    assert err.args == {"codec": 2}
    err = chain.revert_of(
        chain.status, fns.publishSnapshot(issuer, LIST_ID, 1, b"\x01" * 32, 1, b""), issuer
    )
    assert err.name == "EmptySnapshot"
    err = chain.revert_of(
        chain.status, fns.publishSnapshot(issuer, LIST_ID, 2, b"\x01" * 32, 1, snap), issuer
    )
    assert err.name == "VersionNotNext"
    err = chain.revert_of(
        chain.status, fns.publishSnapshot(issuer, LIST_ID, 1, bytes(32), 1, snap), issuer
    )
    assert err.name == "ZeroDigest"


def test_rebuild_from_chain_matches_every_stored_digest(chain: Chain) -> None:
    issuer = chain.accounts[1]
    shape = ListShape(length=1000, entry_size=2)
    create_list(chain, issuer, shape=shape)
    expected = {0: shape.zero_values()}
    values = shape.zero_values()
    for version in range(1, 6):
        changes = {(version * 37 + k * 101) % 1000: (version + k) % 4 for k in range(20)}
        values, _ = publish(chain, issuer, version, values, changes, shape=shape)
        expected[version] = values
    assert rebuild_versions(chain_events(chain, issuer)) == expected
    _, digest = chain.status.functions.latest(issuer, LIST_ID).call()
    assert digest == status_digest(LIST_ID, 5, shape, expected[5])


def test_sortedness_is_checked_at_every_position_of_the_unrolled_loop(chain: Chain) -> None:
    # The contract checks four records per loop step plus a tail: every length from 1 to 9
    # and a violation at every position, including across the step boundary, must be seen.
    issuer = chain.accounts[1]
    create_list(chain, issuer)
    fns = chain.status.functions
    values = SHAPE.zero_values()
    for count in range(1, 10):
        version = count - 1  # the list's current version
        indices = [100 * count + 3 * k for k in range(count)]
        for position in range(1, count):
            bad = list(indices)
            bad[position] = bad[position - 1]  # a repeat is the smallest violation
            blob = b"".join(((i << 1) | 1).to_bytes(3, "big") for i in bad)
            err = chain.revert_of(
                chain.status,
                fns.publishChanges(issuer, LIST_ID, version + 1, b"\x01" * 32, blob),
                issuer,
            )
            assert (err.name, err.args) == ("ChangesNotSorted", {"position": position})
        values, _ = publish(chain, issuer, version + 1, values, dict.fromkeys(indices, 1))
    assert chain.status.functions.latest(issuer, LIST_ID).call()[0] == 9


def test_widest_records_reach_the_last_index_of_the_largest_list(chain: Chain) -> None:
    # 2**32 - 1 entries of 8 bits: 32 index bits + 8 value bits = five-byte records.
    issuer = chain.accounts[1]
    shape = ListShape(length=2**32 - 1, entry_size=8)
    assert shape.record_bytes == 5
    create_list(chain, issuer, shape=shape)
    changes = {0: 255, 7: 1, 2**31: 128, 2**32 - 2: 77, 2**32 - 3: 1}
    blob = pack_changes(changes, shape)
    receipt = chain.send(
        chain.status.functions.publishChanges(issuer, LIST_ID, 1, b"\x01" * 32, blob), issuer
    )
    (event,) = chain.status.events.StatusChangesPublished().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["changes"] == blob
    too_far = pack_changes({2**32 - 2: 1}, shape)[:-5] + ((2**32 - 1) << 8).to_bytes(5, "big")
    err = chain.revert_of(
        chain.status,
        chain.status.functions.publishChanges(issuer, LIST_ID, 2, b"\x01" * 32, too_far),
        issuer,
    )
    assert (err.name, err.args) == ("IndexOutOfRange", {"index": 2**32 - 1, "length": 2**32 - 1})
