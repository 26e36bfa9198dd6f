"""Per-issuer chain accounts (delegated by signature), the Redis mirror, and the verifier hooks
(chain consistency of a served status list, issuer accreditation) on top of it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from backend.chain.consistency import VERSION_TERM
from backend.chain.models import ChainIssuerAccount, TxStatus
from backend.chain.service import enqueue_accreditation
from contracts.issuers import Role
from contracts.status import pack_values, status_digest
from credentials.statuslist import Bitstring, DecodedStatusList
from credentials.verifier import CheckStatus
from tests.backend.chain.conftest import Stack, new_list_id
from tests.backend.chain.test_outbox import SHAPE, publish_args

ORG_DID = "did:web:127.0.0.1%3A8000:orgs:acme-cells"


async def test_issuer_address_creates_an_account_the_relayer_may_publish_for(
    stack: Stack,
) -> None:
    services = await stack.services()
    address = await services.issuers.issuer_address(ORG_DID)
    assert address != stack.relayer
    assert await services.issuers.issuer_address(ORG_DID) == address  # once per DID
    (delegation,) = await stack.rows()
    assert delegation.function == "setDelegateBySig"
    assert delegation.sender == stack.relayer  # the organisation's key pays nothing
    assert await stack.chain.w3.eth.get_balance(stack.chain.w3.to_checksum_address(address)) == 0

    _, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", address, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.enqueue("publishChanges", *publish_args(address, list_id, 1, values, {9: 1}))
    await stack.writer().drain_once()
    assert [r.status for r in await stack.rows()] == [TxStatus.CONFIRMED] * 3
    assert await stack.chain.call("StatusListRegistry", "canPublish", address, stack.relayer)
    assert (await stack.latest(address, list_id))[0] == 1
    async with stack.db.read_only() as session:
        row = await session.get(ChainIssuerAccount, ORG_DID)
    assert row is not None
    assert row.delegate_expires_at > time.time()
    assert await services.issuers.did_for_address(address) == ORG_DID


async def test_an_undelegated_issuer_cannot_be_published_for(stack: Stack) -> None:
    # The delegation row is the first the outbox sends; without it the relayer is refused.
    services = await stack.services()
    address = await services.issuers.issuer_address(ORG_DID)
    async with stack.db.unit_of_work() as session:
        from sqlmodel import delete

        from backend.chain.models import ChainTransaction

        await session.exec(delete(ChainTransaction))
    _, list_id = new_list_id()
    row_id = await stack.enqueue("createList", address, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.writer().drain_once()
    row = await stack.row(row_id)
    assert row.status == TxStatus.FAILED
    assert row.error_code == "NotAuthorised"


def served_list(
    list_uuid: str, values: bytes, version: int | None
) -> tuple[dict[str, object], DecodedStatusList]:
    bitstring = Bitstring.from_bytes(pack_values(values, SHAPE), 1)
    url = f"http://127.0.0.1:8000/status/{list_uuid}"
    subject: dict[str, object] = {"type": "BitstringStatusList", "statusPurpose": "revocation"}
    if version is not None:
        subject[VERSION_TERM] = version
    credential: dict[str, object] = {"id": url, "credentialSubject": subject}
    decoded = DecodedStatusList(
        url=url, issuer="did:web:127.0.0.1%3A8000", purposes=("revocation",), bitstring=bitstring
    )
    return credential, decoded


async def test_served_list_is_checked_against_the_digest_of_its_version(stack: Stack) -> None:
    services = await stack.services()
    list_uuid, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.enqueue("publishChanges", *publish_args(stack.relayer, list_id, 1, values, {5: 1}))
    v1 = bytes(values)
    await stack.enqueue("publishChanges", *publish_args(stack.relayer, list_id, 2, values, {6: 1}))
    v2 = bytes(values)
    await stack.writer().drain_once()
    assert await services.mirror.follow_once() is not None
    check = services.consistency.check_status_list

    verdict = await check(*served_list(list_uuid, v2, 2))
    assert verdict.status is CheckStatus.PASS, verdict.reason

    tampered = bytearray(v2)
    tampered[100] = 1
    verdict = await check(*served_list(list_uuid, bytes(tampered), 2))
    assert verdict.status is CheckStatus.FAIL
    assert "differs from version 2" in verdict.reason

    verdict = await check(*served_list(list_uuid, v2, 3))
    assert verdict.status is CheckStatus.UNKNOWN
    assert "publish pending" in verdict.reason

    verdict = await check(*served_list(list_uuid, v1, 1))
    assert verdict.status is CheckStatus.UNKNOWN
    assert "stale" in verdict.reason
    verdict = await check(*served_list(list_uuid, v2, 1))  # claims version 1 with v2's values
    assert verdict.status is CheckStatus.FAIL

    verdict = await check(*served_list(list_uuid, v2, None))
    assert verdict.status is CheckStatus.UNKNOWN
    other_uuid, _ = new_list_id()
    verdict = await check(*served_list(other_uuid, v2, 1))
    assert verdict.status is CheckStatus.UNKNOWN
    assert "not on chain" in verdict.reason


async def test_fresh_mirror_reads_never_touch_the_chain(stack: Stack) -> None:
    services = await stack.services()
    list_uuid, list_id = new_list_id()
    values = bytearray(SHAPE.length)
    await stack.enqueue("createList", stack.relayer, "0x" + list_id.hex(), SHAPE.length, 1)
    await stack.enqueue("publishChanges", *publish_args(stack.relayer, list_id, 1, values, {5: 1}))
    await stack.writer().drain_once()
    synced = await services.mirror.follow_once()
    reads = services.mirror.chain_reads
    state = await services.mirror.latest_list(stack.relayer, list_id)
    assert state is not None
    assert state.version == 1
    assert state.block == synced
    assert state.digest == status_digest(list_id, 1, SHAPE, bytes(values))
    verdict = await services.consistency.check_status_list(
        *served_list(list_uuid, bytes(values), 1)
    )
    assert verdict.status is CheckStatus.PASS
    assert services.mirror.chain_reads == reads

    # Stale mirror: the next read catches up first (and sees version 2).
    await stack.enqueue("publishChanges", *publish_args(stack.relayer, list_id, 2, values, {8: 1}))
    await stack.writer().drain_once()
    services.mirror.max_age_s = 0.0
    state = await services.mirror.latest_list(stack.relayer, list_id)
    assert state is not None
    assert state.version == 2
    assert services.mirror.chain_reads > reads


async def test_accreditation_windows_come_from_the_issuer_registry(stack: Stack) -> None:
    services = await stack.services()
    now = int(time.time())
    async with stack.db.unit_of_work() as session:
        enqueue_accreditation(
            session,
            stack.chain,
            ORG_DID,
            Role.MANUFACTURER,
            valid_from=now - 3600,
            valid_until=now + 3600,
        )
    await stack.writer().drain_once()
    await services.mirror.follow_once()
    accredited = services.accreditation.is_accredited
    passport = ["VerifiableCredential", "BatteryPassportCredential"]
    at = datetime.fromtimestamp(now, UTC)
    assert await accredited(ORG_DID, passport, at) is True
    assert await accredited(ORG_DID, passport, datetime.fromtimestamp(now + 7200, UTC)) is False
    assert await accredited(ORG_DID, ["BatteryInspectionCredential"], at) is False
    assert await accredited("did:web:elsewhere", passport, at) is False
    assert await accredited(ORG_DID, ["SomeOtherCredential"], at) is None


async def test_accreditation_by_address_of_an_issuer_account(stack: Stack) -> None:
    services = await stack.services()
    address = await services.issuers.issuer_address(ORG_DID)
    now = int(time.time())
    async with stack.db.unit_of_work() as session:
        enqueue_accreditation(
            session, stack.chain, address, Role.INSPECTOR, valid_from=now - 60, valid_until=now + 60
        )
    await stack.writer().drain_once()
    await services.mirror.follow_once()
    at = datetime.fromtimestamp(now, UTC)
    assert await services.accreditation.is_accredited(ORG_DID, ["BatteryInspectionCredential"], at)
