"""Device workers over the simulator: reconnects, watchdog, release mode, sleeping cars."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ble_bridge.config import BridgeConfig, DeviceConfig, PollingConfig, load_config
from ble_bridge.errors import ConfigInvalidError
from ble_bridge.gateway import DeviceWorker
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from ble_bridge.simulator import ElmPeripheral, Fault, FaultPlan, SimWorld, kona_responses
from tests.ble_bridge.conftest import HKMC_VECTORS

CAR = "SIM:CA:R0:00:00:01"
FAST = PollingConfig(
    charging_s=0.02, active_s=0.02, idle_s=0.02, parked_s=0.05, asleep_s=0.05, unreachable_s=0.05
)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "o.sqlite", DeviceKey.generate())
    yield box
    box.close()


def _bridge(tmp_path: Path, **kw: object) -> BridgeConfig:
    base: dict[str, object] = {
        "server_url": "http://127.0.0.1:9/graphql",
        "key_file": tmp_path / "k.pem",
        "outbox": tmp_path / "o.sqlite",
        "polling": FAST,
        "reconnect_initial_s": 0.02,
        "reconnect_max_s": 0.05,
        "scan_timeout_s": 0.5,
        "connect_timeout_s": 0.5,
        "reply_timeout_s": 0.2,
    }
    base.update(kw)
    return BridgeConfig.model_validate(base)


async def _until(cond: Callable[[], bool], limit: float = 20.0) -> None:
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 - watching another task's counters
            await asyncio.sleep(0.01)


async def _run_until(worker: DeviceWorker, cond: Callable[[], bool], limit: float = 20.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await _until(cond, limit)
    finally:
        stop.set()
        await task


def _world(faults: FaultPlan | None = None) -> tuple[SimWorld, ElmPeripheral]:
    world = SimWorld()
    car = ElmPeripheral(CAR, "OBDII", kona_responses(HKMC_VECTORS), faults=faults)
    world.add(car)
    return world, car


def _worker(
    tmp_path: Path, outbox: Outbox, world: SimWorld, *, release: bool = False, **kw: object
) -> DeviceWorker:
    device = DeviceConfig(id="car-1", profile="hkmc-ev", address=CAR, release=release)
    return DeviceWorker(
        device,
        _bridge(tmp_path, **kw),
        outbox,
        asyncio.Event(),
        "boot",
        scanner_backend=world.scanner_backend(),
        client_backend=world.client_backend(),
    )


async def test_worker_reconnects_with_a_fresh_scan_after_the_device_vanished(
    tmp_path: Path, outbox: Outbox
) -> None:
    world, car = _world(FaultPlan(scripted={6: (Fault.VANISH,)}, vanish_for_s=0.1))
    worker = _worker(tmp_path, outbox, world)
    await _run_until(worker, lambda: worker.status.samples >= 3)
    assert car.handle == 2  # it came back under a new handle and we still reached it
    assert worker.status.reconnects >= 1
    assert worker.status.rssi_dbm == -60  # link quality from the last scan
    assert outbox.status().last_sequence == worker.status.samples


async def test_watchdog_resets_the_link_after_consecutive_timeouts(
    tmp_path: Path, outbox: Outbox
) -> None:
    stall: tuple[Fault, ...] = (Fault.STALL,)
    stalls = dict.fromkeys(range(1, 4), stall)
    world, _ = _world(FaultPlan(scripted=stalls))
    worker = _worker(tmp_path, outbox, world, watchdog_timeouts=2)
    await _run_until(worker, lambda: worker.status.samples >= 1)
    assert worker.status.watchdog_resets >= 1
    assert world.connections >= 2


async def test_release_mode_disconnects_after_every_poll(tmp_path: Path, outbox: Outbox) -> None:
    world, car = _world()
    worker = _worker(tmp_path, outbox, world, release=True)
    await _run_until(worker, lambda: worker.status.samples >= 3)
    assert world.connections >= 3
    assert car.client is None  # released when stopped


async def test_asleep_car_with_no_asleep_interval_is_left_alone(
    tmp_path: Path, outbox: Outbox
) -> None:
    world, car = _world()
    car.awake = False
    asleep_never = PollingConfig(asleep_s=None)
    worker = _worker(tmp_path, outbox, world, polling=asleep_never)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await _until(lambda: worker.status.state == "asleep")
    requests_then = sum(1 for w, _ in car.writes if w.startswith(b"22"))
    await asyncio.sleep(0.3)
    requests_later = sum(1 for w, _ in car.writes if w.startswith(b"22"))
    stop.set()
    await task
    assert requests_then == requests_later == 1  # one NO DATA, then silence
    assert outbox.status().last_sequence == 0


def test_config_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        'server_url = "http://x/graphql"\nkey_file = "k.pem"\noutbox = "o.sqlite"\n'
        '[[devices]]\nid = "car"\nprofile = "hkmc-ev"\nname_pattern = "^OBD"\n'
    )
    cfg = load_config(good)
    assert cfg.key_file == tmp_path / "k.pem"
    assert len(cfg.devices[0].layouts()) > 1  # every ELM327 GATT flavour is tried
    bad_profile = tmp_path / "bad.toml"
    bad_profile.write_text(good.read_text().replace("hkmc-ev", "tesla"))
    with pytest.raises(ConfigInvalidError):
        load_config(bad_profile)
    no_filter = tmp_path / "nofilter.toml"
    no_filter.write_text(good.read_text().replace('name_pattern = "^OBD"\n', ""))
    with pytest.raises(ConfigInvalidError):
        load_config(no_filter)
