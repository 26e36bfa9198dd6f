"""``bpp-bridge decode`` and ``keygen`` as issue 6 item 7 specifies them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ble_bridge.cli import app
from ble_bridge.keys import DeviceKey, base58btc_decode, did_key_from_public
from tests.ble_bridge.conftest import BMS_VECTORS, HKMC_VECTORS
from tests.conftest import SHARED_DIR

runner = CliRunner()


def _run(*args: str) -> tuple[int, dict[str, object]]:
    result = runner.invoke(app, list(args))
    return result.exit_code, json.loads(result.stdout)


def test_decode_raw_multiframe_with_typed_backslash_r() -> None:
    v = next(v for v in HKMC_VECTORS if v["id"] == "kona_niro_elmduino44_220101")
    typed = v["elm_raw"].replace("\r", "\\r")
    code, out = _run("decode", "--profile", "hkmc-ev", "--hex", typed, "--request", "220101")
    assert code == 0
    assert out["pack_voltage_v"] == 379.9
    assert out["pack_current_a"] == -3.6  # 3.6 A discharge on the bus
    assert out["soc_pct"] == 69.0
    assert out["isolation_kohm"] == 1000.0
    assert out["aux_battery_v"] == 13.9


def test_decode_payload_and_request_inferred() -> None:
    v = next(v for v in HKMC_VECTORS if v["id"] == "ioniq6_77_evdash_220105")
    code, out = _run("decode", "--profile", "hkmc-ev", "--hex", v["payload_hex"])
    assert code == 0
    assert out["soh_pct"] == 95.0
    assert out["soc_display_pct"] == 54.5


def test_decode_several_notifications() -> None:
    frame = next(v for v in BMS_VECTORS if v["id"] == "jbd_basic_0x03_aiobmsble")["response_hex"]
    parts = [frame[i : i + 40] for i in range(0, len(frame), 40)]
    args = [a for p in parts for a in ("--hex", p)]
    code, out = _run("decode", "--profile", "jbd", *args)
    assert code == 0
    assert out["pack_current_a"] == -2.87
    assert out["cycles"] == 42


def test_decode_daly_payload_needs_and_uses_request() -> None:
    code, out = _run("decode", "--profile", "daly", "--hex", "08010000020035dc", "--request", "94")
    assert code == 0
    assert out["cycles"] == 53
    code, out = _run("decode", "--profile", "daly", "--hex", "08010000020035dc")
    assert code == 1
    assert out["error"]["code"] == "unsupported"  # type: ignore[index]


@pytest.mark.parametrize(
    ("profile", "hex_", "code"),
    [
        # JBD basic frame with one data byte changed: checksum no longer matches.
        ("jbd", "dd03001d0618fee101f201f4002a2c7c00000000000080640304030b8b0b8a0b85f88477",
         "bad_checksum"),
        ("jbd", "dd03001d0618", "bad_length"),
        ("hkmc-ev", "7EC037F2231AAAAAAAA", "negative_response"),
        ("hkmc-ev", "NO DATA", "no_data"),
        ("hkmc-ev", "CAN ERROR", "adapter_error"),
        ("hkmc-ev", "620109FFFF", "unsupported"),
        ("hkmc-ev", "620101FFFF", "bad_length"),
        ("jk", "zz", "bad_hex"),
        ("nosuch", "00", "unsupported"),
    ],
)  # fmt: skip
def test_decode_errors_print_error_json_and_exit_1(profile: str, hex_: str, code: str) -> None:
    exit_code, out = _run("decode", "--profile", profile, "--hex", hex_)
    assert exit_code == 1
    error = out["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert error["message"]


def test_keygen_writes_private_key_0600_and_prints_did_key(tmp_path: Path) -> None:
    out_file = tmp_path / "key.pem"
    code, out = _run("keygen", "--out", str(out_file))
    assert code == 0
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert out["deviceId"] == DeviceKey.load(out_file).did
    code, out = _run("keygen", "--out", str(out_file))
    assert code == 1  # never overwrites a key


def test_did_key_matches_the_w3c_eddsa_test_key() -> None:
    # The official vc-di-eddsa key pair: private multibase = 0x8026 + seed.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pair = json.loads((SHARED_DIR / "vectors/w3c-di/vc-di-eddsa/keyPair.json").read_text())
    seed = base58btc_decode(pair["privateKeyMultibase"][1:])
    assert seed[:2] == b"\x80\x26"
    key = Ed25519PrivateKey.from_private_bytes(seed[2:])
    assert did_key_from_public(key.public_key()) == "did:key:" + pair["publicKeyMultibase"]
