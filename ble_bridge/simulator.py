"""Simulated BLE peripherals behind a fake bleak backend.

``SimWorld`` holds scriptable peripherals that answer from recorded frames. Its
:meth:`SimWorld.client_backend` is a :class:`bleak.backends.client.BaseBleakClient` subclass to
inject with ``BleakClient(device, backend=...)``, and :meth:`SimWorld.scanner_backend` a
scanner that advertises the peripherals that are present. Faults are scripted per response
number (deterministic) or drawn from a seeded RNG: notifications split at arbitrary byte
positions, unsolicited frames, garbage text, negative responses, ``NO DATA``, stalls,
disconnects mid-response, a device that vanishes and returns under a new handle.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError

from ble_bridge.gatt import DALY_LAYOUT, ELM327_LAYOUTS, JBD_LAYOUT, JK_LAYOUT, GattLayout
from ble_bridge.protocols import daly, elm327, jbd, jk


class Fault(StrEnum):
    """Faults a peripheral can inject into one response."""

    SPLIT_RANDOM = "split_random"  # notifications cut at random byte positions
    GARBAGE = "garbage"  # stray text before the reply (JK's "AT\r\n", ELM noise)
    UNSOLICITED = "unsolicited"  # another frame nobody asked for, before the reply
    NRC = "nrc"  # ECU answers 7F 22 31 (or the BMS a bad checksum)
    PENDING = "pending"  # 7F 22 78 first, the reply in the same prompt
    PENDING_ONLY = "pending_only"  # 7F 22 78 alone; the reply comes on the re-request
    NO_DATA = "no_data"  # car asleep for this request
    STALL = "stall"  # no reply at all
    DISCONNECT_MID = "disconnect_mid"  # half the reply, then the link drops
    VANISH = "vanish"  # disconnects, stops advertising, returns later with a new handle


@dataclass
class FaultPlan:
    """Which responses get which faults: by response number, or at random with ``rate``."""

    scripted: dict[int, tuple[Fault, ...]] = field(default_factory=dict)
    random_faults: tuple[Fault, ...] = ()
    rate: float = 0.0
    split_always: bool = False
    vanish_for_s: float = 0.3
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def faults_for(self, n: int) -> tuple[Fault, ...]:
        """Faults for response number ``n`` (counted from 1 over the peripheral's life)."""
        chosen = list(self.scripted.get(n, ()))
        if self.random_faults and self.rng.random() < self.rate:
            chosen.append(self.rng.choice(self.random_faults))
        if self.split_always and Fault.SPLIT_RANDOM not in chosen:
            chosen.append(Fault.SPLIT_RANDOM)
        return tuple(chosen)


class SimPeripheral:
    """Base class: GATT layout, advertisement, response scheduling with faults."""

    chunk_size: ClassVar[int] = 20

    def __init__(
        self, address: str, name: str, layout: GattLayout, faults: FaultPlan | None = None
    ) -> None:
        self.address = address
        self.name = name
        self.layout = layout
        self.faults = faults or FaultPlan()
        self.present = True
        self.handle = 1
        self.client: SimClientBase | None = None
        self.responses = 0
        self.writes: list[tuple[bytes, bool]] = []  # (data, response flag) for assertions
        self.writes_before_subscribe = 0  # the first reply would be lost on a real link
        self.world: SimWorld | None = None

    # -- to be specialised ---------------------------------------------------------------
    def on_write(self, data: bytes) -> None:
        """Handle bytes the central wrote."""
        raise NotImplementedError

    def garbage(self) -> bytes:
        """Stray bytes this kind of device emits."""
        return b"AT\r\n"

    def unsolicited(self) -> bytes:
        """An unsolicited frame."""
        return self.garbage()

    # -- plumbing -----------------------------------------------------------------------------
    def respond(self, data: bytes, faults: tuple[Fault, ...] = ()) -> None:
        """Send ``data`` as notifications, applying ``faults``."""
        if self.client is None:
            return
        if Fault.STALL in faults:
            return
        if Fault.VANISH in faults:
            assert self.world is not None
            self.world.vanish(self.address, self.faults.vanish_for_s)
            return
        prefix = b""
        if Fault.GARBAGE in faults:
            prefix += self.garbage()
        if Fault.UNSOLICITED in faults:
            prefix += self.unsolicited()
        chunks = [prefix] if prefix else []
        chunks += self._split(data, random_cuts=Fault.SPLIT_RANDOM in faults)
        if Fault.DISCONNECT_MID in faults:
            chunks = chunks[: max(1, len(chunks) // 2)]
        client = self.client
        loop = asyncio.get_running_loop()
        for i, chunk in enumerate(chunks):
            loop.call_soon(client.deliver, chunk) if i == 0 else loop.call_later(
                0.001 * i, client.deliver, chunk
            )
        if Fault.DISCONNECT_MID in faults:
            loop.call_later(0.001 * (len(chunks) + 1), self.drop_connection)

    def _split(self, data: bytes, *, random_cuts: bool) -> list[bytes]:
        if not random_cuts:
            size = self.chunk_size
            return [data[i : i + size] for i in range(0, len(data), size)]
        out, i = [], 0
        while i < len(data):
            n = self.faults.rng.randint(1, self.chunk_size)
            out.append(data[i : i + n])
            i += n
        return out

    def next_faults(self) -> tuple[Fault, ...]:
        """Count a response and return its faults."""
        self.responses += 1
        return self.faults.faults_for(self.responses)

    def drop_connection(self) -> None:
        """The peripheral ends the connection (the central gets its disconnect callback)."""
        client, self.client = self.client, None
        if client is not None:
            client.peer_disconnected()


class ElmPeripheral(SimPeripheral):
    """An ELM327 dongle on a car whose BMS answers UDS requests from recorded payloads."""

    def __init__(
        self,
        address: str,
        name: str,
        responses: dict[bytes, bytes],
        *,
        layout: GattLayout = ELM327_LAYOUTS[0],
        faults: FaultPlan | None = None,
        ecu_rx: int = 0x7EC,
    ) -> None:
        super().__init__(address, name, layout, faults)
        self.payloads = dict(responses)
        self.ecu_rx = ecu_rx
        self.awake = True
        self._line = bytearray()
        self._pending_once: set[bytes] = set()
        self.reset_state()

    def reset_state(self) -> None:
        """ELM327 power-on defaults: echo on, headers off, spaces on."""
        self.echo, self.headers, self.spaces = True, False, True

    def garbage(self) -> bytes:
        return b"\x00SEARCHING...\r"

    def unsolicited(self) -> bytes:
        # Another ECU's negative response, as printed with the current header setting.
        if self.headers:
            return b"7E803 7F 22 12 AA AA AA AA\r" if self.spaces else b"7E8037F2212AAAAAAAA\r"
        return b"7F 22 12\r" if self.spaces else b"7F2212\r"

    def on_write(self, data: bytes) -> None:
        self._line += data
        while b"\r" in self._line:
            raw, _, rest = bytes(self._line).partition(b"\r")
            self._line = bytearray(rest)
            self._command(raw.decode("ascii", "replace").strip().upper())

    def _command(self, cmd: str) -> None:
        echo = (cmd + "\r") if self.echo else ""
        if not cmd:
            self.respond((echo + "\r>").encode())
            return
        squashed = cmd.replace(" ", "")
        if squashed.startswith("AT"):
            self.respond((echo + self._at(squashed[2:]) + "\r\r>").encode())
            return
        faults = self.next_faults()
        try:
            request = bytes.fromhex(squashed)
        except ValueError:
            self.respond((echo + "?\r\r>").encode())
            return
        self.respond((echo + self._obd(request, faults)).encode(), faults)

    def _at(self, cmd: str) -> str:
        if cmd == "Z":
            self.reset_state()
            return "\r\rELM327 v1.5"
        if cmd in ("E0", "E1"):
            self.echo = cmd == "E1"
        elif cmd in ("H0", "H1"):
            self.headers = cmd == "H1"
        elif cmd in ("S0", "S1"):
            self.spaces = cmd == "S1"
        elif cmd in ("L0", "L1", "AT1", "AT2", "CAF1", "D") or cmd.startswith(
            ("SP", "SH", "CRA", "ST")
        ):
            pass
        else:
            return "?"
        return "OK"

    def _render(self, payload: bytes) -> str:
        if self.headers:
            return elm327.headers_on_text(payload, self.ecu_rx, spaces=self.spaces)
        return elm327.headers_off_text(payload)

    def _obd(self, request: bytes, faults: tuple[Fault, ...]) -> str:
        if not self.awake or Fault.NO_DATA in faults:
            return "NO DATA\r\r>"
        if Fault.NRC in faults:
            return self._render(bytes([0x7F, request[0], 0x31]))
        payload = self.payloads.get(request)
        if payload is None:
            return self._render(bytes([0x7F, request[0], 0x31]))
        pending = self._render(bytes([0x7F, request[0], 0x78])).removesuffix("\r>")
        if Fault.PENDING_ONLY in faults and request not in self._pending_once:
            self._pending_once.add(request)
            return pending + "\r>"
        text = self._render(payload)
        return pending + text if Fault.PENDING in faults else text


class JbdPeripheral(SimPeripheral):
    """A JBD BMS answering basic-info and cell requests with recorded frames."""

    def __init__(self, address: str, name: str, basic: bytes, cells: bytes, **kw: Any) -> None:
        super().__init__(address, name, JBD_LAYOUT, kw.get("faults"))
        self.frames = {jbd.REQUEST_BASIC: basic, jbd.REQUEST_CELLS: cells}

    def garbage(self) -> bytes:
        return b"\x00\xff\x13"

    def unsolicited(self) -> bytes:
        return self.frames[jbd.REQUEST_CELLS]

    def on_write(self, data: bytes) -> None:
        frame = self.frames.get(bytes(data))
        if frame is None:
            return
        faults = self.next_faults()
        if Fault.NRC in faults:
            frame = frame[:5] + bytes([frame[5] ^ 0xFF]) + frame[6:]  # checksum now wrong
        self.respond(frame, faults)


class JkPeripheral(SimPeripheral):
    """A JK BMS: after the cell-info request it streams 300-byte frames, with AT\\r\\n noise."""

    chunk_size = 128

    def __init__(
        self, address: str, name: str, frame: bytes, *, period_s: float = 0.05, **kw: Any
    ) -> None:
        super().__init__(address, name, JK_LAYOUT, kw.get("faults"))
        self.frame = frame
        self.period_s = period_s
        self._stream: asyncio.TimerHandle | None = None

    def on_write(self, data: bytes) -> None:
        if bytes(data) == jk.REQUEST_DEVICE_INFO:
            self.respond(b"AT\r\n")
        elif bytes(data) == jk.REQUEST_CELL_INFO:
            self.respond(self.frame, self.next_faults())
            if self._stream is None:
                self._schedule_stream(self.client)

    def _schedule_stream(self, client: SimClientBase | None) -> None:
        # Like the real board: after one request, cell info keeps coming until disconnect.
        self._stream = asyncio.get_running_loop().call_later(
            self.period_s, self._stream_tick, client
        )

    def _stream_tick(self, client: SimClientBase | None) -> None:
        if client is None or self.client is not client:
            self._stream = None
            return
        self.respond(self.frame)
        self._schedule_stream(client)

    def drop_connection(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        super().drop_connection()


class DalyPeripheral(SimPeripheral):
    """A Daly smart BMS answering the Modbus info request."""

    def __init__(self, address: str, name: str, frame: bytes, **kw: Any) -> None:
        super().__init__(address, name, DALY_LAYOUT, kw.get("faults"))
        self.frame = frame

    def on_write(self, data: bytes) -> None:
        if bytes(data) == daly.REQUEST_MODBUS_INFO:
            self.respond(self.frame, self.next_faults())


class SimClientBase(BaseBleakClient):
    """Fake bleak client backend; :meth:`SimWorld.client_backend` binds it to a world."""

    world: ClassVar[SimWorld]

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self._handle = (
            address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._peripheral: SimPeripheral | None = None
        self._callbacks: dict[int, NotifyCallback] = {}

    @property
    def mtu_size(self) -> int:
        return 23

    @property
    def name(self) -> str:
        return self._peripheral.name if self._peripheral else self.address

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        await asyncio.sleep(0)
        p = self.world.peripherals.get(self.address)
        if p is None or not p.present:
            raise BleakDeviceNotFoundError(self.address, f"{self.address} not found")
        if self._handle is not None and self._handle != p.handle:
            # A BLEDevice from before the device vanished: the stack no longer knows it.
            raise BleakDeviceNotFoundError(self.address, "stale device handle; scan again")
        if p.client is not None:
            raise BleakError(f"{self.address} accepts one connection and has one")
        p.client = self
        self._peripheral = p
        self.services = _services(p.layout)
        self.world.connections += 1

    async def disconnect(self) -> None:
        p, self._peripheral = self._peripheral, None
        if p is not None and p.client is self:
            p.client = None
        self._callbacks.clear()

    def peer_disconnected(self) -> None:
        """Called by the peripheral when it drops the link."""
        self._peripheral = None
        self._callbacks.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    def deliver(self, data: bytes) -> None:
        """A notification from the peripheral."""
        for callback in list(self._callbacks.values()):
            callback(bytearray(data))

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def unpair(self) -> None:
        raise NotImplementedError

    @property
    def is_connected(self) -> bool:
        return self._peripheral is not None

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        raise BleakError("simulated adapters have no readable characteristics")

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kw: Any
    ) -> bytearray:
        raise BleakError("simulated adapters have no descriptors")

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        p = self._peripheral
        if p is None:
            raise BleakError("Not connected")
        await asyncio.sleep(0)
        if not self._callbacks:
            p.writes_before_subscribe += 1
        p.writes.append((bytes(data), response))
        p.on_write(bytes(data))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        raise BleakError("simulated adapters have no descriptors")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        if self._peripheral is None:
            raise BleakError("Not connected")
        self._callbacks[characteristic.handle] = callback

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._callbacks.pop(characteristic.handle, None)


def _services(layout: GattLayout) -> BleakGATTServiceCollection:
    collection = BleakGATTServiceCollection()
    service = BleakGATTService(None, 1, layout.service)
    collection.add_service(service)
    if layout.notify == layout.write:
        chars = [(2, layout.notify, ["notify", "write", "write-without-response"])]
    else:
        chars = [
            (2, layout.notify, ["notify"]),
            (4, layout.write, ["write", "write-without-response"]),
        ]
    for handle, uuid, props in chars:
        char = BleakGATTCharacteristic(None, handle, uuid, props, lambda: 20, service)  # type: ignore[arg-type]
        collection.add_characteristic(char)
    return collection


class SimScannerBase(BaseBleakScanner):
    """Fake scanner backend: advertises the present peripherals every 50 ms while scanning."""

    world: ClassVar[SimWorld]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.create_task(self._advertise())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _advertise(self) -> None:
        while True:
            for p in list(self.world.peripherals.values()):
                if not p.present:
                    continue
                adv = AdvertisementData(
                    local_name=p.name,
                    manufacturer_data={},
                    service_data={},
                    service_uuids=[p.layout.service],
                    tx_power=None,
                    rssi=-60,
                    platform_data=(),
                )
                if not self.is_allowed_uuid(adv.service_uuids):
                    continue
                device = self.create_or_update_device(
                    f"{p.address}/{p.handle}", p.address, p.name, p.handle, adv
                )
                self.call_detection_callbacks(device, adv)
            await asyncio.sleep(0.05)


class SimWorld:
    """The simulated radio neighbourhood."""

    def __init__(self) -> None:
        self.peripherals: dict[str, SimPeripheral] = {}
        self.connections = 0
        self._returns: list[asyncio.TimerHandle] = []

    def add(self, peripheral: SimPeripheral) -> SimPeripheral:
        """Place a peripheral in range."""
        peripheral.world = self
        self.peripherals[peripheral.address] = peripheral
        return peripheral

    def vanish(self, address: str, for_s: float | None = None) -> None:
        """Drop the link, stop advertising; come back after ``for_s`` with a new handle."""
        p = self.peripherals[address]
        p.present = False
        p.drop_connection()
        if for_s is not None:
            self._returns.append(
                asyncio.get_running_loop().call_later(for_s, self.reappear, address)
            )

    def reappear(self, address: str) -> None:
        """Advertise again under a new OS handle (stale BLEDevice objects stop working)."""
        p = self.peripherals[address]
        p.handle += 1
        p.present = True

    def client_backend(self) -> type[BaseBleakClient]:
        """The ``backend=`` class for ``BleakClient``."""
        return type("SimBleakClient", (SimClientBase,), {"world": self})

    def scanner_backend(self) -> type[BaseBleakScanner]:
        """The ``backend=`` class for ``BleakScanner``."""
        return type("SimBleakScanner", (SimScannerBase,), {"world": self})


# -- scenarios -------------------------------------------------------------------------------


def _vectors(shared_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    ble = shared_dir / "vectors" / "ble"
    return (
        json.loads((ble / "hkmc_vectors.json").read_text()),
        json.loads((ble / "bms_vectors.json").read_text()),
    )


def kona_responses(hkmc_vectors: list[dict[str, Any]]) -> dict[bytes, bytes]:
    """Recorded Kona/e-Niro replies; cell pages 03/04 reuse the recorded 02 page's cells."""
    by_id = {v["id"]: bytes.fromhex(v["payload_hex"]) for v in hkmc_vectors}
    page = by_id["ioniq_fl_ev_evnotipi_220102"]
    return {
        bytes.fromhex("220101"): by_id["kona_niro_elmduino44_220101"],
        bytes.fromhex("220105"): by_id["eniro_evdash_220105"],
        bytes.fromhex("220102"): page,
        bytes.fromhex("220103"): page[:2] + b"\x03" + page[3:],
        bytes.fromhex("220104"): page[:2] + b"\x04" + page[3:],
    }


@dataclass(frozen=True)
class Scenario:
    """A named set of peripherals and faults."""

    name: str
    description: str
    build: Callable[[SimWorld, Path], None]


def _three_devices(world: SimWorld, shared: Path, plans: dict[str, FaultPlan]) -> None:
    hkmc_v, bms_v = _vectors(shared)
    bms = {v["id"]: v for v in bms_v}
    world.add(
        ElmPeripheral(
            "SIM:CA:R0:00:00:01", "OBDII", kona_responses(hkmc_v), faults=plans.get("car")
        )
    )
    world.add(
        JbdPeripheral(
            "SIM:JB:D0:00:00:02",
            "xiaoxiang BMS",
            bytes.fromhex(bms["jbd_basic_0x03_aiobmsble"]["response_hex"]),
            bytes.fromhex(bms["jbd_cells_0x04_aiobmsble"]["response_hex"]),
            faults=plans.get("jbd"),
        )
    )
    world.add(
        JkPeripheral(
            "SIM:JK:00:00:00:03",
            "JK-BD6A20S",
            bytes.fromhex(bms["jk_JK02_32S_v15_cellinfo"]["response_hex"]),
            faults=plans.get("jk"),
        )
    )


def _parked(world: SimWorld, shared: Path) -> None:
    _three_devices(world, shared, {})
    car = world.peripherals["SIM:CA:R0:00:00:01"]
    assert isinstance(car, ElmPeripheral)
    car.awake = False


_FAULTY = (
    Fault.SPLIT_RANDOM,
    Fault.GARBAGE,
    Fault.UNSOLICITED,
    Fault.NRC,
    Fault.PENDING,
    Fault.STALL,
    Fault.DISCONNECT_MID,
)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "healthy",
            "a Kona over ELM327, a JBD pack and a JK pack, no faults",
            lambda w, d: _three_devices(w, d, {}),
        ),
        Scenario(
            "faults",
            "the same three devices with split notifications, garbage, NRCs, 7F2278, stalls, "
            "disconnects mid-response and the car vanishing and returning under a new handle",
            lambda w, d: _three_devices(
                w,
                d,
                {
                    "car": FaultPlan(
                        scripted={3: (Fault.PENDING_ONLY,), 9: (Fault.VANISH,)},
                        random_faults=_FAULTY,
                        rate=0.15,
                        split_always=True,
                        seed=1,
                    ),
                    "jbd": FaultPlan(random_faults=_FAULTY, rate=0.15, split_always=True, seed=2),
                    "jk": FaultPlan(random_faults=_FAULTY, rate=0.15, seed=3),
                },
            ),
        ),
        Scenario(
            "parked",
            "the car is asleep (NO DATA) and must not be kept awake",
            _parked,
        ),
    )
}


def build_world(scenario: str, shared_dir: Path) -> SimWorld:
    """A world populated for a named scenario (``KeyError`` for an unknown name)."""
    world = SimWorld()
    SCENARIOS[scenario].build(world, shared_dir)
    return world
