"""Sessions over the real bleak API with the simulated backend (recorded frames + faults)."""

from __future__ import annotations

import asyncio

import pytest

from ble_bridge.errors import DeviceNotFoundError, LinkError, LinkTimeoutError, NoDataError
from ble_bridge.gatt import ELM327_LAYOUTS, JBD_LAYOUT, JK_LAYOUT
from ble_bridge.profiles import decode_capture, get_profile
from ble_bridge.protocols import jbd, jk
from ble_bridge.session import BmsSession, ElmSession, SessionTimeouts
from ble_bridge.simulator import (
    ElmPeripheral,
    Fault,
    FaultPlan,
    JbdPeripheral,
    JkPeripheral,
    SimWorld,
    kona_responses,
)
from ble_bridge.transport import BleLink, ScanFilter, connect, find_device, scan
from tests.ble_bridge.conftest import BMS_VECTORS, HKMC_VECTORS

BMS = {v["id"]: bytes.fromhex(v["response_hex"]) for v in BMS_VECTORS if "response_hex" in v}
# Generous reply timeouts: a loaded CI machine must not turn a healthy reply into a timeout
# (the stall test still times out, only later).
FAST = SessionTimeouts(reply=3.0, init=3.0, pending_delay=0.01)
CAR = "SIM:CA:R0:00:00:01"


def _car(faults: FaultPlan | None = None) -> tuple[SimWorld, ElmPeripheral]:
    world = SimWorld()
    car = ElmPeripheral(CAR, "OBDII", kona_responses(HKMC_VECTORS), faults=faults)
    world.add(car)
    return world, car


async def _link(world: SimWorld, name: str, layout_id: str = "elm-fff0") -> BleLink:
    device = await find_device(
        ScanFilter(name_pattern=name), timeout_s=2, backend=world.scanner_backend()
    )
    layout = {"elm-fff0": ELM327_LAYOUTS[0], "jbd": JBD_LAYOUT, "jk": JK_LAYOUT}[layout_id]
    return await connect(device, layout, timeout_s=2, backend=world.client_backend())


async def test_elm_session_polls_the_recorded_kona_frames() -> None:
    world, car = _car()
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    result = await session.poll()
    await link.close()
    await link.close()  # idempotent
    expected = decode_capture(
        "hkmc-ev", [next(v for v in HKMC_VECTORS if v["id"].startswith("kona"))["elm_raw"]]
    )
    m = result.measurements
    assert m.pack_voltage_v == expected.pack_voltage_v
    assert m.soh_pct == 100.0  # from 22 01 05
    assert m.cell_voltages_v is not None
    assert len(m.cell_voltages_v) == 96  # three 32-cell pages
    assert result.errors == ()
    assert session.model is not None
    assert session.model.id == "hkmc-gen1"
    # headers were switched on by the init sequence, and every write said response=False
    assert car.headers
    assert all(flag is False for _, flag in car.writes)
    assert car.writes[0][0] == b"ATZ\r"


async def test_elm_session_survives_split_garbage_and_other_ecus() -> None:
    plan = FaultPlan(
        random_faults=(Fault.GARBAGE, Fault.UNSOLICITED, Fault.PENDING),
        rate=1.0,
        split_always=True,
        seed=7,
    )
    world, _ = _car(plan)
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    for _ in range(3):
        result = await session.poll()
        assert result.measurements.pack_voltage_v == 379.9
        assert result.errors == ()
    await link.close()


async def test_response_pending_alone_is_asked_again() -> None:
    world, car = _car(FaultPlan(scripted={1: (Fault.PENDING_ONLY,)}))
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    result = await session.poll()
    assert result.measurements.soc_pct == 69.0
    assert [w for w, _ in car.writes].count(b"220101\r") == 2
    await link.close()


async def test_negative_response_on_a_cell_page_is_noted_not_fatal() -> None:
    world, _ = _car(FaultPlan(scripted={3: (Fault.NRC,)}))
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    result = await session.poll()
    assert result.errors == ("220102: negative_response",)
    assert result.measurements.cell_voltages_v is not None
    assert len(result.measurements.cell_voltages_v) == 64
    await link.close()


