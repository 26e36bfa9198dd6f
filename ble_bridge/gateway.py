"""The running bridge: one worker per device, the uploader, a status file.

Per device: fresh scan → connect → subscribe → initialise → poll on the policy's schedule →
append to the outbox. Link trouble reconnects with exponential back-off and a fresh scan; a
watchdog resets a link after N consecutive reply timeouts; "release" devices are disconnected
after every poll so that a phone app (or another gateway) can use the single connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from ble_bridge.config import BridgeConfig, DeviceConfig
from ble_bridge.errors import BridgeError, FrameError, LinkError, LinkTimeoutError, NoDataError
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Checkpoint, Outbox
from ble_bridge.polling import DeviceState, PollingTracker
from ble_bridge.profiles import get_profile
from ble_bridge.sample import BatterySample, ClockSource, detect_clock_source, now_stamps
from ble_bridge.session import BmsSession, SessionTimeouts, make_session
from ble_bridge.transport import BleLink, connect, find_sighting
from ble_bridge.uploader import Backoff, Uploader


@dataclass
class LinkStatus:
    """Per-device health, written to the status file."""

    device: str
    connected: bool = False
    state: str = DeviceState.ACTIVE.value
    samples: int = 0
    polls_failed: int = 0
    timeouts_in_row: int = 0
    reconnects: int = 0
    watchdog_resets: int = 0
    last_sample_ms: int | None = None
    last_error: str | None = None
    rssi_dbm: int | None = None  # from the last scan that found the device


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class DeviceWorker:
    """Keeps one device polled for as long as the gateway runs."""

    cfg: DeviceConfig
    bridge: BridgeConfig
    outbox: Outbox
    wake: asyncio.Event
    boot_id: str
    clock_source: ClockSource = ClockSource.SYSTEM
    scanner_backend: type[BaseBleakScanner] | None = None
    client_backend: type[BaseBleakClient] | None = None
    status: LinkStatus = field(init=False)

    def __post_init__(self) -> None:
        self.status = LinkStatus(self.cfg.id)
        self.profile = get_profile(self.cfg.profile)
        self.policy = (self.cfg.polling or self.bridge.polling).policy()
        self.tracker = PollingTracker()
        self.reconnect = Backoff(self.bridge.reconnect_initial_s, self.bridge.reconnect_max_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, poll, reconnect until ``stop``."""
        while not stop.is_set():
            link: BleLink | None = None
            try:
                sighting = await find_sighting(  # a fresh scan every time: fresh BLEDevice
                    self.cfg.scan_filter(),
                    timeout_s=self.bridge.scan_timeout_s,
                    backend=self.scanner_backend,
                )
                device = sighting.device
                self.status.rssi_dbm = sighting.rssi
                link = await connect(
                    device,
                    self.cfg.layouts(),
                    timeout_s=self.bridge.connect_timeout_s,
                    backend=self.client_backend,
                )
                self.status.connected = True
                self.reconnect.reset()
                wait = await self._poll_loop(link, device.address, stop)
            except (LinkError, BleakError, OSError, FrameError) as exc:
                self._failed(exc)
                self.tracker = self.tracker.after_link_failure()
                wait = self.reconnect.next_delay()
            finally:
                if link is not None:
                    await link.close()
                self.status.connected = False
            if wait is None:
                await stop.wait()  # the car sleeps and the policy says leave it alone
                return
            self.status.reconnects += 1
            await _sleep_or_stop(stop, wait)

    async def _poll_loop(self, link: BleLink, address: str, stop: asyncio.Event) -> float | None:
        """Poll over one link; returns the wait before reconnecting (None: stop polling)."""
        timeouts = SessionTimeouts(
            reply=self.bridge.reply_timeout_s, init=max(self.bridge.reply_timeout_s, 1.0)
        )
        session = make_session(link, self.profile, timeouts)
        if isinstance(session, BmsSession):
            session.daly_legacy = self.cfg.daly_legacy
        await session.initialise()
        while not stop.is_set():
            try:
                result = await session.poll()
            except NoDataError as exc:
                self._failed(exc)
                self.tracker = self.tracker.after_no_data()
            except LinkTimeoutError as exc:
                self._failed(exc)
                self.status.timeouts_in_row += 1
                if self.status.timeouts_in_row >= self.bridge.watchdog_timeouts:
                    self.status.watchdog_resets += 1
                    self.status.timeouts_in_row = 0
                    raise LinkError(f"watchdog: {self.bridge.watchdog_timeouts} timeouts") from exc
                continue
            except FrameError as exc:
                self._failed(exc)  # a bad frame: the link itself is fine
            else:
                self.status.timeouts_in_row = 0
                mono, wall = now_stamps()
                self.outbox.append(
                    BatterySample(
                        source_id=self.cfg.id,
                        source_address=address,
                        adapter_id=self.profile.kind.value,
                        profile_id=self.profile.id,
                        measurements=result.measurements,
                        raw_frames=result.raw_frames,
                        monotonic_ns=mono,
                        boot_id=self.boot_id,
                        wall_time_ms=wall,
                        clock_source=self.clock_source,
                        errors=result.errors,
                    )
                )
                self.wake.set()
                self.status.samples += 1
                self.status.last_sample_ms = wall
                self.tracker = self.tracker.after_sample(result.measurements, self.policy)
            self.status.state = self.tracker.state.value
            interval = self.policy.interval(self.tracker.state)
            if interval is None or self.cfg.release:
                return interval  # release mode: disconnect, reconnect after the interval
            await _sleep_or_stop(stop, interval)
            if link.lost:
                raise LinkError("link lost while idle")
        return 0.0

    def _failed(self, exc: BaseException) -> None:
        self.status.polls_failed += 1
        code = exc.code if isinstance(exc, BridgeError) else type(exc).__name__
        self.status.last_error = f"{code}: {exc}"


