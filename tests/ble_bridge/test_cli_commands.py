"""``bpp-bridge scan`` and ``status``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ble_bridge.cli import app
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from tests.ble_bridge.outbox_child import sample
from tests.conftest import SHARED_DIR

runner = CliRunner()


def test_scan_simulated_scenario_names_the_adapter_layouts() -> None:
    result = runner.invoke(
        app, ["scan", "--simulate", "healthy", "--duration", "0.2", "--vectors", str(SHARED_DIR)]
    )
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {r["name"]: r for r in rows}
    assert "elm-fff0" in by_name["OBDII"]["layouts"]
    assert by_name["xiaoxiang BMS"]["layouts"] == ["jbd"]


def test_scan_unknown_scenario_is_a_typed_error() -> None:
    result = runner.invoke(app, ["scan", "--simulate", "nope", "--vectors", str(SHARED_DIR)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "config_invalid"


def test_status_reports_outbox_depth(tmp_path: Path) -> None:
    key = DeviceKey.generate()
    key.save(tmp_path / "k.pem")
    box = Outbox(tmp_path / "o.sqlite", key)
    for i in range(3):
        box.append(sample(i))
    box.close()
    cfg = tmp_path / "b.toml"
    cfg.write_text('server_url = "http://x/graphql"\nkey_file = "k.pem"\noutbox = "o.sqlite"\n')
    result = runner.invoke(app, ["status", "--config", str(cfg)])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["deviceId"] == key.did
    assert out["outbox"]["pending_samples"] == 3
    assert out["links"] is None  # the gateway is not running


def test_run_with_bad_config_prints_error_json(tmp_path: Path) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text("server_url = 3\n")
    result = runner.invoke(app, ["run", "--config", str(cfg)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "config_invalid"