async def test_sleeping_car_is_no_data() -> None:
    world, car = _car()
    car.awake = False
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    with pytest.raises(NoDataError):
        await session.poll()
    await link.close()


async def test_stall_times_out_and_the_next_command_waits_for_a_prompt() -> None:
    world, car = _car(FaultPlan(scripted={1: (Fault.STALL,)}))
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    with pytest.raises(LinkTimeoutError):
        await session.poll()
    result = await session.poll()  # a bare CR fetched a prompt first
    assert result.measurements.soc_pct == 69.0
    assert (b"\r", False) in car.writes
    await link.close()


async def test_disconnect_mid_response_is_a_link_error() -> None:
    world, _ = _car(FaultPlan(scripted={1: (Fault.DISCONNECT_MID,)}))
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    with pytest.raises(LinkError):
        await session.poll()
    assert link.lost
    await link.close()


async def test_vanished_device_needs_a_fresh_scan_and_new_handle() -> None:
    world, car = _car()
    scanner = world.scanner_backend()
    old = await find_device(ScanFilter(address=CAR), timeout_s=2, backend=scanner)
    world.vanish(CAR)
    with pytest.raises(DeviceNotFoundError):
        await find_device(ScanFilter(address=CAR), timeout_s=0.2, backend=scanner)
    world.reappear(CAR)
    with pytest.raises(LinkError):  # the stale BLEDevice names a handle the stack forgot
        await connect(old, ELM327_LAYOUTS[0], timeout_s=1, backend=world.client_backend())
    fresh = await find_device(ScanFilter(address=CAR), timeout_s=2, backend=scanner)
    assert fresh.details == car.handle
    link = await connect(fresh, ELM327_LAYOUTS[0], timeout_s=1, backend=world.client_backend())
    assert not link.lost
    await link.close()


async def test_single_connection_peripheral_refuses_a_second_central() -> None:
    world, _ = _car()
    link = await _link(world, "^OBD")
    with pytest.raises(LinkError):
        await _link(world, "^OBD")
    await link.close()
    again = await _link(world, "^OBD")  # released: connectable again
    await again.close()


async def test_jbd_session_with_split_notifications() -> None:
    world = SimWorld()
    world.add(
        JbdPeripheral(
            "SIM:JB:D0:00:00:02",
            "xiaoxiang",
            BMS["jbd_basic_0x03_aiobmsble"],
            BMS["jbd_cells_0x04_aiobmsble"],
            faults=FaultPlan(split_always=True, random_faults=(Fault.GARBAGE,), rate=1, seed=3),
        )
    )
    link = await _link(world, "xiaoxiang", "jbd")
    session = BmsSession(link, get_profile("jbd"), FAST)
    await session.initialise()
    result = await session.poll()
    assert result.measurements.pack_current_a == -2.87
    assert result.measurements.cell_voltages_v == (3.43, 3.425, 3.432, 3.417)
    assert [f.request_hex for f in result.raw_frames] == [
        jbd.REQUEST_BASIC.hex(),
        jbd.REQUEST_CELLS.hex(),
    ]
    await link.close()


async def test_jk_session_filters_at_text_and_picks_cell_info() -> None:
    world = SimWorld()
    world.add(
        JkPeripheral(
            "SIM:JK:00:00:00:03",
            "JK-BD",
            BMS["jk_JK02_32S_v15_cellinfo"],
            faults=FaultPlan(random_faults=(Fault.GARBAGE,), rate=1, seed=4),
        )
    )
    link = await _link(world, "^JK", "jk")
    session = BmsSession(link, get_profile("jk"), FAST)
    await session.initialise()
    result = await session.poll()
    assert result.measurements.pack_voltage_v == 53.224
    assert result.raw_frames[0].request_hex == jk.REQUEST_CELL_INFO.hex()
    await link.close()


