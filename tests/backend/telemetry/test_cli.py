"""`bpp devices …` and `bpp telemetry compact` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ble_bridge.keys import DeviceKey
from tests.backend.test_cli_credentials import bpp


@pytest.mark.slow
def test_register_list_rotate_revoke_and_compact(tmp_path: Path) -> None:
    old, new = DeviceKey.generate(), DeviceKey.generate()
    registered = bpp(
        tmp_path, "devices", "register", old.did, "--org", "charge-co", "--label", "bay 3"
    )
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["status"] == "active"
    again = bpp(tmp_path, "devices", "register", old.did, "--org", "charge-co")
    assert again.returncode == 1
    assert "already registered" in again.stderr
    bad = bpp(tmp_path, "devices", "register", "did:key:nope", "--org", "charge-co")
    assert bad.returncode == 1
    unbound = bpp(
        tmp_path, "devices", "register", new.did, "--org", "charge-co", "--source", "car-1"
    )
    assert unbound.returncode == 1
    assert "SOURCE_ID=BATTERY_ID" in unbound.stderr

    rotated = bpp(tmp_path, "devices", "rotate", old.did, new.did, "--org", "charge-co")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["predecessorId"] == old.did
    listed = json.loads(bpp(tmp_path, "devices", "list", "--org", "charge-co").stdout)
    assert [(d["deviceId"], d["status"]) for d in listed] == [
        (old.did, "rotated"),
        (new.did, "active"),
    ]
    assert bpp(tmp_path, "devices", "list", "--org", "other-co").stdout.strip() == "[]"
    foreign = bpp(tmp_path, "devices", "revoke", new.did, "--org", "other-co")
    assert foreign.returncode == 0  # the operator's authority reaches every organisation
    assert json.loads(foreign.stdout)["status"] == "revoked"
    twice = bpp(tmp_path, "devices", "revoke", new.did, "--org", "charge-co")
    assert twice.returncode == 1

    compacted = bpp(tmp_path, "telemetry", "compact", "--raw-days", "7")
    assert compacted.returncode == 0, compacted.stderr
    report = json.loads(compacted.stdout)
    assert report["removedSamples"] == 0
    assert set(report) >= {"cutoff", "aggregatedHours", "droppedPartitions"}
