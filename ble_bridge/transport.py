"""bleak transport: filtered scans, fresh connections, notification links.

Rules this module keeps (each one is a real-world failure otherwise):

* connect with the ``BLEDevice`` of a *fresh* scan — a cached one may name a handle the stack
  has forgotten (device power-cycled, macOS renamed it);
* subscribe to notifications *before* the first write, or the first reply is lost;
* pass ``response=`` explicitly on every write;
* disconnect handling is idempotent: the stack's callback, our own close and a failed write may
  all report the same loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError
from bleak_retry_connector import establish_connection

from ble_bridge.errors import BluetoothUnavailableError, DeviceNotFoundError, LinkError
from ble_bridge.gatt import GattLayout, layout_for_services


@dataclass(frozen=True, slots=True)
class ScanFilter:
    """What identifies a device in advertisements; every given criterion must match."""

    address: str | None = None
    name_pattern: str | None = None
    service_uuids: tuple[str, ...] = ()
    manufacturer_id: int | None = None

    def matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        """True when the advertisement fits."""
        if self.address is not None and device.address.upper() != self.address.upper():
            return False
        if self.name_pattern is not None:
            name = adv.local_name or device.name or ""
            if not re.search(self.name_pattern, name):
                return False
        if self.service_uuids:
            offered = {u.lower() for u in adv.service_uuids}
            if not offered.intersection(u.lower() for u in self.service_uuids):
                return False
        return self.manufacturer_id is None or self.manufacturer_id in adv.manufacturer_data


@dataclass(frozen=True, slots=True)
class Sighting:
    """A device seen in a scan."""

    device: BLEDevice
    name: str | None
    rssi: int
    service_uuids: tuple[str, ...]


async def scan(
    *,
    duration_s: float = 5.0,
    service_uuids: list[str] | None = None,
    backend: type[BaseBleakScanner] | None = None,
) -> list[Sighting]:
    """Everything advertising during ``duration_s`` (optionally filtered by service)."""
    seen: dict[str, Sighting] = {}

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        seen[device.address] = Sighting(
            device, adv.local_name or device.name, adv.rssi, tuple(adv.service_uuids)
        )

    try:
        async with BleakScanner(on_adv, service_uuids, backend=backend):
            await asyncio.sleep(duration_s)
    except (BleakError, OSError) as exc:
        raise BluetoothUnavailableError(f"scan failed: {type(exc).__name__}: {exc}") from exc
    return sorted(seen.values(), key=lambda s: -s.rssi)


async def find_sighting(
    flt: ScanFilter, *, timeout_s: float = 10.0, backend: type[BaseBleakScanner] | None = None
) -> Sighting:
    """Scan until a device matches ``flt``; raises :class:`DeviceNotFoundError`."""
    found: asyncio.Future[Sighting] = asyncio.get_running_loop().create_future()

    def on_adv(device: BLEDevice, adv: AdvertisementData) -> None:
        if not found.done() and flt.matches(device, adv):
            name = adv.local_name or device.name
            found.set_result(Sighting(device, name, adv.rssi, tuple(adv.service_uuids)))

    uuids = list(flt.service_uuids) or None
    try:
        async with BleakScanner(on_adv, uuids, backend=backend):
            return await asyncio.wait_for(found, timeout_s)
    except TimeoutError:
        raise DeviceNotFoundError(f"no device matching {flt} within {timeout_s} s") from None
    except (BleakError, OSError) as exc:
        raise BluetoothUnavailableError(f"scan failed: {type(exc).__name__}: {exc}") from exc


async def find_device(
    flt: ScanFilter, *, timeout_s: float = 10.0, backend: type[BaseBleakScanner] | None = None
) -> BLEDevice:
    """The ``BLEDevice`` of a fresh scan matching ``flt`` (see :func:`find_sighting`)."""
    return (await find_sighting(flt, timeout_s=timeout_s, backend=backend)).device


@dataclass
class BleLink:
    """A connected peripheral: notifications in a queue, chunked explicit-response writes."""

    client: BleakClient
    layout: GattLayout
    notifications: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    _lost: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False

    @property
    def lost(self) -> bool:
        """True once the link is gone (peer, stack or our own close)."""
        return self._lost.is_set() or not self.client.is_connected

    def mark_lost(self) -> None:
        """Idempotent: called from bleak's disconnect callback and from failures."""
        self._lost.set()

    async def open(self) -> None:
        """Subscribe before anything is written."""
        try:
            await self.client.start_notify(self.layout.notify, self._on_notify)
        except (BleakError, OSError) as exc:
            self.mark_lost()
            raise LinkError(f"cannot subscribe to {self.layout.notify}: {exc}") from exc

    def _on_notify(self, _char: object, data: bytearray) -> None:
        self.notifications.put_nowait(bytes(data))

    async def write(self, data: bytes) -> None:
        """Write in MTU-sized pieces with the layout's explicit ``response`` flag."""
        if self.lost:
            raise LinkError("write on a lost link")
        size = max(20, self.client.mtu_size - 3)
        try:
            for i in range(0, len(data), size):
                await self.client.write_gatt_char(
                    self.layout.write, data[i : i + size], response=self.layout.write_response
                )
        except (BleakError, OSError) as exc:
            self.mark_lost()
            raise LinkError(f"write failed: {exc}") from exc

    async def close(self) -> None:
        """Unsubscribe and disconnect; safe to call any number of times."""
        if self._closed:
            return
        self._closed = True
        self.mark_lost()
        with contextlib.suppress(BleakError, OSError, KeyError, ValueError):
            if self.client.is_connected:
                await self.client.stop_notify(self.layout.notify)
        with contextlib.suppress(BleakError, OSError):
            await self.client.disconnect()


async def connect(
    device: BLEDevice,
    layout: GattLayout | tuple[GattLayout, ...],
    *,
    timeout_s: float = 15.0,
    backend: type[BaseBleakClient] | None = None,
    attempts: int = 2,
) -> BleLink:
    """Connect to a freshly scanned ``device`` and subscribe; raises :class:`LinkError`.

    With several candidate layouts (ELM327 clones differ), the first one whose service the
    peripheral offers is used.
    """
    holder: list[BleLink] = []

    def on_disconnect(_client: BleakClient) -> None:
        for link in holder:
            link.mark_lost()

    try:
        # bleak-retry-connector retries the transient BlueZ failures (le-connection-abort,
        # out of slots, services changed) with its own short back-off and turns the rest into
        # errors with advice; our worker adds the long back-off and the fresh scan.
        client = await asyncio.wait_for(
            establish_connection(
                BleakClient,
                device,
                device.name or device.address,
                on_disconnect,
                max_attempts=attempts,
                timeout=timeout_s,
                backend=backend,
            ),
            timeout_s,
        )
    except (BleakError, OSError, TimeoutError) as exc:
        raise LinkError(f"cannot connect to {device.address}: {exc}") from exc
    candidates = layout if isinstance(layout, tuple) else (layout,)
    offered = {service.uuid.lower() for service in client.services}
    try:
        chosen = layout_for_services(candidates, offered)
    except KeyError as exc:
        with contextlib.suppress(BleakError, OSError):
            await client.disconnect()
        raise LinkError(f"{device.address}: {exc.args[0]}", advice="wrong profile?") from exc
    link = BleLink(client, chosen)
    holder.append(link)
    await link.open()
    return link
