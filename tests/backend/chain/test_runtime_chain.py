"""The chain service inside the running system: registries deployed at start, the served
status list checked against the chain through the mirror (repeated on PostgreSQL + Redis +
anvil in CI)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import select

from backend.chain.consistency import VERSION_TERM
from backend.chain.models import ChainTransaction
from backend.issuance import statuslists
from backend.issuance.models import StatusList
from backend.runtime import Runtime
from credentials.statuslist import decode_status_list_credential
from credentials.verifier import CheckStatus

pytestmark = pytest.mark.integration


async def mirror_reaches(runtime: Runtime, block: int) -> None:
    services = runtime.chain_services
    assert services is not None
    for _ in range(200):
        await services.mirror.follow_once()
        synced = await services.mirror.synced_block()
        if synced is not None and synced >= block:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"the mirror did not reach block {block}")


async def served_with_version(runtime: Runtime, list_id: str) -> dict[str, Any]:
    served = await runtime.issuance.status_list_credential(list_id)
    async with runtime.db.read_only() as session:
        row = await session.get(StatusList, list_id)
    assert row is not None
    # What the served list will carry once issuance stamps it (see the chain report).
    credential = dict(served.credential)
    credential["credentialSubject"] = {
        **served.credential["credentialSubject"],
        VERSION_TERM: row.published_version,
    }
    return credential


async def test_the_runtime_checks_its_served_lists_against_the_chain(runtime: Runtime) -> None:
    services = runtime.chain_services
    assert services is not None
    assert set(runtime.chain.addresses) == {
        "StatusListRegistry",
        "IssuerRegistry",
        "EventAnchorRegistry",
    }
    async with runtime.db.unit_of_work() as session:
        status_list = await statuslists.create_list(
            session,
            issuer_did=runtime.platform.did,
            issuer_address=await runtime.issuance.chain_issuer_address(
                session, runtime.platform.did
            ),
            sender=runtime.issuance.relayer_address,
            purpose="revocation",
            size=runtime.settings.status_list_size,
        )
        list_id = status_list.id
    async with runtime.db.unit_of_work() as session:
        await statuslists.set_status(session, list_id, 17, 1, urgent=True)
    await runtime.issuance.publish_status_changes()
    await runtime.outbox.drain_once()
    async with runtime.db.read_only() as session:
        newest = max(row.block_number or 0 for row in await session.exec(select(ChainTransaction)))
    await mirror_reaches(runtime, newest)

    credential = await served_with_version(runtime, list_id)
    decoded = decode_status_list_credential(credential)
    verdict = await services.consistency.check_status_list(credential, decoded)
    assert verdict.status is CheckStatus.PASS, verdict.reason

    # A version the chain has not seen: the served list would be ahead of it.
    credential = await served_with_version(runtime, list_id)
    credential["credentialSubject"][VERSION_TERM] += 1
    verdict = await services.consistency.check_status_list(
        credential, decode_status_list_credential(credential)
    )
    assert verdict.status is CheckStatus.UNKNOWN
    assert "publish pending" in verdict.reason
