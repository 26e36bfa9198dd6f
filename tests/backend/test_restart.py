"""The embedded runtime survives a restart: the in-memory chain is rebuilt from the outbox."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from backend.demo import seed_demo
from backend.issuance.models import IssuedCredential, StatusList
from backend.issuance.statuslists import chain_list_id
from backend.runtime import Runtime
from backend.settings import Settings


async def on_chain_version(runtime: Runtime, list_id: str) -> int:
    async with runtime.db.read_only() as session:
        status_list = await session.get(StatusList, list_id)
    assert status_list is not None
    registry = runtime.chain.contract("StatusListRegistry")
    version, _ = await registry.functions.latest(
        status_list.issuer_address, chain_list_id(list_id)
    ).call()
    return int(version)


async def test_credentials_and_revocations_hold_after_a_restart(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_base_url="http://127.0.0.1:8000")
    first = await Runtime.start(settings, background=False)
    try:
        assert len(await seed_demo(first)) == 3
        await first.outbox.drain_once()
        async with first.db.read_only() as session:
            rows = list(
                await session.exec(
                    select(IssuedCredential).order_by(col(IssuedCredential.issued_at))
                )
            )
        revoked = [row for row in rows if row.revoked_at is not None]
        active = [row for row in rows if row.revoked_at is None]
        assert len(revoked) == 1
        assert len(active) == 3
        list_id = revoked[0].status_list_id
        assert list_id is not None
        version_before = await on_chain_version(first, list_id)
        address_before = first.chain.addresses["StatusListRegistry"]
    finally:
        await first.stop()

    second = await Runtime.start(settings, background=False)
    try:
        # A fresh in-memory chain, with the same contract and the same published versions.
        assert second.chain.addresses["StatusListRegistry"] == address_before
        assert await on_chain_version(second, list_id) == version_before >= 1
        assert await seed_demo(second) == []  # seeding is once per data directory
        for row in active:
            result = await second.issuance.verify(row.document)
            assert result["verified"] is True, result
        result = await second.issuance.verify(revoked[0].document)
        assert result["verified"] is False
        (status,) = [c for c in result["checks"] if c["name"] == "status_revocation"]
        assert status["status"] == "fail"
    finally:
        await second.stop()
