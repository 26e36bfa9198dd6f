"""Durable outbox and uploader: numbering, batching, signatures, outages, crashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ble_bridge.keys import DeviceKey, verify_signature
from ble_bridge.outbox import (
    Outbox,
    SampleResult,
    SampleStatus,
    b64url_decode,
    signing_bytes,
)
from ble_bridge.uploader import Backoff, Uploader, UploadOutcome
from tests.ble_bridge.fake_server import IngestStore, ServerThread
from tests.ble_bridge.outbox_child import sample
from tests.conftest import REPO_ROOT


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


@pytest.fixture
def outbox(tmp_path: Path, key: DeviceKey) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.sqlite", key)
    yield box
    box.close()


@pytest.fixture
def server(key: DeviceKey) -> Iterator[ServerThread]:
    store = IngestStore(devices={key.did})
    srv = ServerThread(store)
    srv.start()
    yield srv
    srv.stop()


def test_sequences_are_per_gateway_and_per_source(outbox: Outbox) -> None:
    seqs = [outbox.append(sample(i)) for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    batch = outbox.next_batch(10)
    assert batch is not None
    sources = [(s["sourceId"], s["sourceSequence"]) for s in batch.input["samples"]]
    assert sources == [("pack-0", 1), ("pack-1", 1), ("pack-0", 2), ("pack-1", 2), ("pack-0", 3)]


def test_batch_is_signed_over_jcs_and_resent_identically(outbox: Outbox, key: DeviceKey) -> None:
    for i in range(3):
        outbox.append(sample(i))
    first = outbox.next_batch(2)
    assert first is not None
    assert first.sequences == (1, 2)  # oldest first
    signature = b64url_decode(first.input["signature"])
    assert verify_signature(key.did, signature, signing_bytes(first.input))
    tampered = {**first.input, "batchId": "other"}
    assert not verify_signature(key.did, signature, signing_bytes(tampered))
    again = outbox.next_batch(2)
    assert again == first  # same id, key, bytes until the server answers


def test_complete_applies_per_sample_results(outbox: Outbox) -> None:
    for i in range(4):
        outbox.append(sample(i))
    batch = outbox.next_batch(4)
    assert batch is not None
    outbox.complete(
        batch.batch_id,
        [
            SampleResult(1, SampleStatus.ACCEPTED),
            SampleResult(2, SampleStatus.DUPLICATE),
            SampleResult(3, SampleStatus.REJECTED, "OUT_OF_RANGE"),
        ],
    )
    status = outbox.status()
    assert status.rejected_samples == 1
    assert status.pending_samples == 1  # sequence 4 was not answered: queued again
    nxt = outbox.next_batch(4)
    assert nxt is not None
    assert nxt.sequences == (4,)


def test_outbox_refuses_another_devices_database(tmp_path: Path, key: DeviceKey) -> None:
    Outbox(tmp_path / "o.sqlite", key).close()
    with pytest.raises(ValueError, match="belongs to"):
        Outbox(tmp_path / "o.sqlite", DeviceKey.generate())


async def test_uploader_backs_off_while_server_is_down_and_drains_backlog(
    outbox: Outbox, server: ServerThread, key: DeviceKey
) -> None:
    async with httpx.AsyncClient(timeout=2) as client:
        up = Uploader(outbox, server.url, client, max_batch=7, backoff=Backoff(0.01, 0.02))
        server.stop()
        for i in range(40):
            outbox.append(sample(i))
        assert await up.upload_once() is UploadOutcome.FAILED
        assert outbox.status().last_error is not None
        assert up.backoff.next_delay() > 0
        server.start()
        assert await up.drain() == 6  # 40 samples in batches of 7
    assert server.store.sequences(key.did) == list(range(1, 41))
    assert outbox.status().pending_samples == 0


async def test_unregistered_device_is_refused_and_keeps_its_samples(
    tmp_path: Path, server: ServerThread
) -> None:
    stranger = Outbox(tmp_path / "s.sqlite", DeviceKey.generate())
    stranger.append(sample(0))
    async with httpx.AsyncClient(timeout=2) as client:
        up = Uploader(stranger, server.url, client)
        assert await up.upload_once() is UploadOutcome.REFUSED
    assert stranger.status().pending_samples == 1
    assert "UNKNOWN_DEVICE" in (stranger.status().last_error or "")
    stranger.close()


CRASH_POINTS = [
    ("append:before_commit", 2),
    ("append:after_commit", 4),
    ("batch:before_commit", 1),
    ("batch:after_commit", 2),
    ("upload:before_send", 2),
    ("upload:after_send", 1),  # the server stored the batch; our acknowledgement is lost
    ("complete:before_commit", 2),
    ("complete:after_commit", 1),
]


@pytest.mark.parametrize(("point", "at"), CRASH_POINTS)
def test_sigkill_at_any_step_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, key: DeviceKey, server: ServerThread, point: str, at: int
) -> None:
    key_file = tmp_path / "key.pem"
    key.save(key_file)
    count = 14
    cmd = [
        sys.executable, "-m", "tests.ble_bridge.outbox_child",
        "--db", str(tmp_path / "outbox.sqlite"), "--key", str(key_file),
        "--url", server.url, "--count", str(count),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    crashed = subprocess.run(
        [*cmd, "--crash", point, "--crash-at", str(at)],
        cwd=REPO_ROOT, env=env, timeout=120, capture_output=True, check=False,
    )  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    finished = subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, timeout=120, capture_output=True, check=False
    )
    assert finished.returncode == 0, finished.stderr.decode()[-2000:]
    assert server.store.sequences(key.did) == list(range(1, count + 1))  # no gap, no loss
    stored = list(server.store.samples.values())
    assert len({json.dumps(s, sort_keys=True) for s in stored}) == count  # no duplicate
    box = Outbox(tmp_path / "outbox.sqlite", key)
    assert box.status().pending_samples == 0
    box.close()


@pytest.mark.slow
async def test_backlog_of_hours_offline_drains_in_order(
    outbox: Outbox, server: ServerThread, key: DeviceKey
) -> None:
    # Five hours of three devices polled every 10 s ≈ 5,400 samples.
    count = 5400
    for i in range(count):
        outbox.append(sample(i))
    async with httpx.AsyncClient(timeout=10) as client:
        up = Uploader(outbox, server.url, client, max_batch=500)
        assert await up.drain() == 11
    assert server.store.sequences(key.did) == list(range(1, count + 1))
    assert outbox.status().pending_samples == 0


def test_checked_in_upload_schema_is_current_and_fits_real_batches(outbox: Outbox) -> None:
    from ble_bridge.upload_schema import batch_schema

    path = REPO_ROOT / "ble_bridge" / "upload-batch.schema.json"
    assert json.loads(path.read_text()) == batch_schema(), "regenerate the schema file"
    for i in range(2):
        outbox.append(sample(i))
    batch = outbox.next_batch()
    assert batch is not None
    schema = batch_schema()
    assert set(batch.input) == set(schema["required"])
    sample_props = schema["properties"]["samples"]["items"]
    for s in batch.input["samples"]:
        assert set(s) == set(sample_props["required"])
        assert set(s["measurements"]) <= set(
            sample_props["properties"]["measurements"]["properties"]
        )
