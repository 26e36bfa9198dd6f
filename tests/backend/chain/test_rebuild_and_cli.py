"""Rebuild from chain vs the served list, and the `bpp chain` commands on anvil."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import delete
from typer.testing import CliRunner

from backend.chain.cli import EXIT_MISMATCH, EXIT_PENDING, EXIT_REFUSED, chain_app
from backend.chain.errors import UnknownListError
from backend.chain.outbox import OutboxWriter
from backend.chain.rebuild import Outcome, compare_with_served, rebuild_from_chain
from backend.issuance import statuslists
from backend.issuance.models import StatusChange, StatusList
from tests.backend.chain.conftest import Stack, new_list_id
from tests.services import anvil_node

ISSUER_DID = "did:web:127.0.0.1%3A8000"


async def served_list_with_changes(stack: Stack, writer: OutboxWriter) -> str:
    """A platform status list with two published versions (through issuance's publisher)."""
    async with stack.db.unit_of_work() as session:
        status_list = await statuslists.create_list(
            session,
            issuer_did=ISSUER_DID,
            issuer_address=stack.relayer,
            sender=stack.relayer,
            purpose="revocation",
            size=131_072,
        )
        list_uuid = status_list.id
    for indices in ((5, 77), (130_000,)):
        async with stack.db.unit_of_work() as session:
            for index in indices:
                await statuslists.set_status(session, list_uuid, index, 1, urgent=False)
        async with stack.db.unit_of_work() as session:
            await statuslists.publish_pending(session, stack.relayer)
    await writer.drain_once()
    return list_uuid


async def test_rebuild_from_chain_equals_the_served_list(stack: Stack) -> None:
    writer = stack.writer()
    list_uuid = await served_list_with_changes(stack, writer)
    rebuilt = await rebuild_from_chain(stack.chain, stack.relayer, list_uuid)
    assert rebuilt.version == 2
    assert [i for i, v in enumerate(rebuilt.values) if v] == [5, 77, 130_000]
    report = await compare_with_served(stack.db, stack.chain, stack.relayer, list_uuid)
    assert report.outcome is Outcome.MATCH

    # A change not yet published: the served list is ahead, not different.
    async with stack.db.unit_of_work() as session:
        await statuslists.set_status(session, list_uuid, 9, 1, urgent=True)
    report = await compare_with_served(stack.db, stack.chain, stack.relayer, list_uuid)
    assert report.outcome is Outcome.PENDING
    assert report.unpublished_changes == 1

    # The served values edited behind the chain's back: a mismatch, with the index.
    async with stack.db.unit_of_work() as session:
        await session.exec(delete(StatusChange))
        status_list = await session.get(StatusList, list_uuid)
        assert status_list is not None
        status_list.bits = bytes(131_072)
        session.add(status_list)
    report = await compare_with_served(stack.db, stack.chain, stack.relayer, list_uuid)
    assert report.outcome is Outcome.MISMATCH
    assert report.differing_indices == (5, 77, 130_000)


async def test_rebuild_of_an_unknown_list_is_a_typed_error(stack: Stack) -> None:
    list_uuid, _ = new_list_id()
    with pytest.raises(UnknownListError):
        await rebuild_from_chain(stack.chain, stack.relayer, list_uuid)


def cli_env(stack: Stack, **extra: str) -> dict[str, str]:
    settings = stack.settings
    env = {
        "BPP_DATA_DIR": str(settings.data_dir),
        "BPP_DATABASE_URL": str(settings.database_url),
        "BPP_REDIS_URL": str(settings.redis_url),
        "BPP_CHAIN_RPC_URL": str(settings.chain_rpc_url),
        "BPP_PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }
    env.update(extra)
    return env


@pytest.mark.anvil
async def test_rebuild_command_exit_codes(anvil_stack: Stack) -> None:
    stack = anvil_stack
    list_uuid = await served_list_with_changes(stack, stack.writer())
    runner = CliRunner()
    env = cli_env(stack)

    # The command runs its own event loop: run it off this test's loop.
    async def invoke(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(runner.invoke, chain_app, list(args), env=env)
        return result.exit_code, result.output

    code, output = await invoke("rebuild-status-list", "platform", list_uuid)
    assert code == 0, output
    report = json.loads(output)
    assert report["outcome"] == "match"
    assert report["chain_version"] == 2
    assert report["entries_set"] == 3
    code, _ = await invoke("rebuild-status-list", stack.relayer, list_uuid)
    assert code == 0
    code, _ = await invoke("rebuild-status-list", ISSUER_DID, list_uuid)
    assert code == 0
    # The platform gets its own issuer account: its older lists (under the relayer) still resolve.
    services = await stack.services()
    assert await services.issuers.issuer_address(ISSUER_DID) != stack.relayer
    await stack.writer().drain_once()
    code, output = await invoke("rebuild-status-list", "platform", list_uuid)
    assert code == 0, output
    assert json.loads(output)["issuer"] == stack.relayer

    async with stack.db.unit_of_work() as session:
        await statuslists.set_status(session, list_uuid, 9, 1, urgent=True)
    code, output = await invoke("rebuild-status-list", "platform", list_uuid)
    assert code == EXIT_PENDING, output

    async with stack.db.unit_of_work() as session:
        await statuslists.publish_pending(session, stack.relayer)
    async with stack.db.unit_of_work() as session:
        status_list = await session.get(StatusList, list_uuid)
        assert status_list is not None
        status_list.bits = bytes(131_072)  # served list tampered with
        session.add(status_list)
    await stack.writer().drain_once()
    code, output = await invoke("rebuild-status-list", "platform", list_uuid)
    assert code == EXIT_MISMATCH, output
    assert json.loads(output)["differing_count"] == 4

    unknown, _ = new_list_id()
    code, _ = await invoke("rebuild-status-list", "platform", unknown)
    assert code == EXIT_REFUSED
    code, _ = await invoke("rebuild-status-list", "no-such-org", list_uuid)
    assert code == EXIT_REFUSED


@pytest.mark.anvil
def test_deploy_command_records_the_registries_and_refuses_a_wrong_chain(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    with anvil_node() as url:
        env = {
            "BPP_DATA_DIR": str(tmp_path / "data"),
            "BPP_CHAIN_RPC_URL": url,
            "BPP_CHAIN_ID": "31337",
        }
        result = runner.invoke(chain_app, ["deploy"], env=env)
        assert result.exit_code == 0, result.output
        first = json.loads(result.output)
        assert set(first["deployed"]) == {
            "StatusListRegistry",
            "IssuerRegistry",
            "EventAnchorRegistry",
        }
        again = runner.invoke(chain_app, ["deploy"], env=env)
        assert again.exit_code == 0, again.output
        assert json.loads(again.output)["deployed"] == {}
        assert json.loads(again.output)["contracts"] == first["contracts"]

        wrong = runner.invoke(chain_app, ["deploy"], env={**env, "BPP_CHAIN_ID": "1"})
        assert wrong.exit_code == EXIT_REFUSED
        assert "wrong_chain" in wrong.output


async def test_accredit_command_queues_a_root_signed_accreditation(embedded_stack: Stack) -> None:
    stack = embedded_stack
    env = cli_env(stack, BPP_CHAIN_RPC_URL="")
    runner = CliRunner()

    async def invoke(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(runner.invoke, chain_app, list(args), env=env)
        return result.exit_code, result.output

    code, output = await invoke("accredit", "acme-cells", "manufacturer", "--days", "30")
    assert code == 0, output
    queued = json.loads(output)
    assert queued["subject"] == "did:web:127.0.0.1%3A8000:orgs:acme-cells"
    code, output = await invoke("outbox")
    assert code == 0, output
    (row,) = json.loads(output)["rows"]
    assert row["function"] == "IssuerRegistry.accredit"
    assert row["status"] == "pending"

    await stack.writer().drain_once()
    services = await stack.services()
    await services.mirror.follow_once()
    assert await services.accreditation.is_accredited(
        queued["subject"], ["BatteryPassportCredential"], datetime.now(UTC)
    )
    code, output = await invoke("outbox")
    assert json.loads(output) == {"counts": {"confirmed": 1}, "rows": []}

    code, _ = await invoke("accredit", "acme-cells", "emperor")
    assert code == EXIT_REFUSED
    # The same command at the top level, as issue 5 names it: `bpp accredit`.
    from backend.cli import app as bpp

    top = await asyncio.to_thread(
        runner.invoke, bpp, ["accredit", "acme-cells", "emperor"], env=env
    )
    assert top.exit_code == EXIT_REFUSED
    assert "unknown role" in top.output
    code, _ = await invoke("accredit", "0xnot-an-address", "inspector")
    assert code == EXIT_REFUSED
    env["BPP_CHAIN_CITY_ROOT"] = "0x" + "11" * 20
    code, output = await invoke("accredit", "acme-cells", "inspector")
    assert code == EXIT_REFUSED
    assert "no_signer" in output
