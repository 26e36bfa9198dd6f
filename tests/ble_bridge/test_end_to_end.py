"""End to end: three simulated devices through faults, a server outage, a killed bridge.

Afterwards the server must hold exactly the samples the gateway numbered: 1..N, no gap, no
duplicate, every source contiguous. (Waiting loops below only bound the test; nothing asserts
how long anything took.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from tests.ble_bridge.fake_server import IngestStore, ServerThread
from tests.conftest import REPO_ROOT, SHARED_DIR

CONFIG = """
server_url = "{url}"
key_file = "key.pem"
outbox = "outbox.sqlite"
watchdog_timeouts = 2
reconnect_initial_s = 0.1
reconnect_max_s = 1.0
scan_timeout_s = 2.0
connect_timeout_s = 2.0
reply_timeout_s = 0.4
upload_batch = 5
upload_idle_s = 0.2

[polling]
charging_s = 0.1
active_s = 0.1
idle_s = 0.2
parked_s = 1.0
asleep_s = 2.0
unreachable_s = 0.3
"""


def _wait(cond: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Path, DeviceKey, ServerThread]]:
    key = DeviceKey.generate()
    key.save(tmp_path / "key.pem")
    server = ServerThread(IngestStore(devices={key.did}))
    server.start()
    (tmp_path / "bridge.toml").write_text(CONFIG.format(url=server.url))
    yield tmp_path, key, server
    server.stop()


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


@pytest.mark.slow
def test_three_devices_faults_outage_and_kill_lose_and_duplicate_nothing(
    setup: tuple[Path, DeviceKey, ServerThread],
) -> None:
    tmp_path, key, server = setup
    store = server.store
    first = _bridge(tmp_path)
    try:
        _wait(lambda: len(store.sequences(key.did)) >= 8, "first uploads")
        server.stop()  # outage: the gateway keeps polling into its outbox
        during = _last_sequence(tmp_path)
        _wait(lambda: _last_sequence(tmp_path) >= during + 8, "samples queued while offline")
        server.start()
        _wait(lambda: len(store.sequences(key.did)) > during, "backlog drain")
        first.send_signal(signal.SIGKILL)  # mid-flight, wherever it is
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
        if first.stderr is not None:
            first.stderr.close()
    second = _bridge(tmp_path, "--duration", "3")
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr.decode()[-3000:]

    box = Outbox(tmp_path / "outbox.sqlite", key)
    status = box.status()
    box.close()
    assert status.pending_samples == 0
    assert status.rejected_samples == 0
    assert store.sequences(key.did) == list(range(1, status.last_sequence + 1))
    per_source: dict[str, list[int]] = defaultdict(list)
    for sample in store.samples.values():
        per_source[sample["sourceId"]].append(sample["sourceSequence"])
    assert set(per_source) == {"car-1", "pack-jbd", "pack-jk"}
    for source, seqs in per_source.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), source
    car = [s for s in store.samples.values() if s["sourceId"] == "car-1"]
    assert all(s["measurements"]["pack_voltage_v"] == 379.9 for s in car)
    assert all(s["rawFrames"] for s in store.samples.values())
