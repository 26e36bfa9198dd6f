"""Every recorded vector decodes to its listed values — from the payload and from the raw
adapter output split into 20-byte notifications at every possible offset.

The vector files use their own key names and each bus's sign (Hyundai/Kia current is positive
when discharging); ``EXPECTED_*`` map them to the normalised keys (current and power positive
when charging). A vector key missing from the maps fails the test, so nothing is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from ble_bridge.profiles import AdapterKind, decode_capture, decode_elm_reply, get_profile
from ble_bridge.protocols import daly, elm327, jbd, jk
from ble_bridge.sample import Measurements, merge_all
from tests.ble_bridge.conftest import BMS_VECTORS, HKMC_VECTORS, split_at


def _neg(v: float) -> float:
    return -v


def _bits(v: str) -> int:
    return int(v, 2)


# vector key -> (normalised key, conversion); "extras.x" / "flags.x" address mapping fields.
HKMC_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "soc_bms_pct": ("soc_pct", float),
    "max_regen_kw": ("max_charge_power_kw", float),
    "max_power_kw": ("max_discharge_power_kw", float),
    "status_bits1": ("flags.bms_status_1", _bits),
    "status_bits2": ("flags.bms_status_2", _bits),
    "current_a": ("pack_current_a", _neg),
    "power_kw": ("power_kw", _neg),
    "pack_voltage_v": ("pack_voltage_v", float),
    "bat_temp_max_c": ("temperature_max_c", float),
    "bat_temp_min_c": ("temperature_min_c", float),
    "module_temps_c": ("temperatures_c", list),
    "inlet_temp_c": ("inlet_temperature_c", float),
    "cell_v_max": ("cell_voltage_max_v", float),
    "cell_v_max_no": ("cell_voltage_max_no", int),
    "cell_v_min": ("cell_voltage_min_v", float),
    "cell_v_min_no": ("cell_voltage_min_no", int),
    "fan_status": ("extras.fan_status", int),
    "fan_feedback_hz": ("extras.fan_feedback_hz", int),
    "aux_battery_v": ("aux_battery_v", float),
    "cum_charge_ah": ("cumulative_charged_ah", float),
    "cum_discharge_ah": ("cumulative_discharged_ah", float),
    "cec_kwh": ("cumulative_charged_kwh", float),
    "ced_kwh": ("cumulative_discharged_kwh", float),
    "operating_time_s": ("operating_time_s", int),
    "inverter_cap_v": ("extras.inverter_capacitor_v", int),
    "isolation_kohm": ("isolation_kohm", float),
    "cell_v_deviation": ("cell_voltage_delta_v", float),
    "heater_temp_c": ("heater_temperature_c", float),
    "soh_pct": ("soh_pct", float),
    "max_det_cell_no": ("extras.max_deterioration_cell_no", int),
    "min_det_pct": ("extras.min_deterioration_pct", float),
    "min_det_cell_no": ("extras.min_deterioration_cell_no", int),
    "soc_display_pct": ("soc_display_pct", float),
    "cells_1_32_v": ("cell_voltages_v", list),
}

BMS_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "voltage_v": ("pack_voltage_v", float),
    "current_a": ("pack_current_a", float),  # BMS buses already count charging positive
    "current_a_on_wire": ("pack_current_a", float),
    "remaining_ah": ("remaining_capacity_ah", float),
    "capacity_ah": ("remaining_capacity_ah", float),
    "nominal_ah": ("nominal_capacity_ah", float),
    "cap_ah": ("nominal_capacity_ah", float),
    "cycles": ("cycles", int),
    "soc_pct": ("soc_pct", float),
    "soh_pct": ("soh_pct", float),
    "fet_chg": ("charge_enabled", bool),
    "fet_dsg": ("discharge_enabled", bool),
    "chg_mosfet": ("charge_enabled", bool),
    "dsg_mosfet": ("discharge_enabled", bool),
    "temps_c": ("temperatures_c", list),
    "cell_v": ("cell_voltages_v", list),
    "protection": ("flags.protection", int),
    "balance_bits": ("flags.balance_bits", int),
    "hw_version": ("hardware_version", str),
    "mode": ("charging", lambda v: v == "charging"),
    "num_cells": ("flags.cell_count", int),
    "num_temps": ("flags.ntc_count", int),
    "delta_v": ("cell_voltage_delta_v", float),
}


def _lookup(m: dict[str, Any], key: str) -> Any:
    if key.startswith("flags."):
        return m.get("status_flags", {}).get(key.removeprefix("flags."))
    if key.startswith("extras."):
        return m.get("extras", {}).get(key.removeprefix("extras."))
    return m.get(key)


def _assert_close(actual: Any, expected: Any, what: str) -> None:
    if isinstance(expected, list):
        assert actual is not None, what
        assert len(actual) == len(expected), what
        for a, e in zip(actual, expected, strict=True):
            _assert_close(a, e, what)
    elif isinstance(expected, float):
        # 3-decimal vector values (power) are rounded; everything else is exact.
        assert actual is not None, what
        assert math.isclose(actual, expected, abs_tol=5e-4), f"{what}: {actual} != {expected}"
    else:
        assert actual == expected, f"{what}: {actual!r} != {expected!r}"


def check_hkmc(m: Measurements, decoded: dict[str, Any]) -> None:
    got = m.to_json()
    for key, value in decoded.items():
        if key == "motor_rpm":
            assert _lookup(got, "extras.motor_rpm_1") == value[0]
            assert _lookup(got, "extras.motor_rpm_2") == value[1]
            continue
        if key in ("module_temps_6_12_c", "module_temps_13_16_c"):
            continue  # checked together below
        norm, conv = HKMC_KEYS[key]
        _assert_close(_lookup(got, norm), conv(value), key)
    if "module_temps_6_12_c" in decoded:
        expected = [float(t) for t in decoded["module_temps_6_12_c"]]
        expected += [float(t) for t in decoded["module_temps_13_16_c"]]
        _assert_close(got["temperatures_c"], expected, "module temperatures 6-16")


def check_bms(vector: dict[str, Any], m: Measurements) -> None:
    got = m.to_json()
    for key, value in vector["decoded"].items():
        if key == "note":
            continue
        if key in ("cells", "ntc"):
            field = "cell_count" if key == "cells" else None
            if field and "status_flags" in got and field in got["status_flags"]:
                assert got["status_flags"][field] == value
            else:
                listed = got["cell_voltages_v"] if key == "cells" else got["temperatures_c"]
                assert len(listed) == value, key
            continue
        if key == "fw":
            layout = jk.layout_for_firmware(value)
            frame = bytes.fromhex(vector["response_hex"])
            explicit = merge_all([jk.decode_frame(frame, layout)])
            assert explicit == m, "auto-detected layout differs from the firmware's"
            continue
        norm, conv = BMS_KEYS[key]
        _assert_close(_lookup(got, norm), conv(value), f"{vector['id']}.{key}")


HKMC_IDS = [v["id"] for v in HKMC_VECTORS]


@pytest.mark.parametrize("vector", HKMC_VECTORS, ids=HKMC_IDS)
def test_hkmc_vector_decodes_from_payload(vector: dict[str, Any]) -> None:
    m = decode_capture("hkmc-ev", [vector["payload_hex"]])
    check_hkmc(m, vector["decoded"])


@pytest.mark.parametrize("vector", HKMC_VECTORS, ids=HKMC_IDS)
def test_hkmc_vector_decodes_with_explicit_platform_profile(vector: dict[str, Any]) -> None:
    platform = vector.get("platform", "Kona/Niro/Ioniq(1st gen)")
    profile = "hkmc-egmp" if platform == "E-GMP" else "hkmc-gen1"
    check_hkmc(decode_capture(profile, [vector["payload_hex"]]), vector["decoded"])


@pytest.mark.parametrize("vector", HKMC_VECTORS, ids=HKMC_IDS)
def test_hkmc_raw_adapter_output_split_at_every_offset(vector: dict[str, Any]) -> None:
    raw = (vector.get("elm_raw") or vector["payload_hex"]) + "\r\r>"
    request = bytes.fromhex(vector["request"])
    profile = get_profile("hkmc-ev")
    for first in range(20):
        assembler = elm327.PromptReassembler()
        replies: list[str] = []
        for chunk in split_at(raw.encode("ascii"), first):
            replies += assembler.feed(chunk)
        assert len(replies) == 1, f"split at {first}"
        check_hkmc(merge_all([decode_elm_reply(replies[0], request, profile)]), vector["decoded"])


def test_merged_egmp_poll_concatenates_module_temperatures() -> None:
    by_id = {v["id"]: v for v in HKMC_VECTORS}
    parts = [
        decode_capture("hkmc-ev", [by_id[f"egmp_evdash_{r}"]["payload_hex"]])
        for r in ("220101", "220105")
    ]
    m = merge_all(parts)
    assert m.temperatures_c is not None
    assert len(m.temperatures_c) == 16
    assert m.soh_pct == 100.0
    assert m.pack_voltage_v == 708.7
    assert m.pack_current_a == -31.6
    assert m.power_kw == -22.395


def _bms_profile(vector: dict[str, Any]) -> str:
    name = vector["bms"]
    if name.startswith("JBD"):
        return "jbd"
    if name.startswith("Daly"):
        return "daly"
    return "jk"


def _bms_frame(vector: dict[str, Any]) -> bytes:
    if "response_hex" in vector:
        return bytes.fromhex(vector["response_hex"])
    # Payload-only captures: wrapped in a legacy frame with a computed checksum here.
    cmd = int(vector["id"].split("_0x")[1][:2], 16)
    return daly.wrap_legacy(cmd, bytes.fromhex(vector["payload_hex"]))


DECODED_BMS = [v for v in BMS_VECTORS if "decoded" in v]


@pytest.mark.parametrize("vector", DECODED_BMS, ids=[v["id"] for v in DECODED_BMS])
def test_bms_vector_decodes_from_frame(vector: dict[str, Any]) -> None:
    profile = _bms_profile(vector)
    if "payload_hex" in vector:
        cmd = vector["id"].split("_0x")[1][:2]
        m = decode_capture(profile, [vector["payload_hex"]], bytes.fromhex(cmd))
    else:
        m = decode_capture(profile, [vector["response_hex"]])
    check_bms(vector, m)


@pytest.mark.parametrize("vector", DECODED_BMS, ids=[v["id"] for v in DECODED_BMS])
def test_bms_raw_notifications_split_at_every_offset(vector: dict[str, Any]) -> None:
    frame = _bms_frame(vector)
    profile = get_profile(_bms_profile(vector))
    sizes = {20, int(vector.get("notify_chunk_size", 20))}
    for size in sorted(sizes):
        for first in range(size):
            assembler: jbd.JbdAssembler | daly.DalyAssembler | jk.JkAssembler
            if profile.kind is AdapterKind.JBD:
                assembler = jbd.JbdAssembler()
            elif profile.kind is AdapterKind.DALY:
                assembler = daly.DalyAssembler()
            else:
                assembler = jk.JkAssembler()
            frames: list[bytes] = []
            for i, chunk in enumerate(split_at(frame, first, size)):
                if profile.kind is AdapterKind.JK and i % 2:
                    frames += assembler.feed(b"AT\r\n")  # the module's stray text
                frames += assembler.feed(chunk)
            assert frames == [frame], f"split {first}/{size}"
            m = decode_capture(profile.id, [frames[0].hex()])
            check_bms(vector, m)


def test_bms_request_frames_match_the_recorded_requests() -> None:
    requests = {v["id"]: v.get("request_hex") for v in BMS_VECTORS}
    assert jbd.REQUEST_BASIC.hex() == requests["jbd_basic_0x03_aiobmsble"]
    assert jbd.REQUEST_CELLS.hex() == requests["jbd_cells_0x04_aiobmsble"]
    assert jbd.REQUEST_HWINFO.hex() == requests["jbd_hwinfo_0x05_aiobmsble"]
    assert daly.build_legacy_request(daly.CMD_SOC).hex() == requests["daly_legacy_0x90_req_ble"]
    assert daly.REQUEST_MODBUS_INFO.hex() == requests["daly_modbus_info_aiobmsble"]
    assert jk.REQUEST_CELL_INFO.hex() == requests["jk_JK02_24S_cellinfo"]


def test_every_vector_is_covered() -> None:
    # Guards against a vector silently dropping out of the parametrised tests.
    assert len(HKMC_VECTORS) == 12
    undecoded = {v["id"] for v in BMS_VECTORS if "decoded" not in v}
    assert undecoded == {"daly_legacy_0x90_req_ble"}  # a request only, checked above