async def test_scan_lists_simulated_devices_with_service_filter() -> None:
    world, _ = _car()
    world.add(
        JbdPeripheral(
            "SIM:JB:D0:00:00:02",
            "xiaoxiang",
            BMS["jbd_basic_0x03_aiobmsble"],
            BMS["jbd_cells_0x04_aiobmsble"],
        )
    )
    everything = await scan(duration_s=0.12, backend=world.scanner_backend())
    assert {s.device.address for s in everything} == {CAR, "SIM:JB:D0:00:00:02"}
    only_jbd = await scan(
        duration_s=0.12, service_uuids=[JBD_LAYOUT.service], backend=world.scanner_backend()
    )
    assert [s.device.address for s in only_jbd] == ["SIM:JB:D0:00:00:02"]
    await asyncio.sleep(0)


async def test_daly_modbus_session() -> None:
    from ble_bridge.gatt import DALY_LAYOUT
    from ble_bridge.simulator import DalyPeripheral

    world = SimWorld()
    daly = DalyPeripheral(
        "SIM:DA:LY:00:00:04",
        "DL-40D63C",
        BMS["daly_modbus_info_aiobmsble"],
        faults=FaultPlan(split_always=True, seed=5),
    )
    world.add(daly)
    device = await find_device(
        ScanFilter(name_pattern="^DL-"), timeout_s=2, backend=world.scanner_backend()
    )
    link = await connect(device, DALY_LAYOUT, timeout_s=2, backend=world.client_backend())
    session = BmsSession(link, get_profile("daly"), FAST)
    await session.initialise()
    result = await session.poll()
    assert result.measurements.pack_voltage_v == 14.0
    assert result.measurements.cell_voltages_v == (4.127, 4.137, 4.147, 4.157)
    assert daly.writes_before_subscribe == 0
    await link.close()


async def test_every_session_subscribes_before_its_first_write() -> None:
    world, car = _car()
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    await session.poll()
    await link.close()
    assert car.writes
    assert car.writes_before_subscribe == 0


def test_scan_filter_criteria() -> None:
    from bleak.backends.device import BLEDevice
    from bleak.backends.scanner import AdvertisementData

    dev = BLEDevice("AA:BB:CC:DD:EE:FF", "vLinker MC+", None)
    adv = AdvertisementData(
        "vLinker MC+",
        {0x0590: b"\x01"},
        {},
        ["0000fff0-0000-1000-8000-00805f9b34fb"],
        None,
        -50,
        (),
    )
    assert ScanFilter(address="aa:bb:cc:dd:ee:ff").matches(dev, adv)
    assert ScanFilter(name_pattern="^vLinker").matches(dev, adv)
    assert not ScanFilter(name_pattern="^OBD").matches(dev, adv)
    assert ScanFilter(service_uuids=("0000FFF0-0000-1000-8000-00805F9B34FB",)).matches(dev, adv)
    assert ScanFilter(manufacturer_id=0x0590, name_pattern="vLinker").matches(dev, adv)
    assert not ScanFilter(manufacturer_id=0x004C).matches(dev, adv)


async def test_missing_bluetooth_stack_is_a_typed_error() -> None:
    from ble_bridge.errors import BluetoothUnavailableError
    from ble_bridge.simulator import SimScannerBase

    class NoStack(SimScannerBase):
        async def start(self) -> None:
            raise FileNotFoundError("/run/dbus/system_bus_socket")

    NoStack.world = SimWorld()
    with pytest.raises(BluetoothUnavailableError) as exc:
        await scan(duration_s=0.01, backend=NoStack)
    assert exc.value.code == "bluetooth_unavailable"
    with pytest.raises(BluetoothUnavailableError):
        await find_device(ScanFilter(address=CAR), timeout_s=0.1, backend=NoStack)


async def test_unsolicited_prompt_between_commands_is_not_taken_as_a_reply() -> None:
    world, car = _car()
    link = await _link(world, "^OBD")
    session = ElmSession(link, get_profile("hkmc-ev"), FAST)
    await session.initialise()
    assert car.client is not None
    car.client.deliver(b"7EC037F2231AAAAAAAA\r\r>")  # a stray reply nobody asked for
    result = await session.poll()
    assert result.measurements.soc_pct == 69.0
    assert result.errors == ()
    await link.close()