@dataclass
class Gateway:
    """All workers plus the uploader."""

    config: BridgeConfig
    scanner_backend: type[BaseBleakScanner] | None = None
    client_backend: type[BaseBleakClient] | None = None
    clock_source: ClockSource = field(default_factory=detect_clock_source)
    checkpoint: Checkpoint | None = None

    async def run(self, stop: asyncio.Event, *, drain_timeout_s: float = 10.0) -> None:
        """Run until ``stop`` is set, then try to upload what is left."""
        key = DeviceKey.load(self.config.key_file)
        outbox = Outbox(self.config.outbox, key, checkpoint=self.checkpoint)
        wake = asyncio.Event()
        boot_id = str(uuid.uuid4())
        workers = [
            DeviceWorker(
                d,
                self.config,
                outbox,
                wake,
                boot_id,
                self.clock_source,
                self.scanner_backend,
                self.client_backend,
            )
            for d in self.config.devices
        ]
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                uploader = Uploader(
                    outbox,
                    self.config.server_url,
                    client,
                    self.config.upload_batch,
                    Backoff(0.5, 60.0),
                    self.checkpoint,
                )
                tasks = [asyncio.create_task(w.run(stop)) for w in workers]
                tasks.append(
                    asyncio.create_task(uploader.run(stop, wake, self.config.upload_idle_s))
                )
                tasks.append(asyncio.create_task(self._write_status(stop, workers, outbox)))
                await asyncio.gather(*tasks)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(uploader.drain(), drain_timeout_s)
                self._status_once(workers, outbox)
        finally:
            outbox.close()

    async def _write_status(
        self, stop: asyncio.Event, workers: list[DeviceWorker], outbox: Outbox
    ) -> None:
        while not stop.is_set():
            self._status_once(workers, outbox)
            await _sleep_or_stop(stop, 1.0)

    def _status_once(self, workers: list[DeviceWorker], outbox: Outbox) -> None:
        path = self.config.status_path()
        data = {
            "updatedMs": time.time_ns() // 1_000_000,
            "deviceId": outbox.device_id,
            "outbox": asdict(outbox.status()),
            "links": [asdict(w.status) for w in workers],
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)  # atomic: a reader never sees half a file


def read_status(path: Path) -> dict[str, object] | None:
    """The last status the running gateway wrote, if any."""
    try:
        data: dict[str, object] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data
