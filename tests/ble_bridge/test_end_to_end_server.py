"""End to end against the real platform: `bpp serve` + the bridge process, through faults.

The simulator drives three devices (an ELM327 Hyundai/Kia car, a JBD pack, a JK pack) with
the `faults` scenario; the server (a real `bpp serve --demo` process, on PostgreSQL and Redis
when the test environment names them) is stopped for a while and started again; the bridge
is SIGKILLed mid-flight and restarted. Afterwards the platform's database holds exactly the
samples the gateway numbered — 1..N, no gap, no duplicate, every source contiguous and bound
to its battery — and each battery's derived state counted every sample exactly once.
(Waiting loops only bound the test; nothing asserts how long anything took.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from backend.kit.db import Database
from backend.settings import normalise_database_url
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from tests.backend.test_cli_serve import BPP, bpp_server, clean_env
from tests.ble_bridge.test_end_to_end import CONFIG
from tests.conftest import REPO_ROOT, SHARED_DIR
from tests.services import flush_redis, free_port, with_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCES = ("car-1", "pack-jbd", "pack-jk")


def _wait(cond: Callable[[], bool], what: str, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.1)


async def _create_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def _drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextmanager
def platform_env(data_dir: Path) -> Iterator[dict[str, str]]:
    """Environment of the server and CLI: embedded defaults, or the test's PG and Redis."""
    env = clean_env(data_dir)
    env["BPP_TELEMETRY_COMPACT_INTERVAL_S"] = "0"
    redis_url = os.environ.get("BPP_TEST_REDIS_URL")
    if redis_url:
        asyncio.run(flush_redis(redis_url))
        env["BPP_REDIS_URL"] = redis_url
    server = os.environ.get("BPP_TEST_DATABASE_URL")
    if not server:
        env["BPP_DATABASE_URL"] = f"sqlite:///{data_dir / 'bpp.sqlite3'}"
        yield env
        return
    name = f"bpp_e2e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_create_database(server, name))
    try:
        env["BPP_DATABASE_URL"] = with_database(server, name)
        yield env
    finally:
        asyncio.run(_drop_database(server, name))


def query(env: dict[str, str], sql: str, **params: Any) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(normalise_database_url(env["BPP_DATABASE_URL"]))
        try:
            async with db.read_only() as session:
                conn = await session.connection()
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await db.dispose()

    return asyncio.run(run())


def stored_count(env: dict[str, str]) -> int:
    return int(query(env, "SELECT count(*) FROM telemetry_sample")[0][0])


def _bridge(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "ble_bridge.cli", "run",
        "--config", str(tmp_path / "bridge.toml"),
        "--simulate", "faults", "--vectors", str(SHARED_DIR), *extra,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE)


def _last_sequence(tmp_path: Path) -> int:
    try:
        status = json.loads((tmp_path / "outbox.status.json").read_text())
    except (OSError, ValueError):
        return 0
    value: int = status["outbox"]["last_sequence"]
    return value


def test_real_server_outage_and_killed_bridge_lose_and_duplicate_nothing(
    tmp_path: Path,
) -> None:
    data_dir, gateway = tmp_path / "platform", tmp_path / "gateway"
    gateway.mkdir()
    key = DeviceKey.generate()
    key.save(gateway / "key.pem")
    port = free_port()
    first: subprocess.Popen[bytes] | None = None
    with platform_env(data_dir) as env:
        try:
            binding, during, first = _first_run(env, tmp_path, gateway, key, port)
            with bpp_server(env, tmp_path, port):
                _wait(lambda: stored_count(env) > during, "backlog drain")
                first.send_signal(signal.SIGKILL)  # mid-flight, wherever it is
                first.wait(30)
                second = _bridge(gateway, "--duration", "3")
                _, stderr = second.communicate(timeout=300)
                assert second.returncode == 0, stderr.decode()[-3000:]
        finally:
            if first is not None:
                if first.poll() is None:
                    first.kill()
                    first.wait(30)
                if first.stderr is not None:
                    first.stderr.close()
        _check(env, gateway, key, binding)


def _first_run(
    env: dict[str, str], tmp_path: Path, gateway: Path, key: DeviceKey, port: int
) -> tuple[dict[str, str], int, subprocess.Popen[bytes]]:
    """Serve, register the gateway, run the bridge until it uploaded, stop the server."""
    with bpp_server(env, tmp_path, port, "--demo") as base:
        batteries = [row[0] for row in query(env, "SELECT id FROM battery ORDER BY id")][:3]
        assert len(batteries) == 3
        binding = dict(zip(SOURCES, batteries, strict=True))
        registered = subprocess.run(
            [BPP, "devices", "register", key.did, "--org", "charge-co",
             *(arg for s, b in binding.items() for arg in ("--source", f"{s}={b}"))],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        (gateway / "bridge.toml").write_text(CONFIG.format(url=f"{base}/graphql"))
        process = _bridge(gateway)
        try:
            _wait(lambda: stored_count(env) >= 8, "first uploads")
        except BaseException:
            process.kill()
            raise
    try:
        # The server is down: the gateway keeps polling into its outbox.
        during = _last_sequence(gateway)
        _wait(lambda: _last_sequence(gateway) >= during + 8, "samples queued while offline")
    except BaseException:
        process.kill()
        raise
    return binding, during, process


def _check(env: dict[str, str], gateway: Path, key: DeviceKey, binding: dict[str, str]) -> None:
    box = Outbox(gateway / "outbox.sqlite", key)
    status = box.status()
    box.close()
    assert status.pending_samples == 0
    assert status.rejected_samples == 0
    rows = query(
        env,
        "SELECT sequence, source_id, source_sequence, battery_id FROM telemetry_sample "
        "WHERE device_id = :device ORDER BY sequence",
        device=key.did,
    )
    assert [r[0] for r in rows] == list(range(1, status.last_sequence + 1))
    per_source: dict[str, list[int]] = defaultdict(list)
    for _, source, source_sequence, battery in rows:
        per_source[source].append(source_sequence)
        assert battery == binding[source]
    assert set(per_source) == set(SOURCES)
    for source, seqs in per_source.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), source
        # Derived data counted every stored sample once (the resent duplicates did not count).
        (counted,) = query(
            env,
            "SELECT samples FROM telemetry_state WHERE battery_id = :battery",
            battery=binding[source],
        )
        assert int(counted[0]) == len(seqs), source
