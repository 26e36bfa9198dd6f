"""``bpp-bridge``: the gateway's command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from ble_bridge import transport
from ble_bridge.config import BridgeConfig, DeviceConfig, PollingConfig, load_config
from ble_bridge.errors import BridgeError, ConfigInvalidError
from ble_bridge.gateway import Gateway, read_status
from ble_bridge.gatt import ALL_LAYOUTS
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import Outbox
from ble_bridge.profiles import PROFILES, decode_capture, parse_request
from ble_bridge.sample import ClockSource
from ble_bridge.simulator import SCENARIOS, SimWorld, build_world

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _print(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _fail(exc: BridgeError) -> None:
    _print({"error": exc.to_json()})
    raise typer.Exit(1)


@app.command()
def decode(
    profile: Annotated[str, typer.Option(help=f"one of: {', '.join(sorted(PROFILES))}")],
    hex_: Annotated[
        list[str],
        typer.Option(
            "--hex",
            help="payload or raw adapter output (repeat for several notifications); "
            "the two characters \\r stand for a carriage return",
        ),
    ],
    request: Annotated[
        str | None, typer.Option(help="request, e.g. 220101 (needed for bare Daly payloads)")
    ] = None,
) -> None:
    """Decode a captured frame and print the normalised sample as JSON."""
    try:
        m = decode_capture(profile, hex_, parse_request(request))
    except BridgeError as exc:
        _fail(exc)
        return
    _print(m.to_json())


@app.command()
def keygen(
    out: Annotated[Path, typer.Option(help="PEM file for the private key (0600)")] = Path(
        "bridge-key.pem"
    ),
) -> None:
    """Create the gateway's Ed25519 device key and print its did:key (register it)."""
    key = DeviceKey.generate()
    try:
        key.save(out)
    except FileExistsError:
        _print({"error": {"code": "exists", "message": f"{out} exists; not overwritten"}})
        raise typer.Exit(1) from None
    _print({"deviceId": key.did, "keyFile": str(out)})


def _shared_dir(vectors: Path | None) -> Path:
    if vectors is not None:
        return vectors
    env = os.environ.get("BPP_SHARED_DIR")
    return Path(env) if env else Path.cwd().parent / "shared"


SIM_DEVICES = (
    DeviceConfig(id="car-1", profile="hkmc-ev", address="SIM:CA:R0:00:00:01"),
    DeviceConfig(id="pack-jbd", profile="jbd", address="SIM:JB:D0:00:00:02"),
    DeviceConfig(id="pack-jk", profile="jk", address="SIM:JK:00:00:00:03", release=True),
)
SIM_POLLING = PollingConfig(
    charging_s=0.2, active_s=0.2, idle_s=0.3, parked_s=2.0, asleep_s=5.0, unreachable_s=0.5
)


def _scenario(name: str, vectors: Path | None) -> SimWorld:
    try:
        return build_world(name, _shared_dir(vectors))
    except KeyError:
        _fail(ConfigInvalidError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}"))
        raise
    except OSError as exc:
        _fail(ConfigInvalidError(f"cannot read the recorded vectors: {exc}"))
        raise


async def _run_gateway(gateway: Gateway, duration: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    await gateway.run(stop)


@app.command()
def scan(
    simulate: Annotated[str | None, typer.Option(help="scan a simulated scenario")] = None,
    duration: Annotated[float, typer.Option(help="seconds")] = 5.0,
    vectors: Annotated[Path | None, typer.Option(help="shared/ folder (simulator)")] = None,
) -> None:
    """List advertising devices (known adapter services are named)."""
    backend = _scenario(simulate, vectors).scanner_backend() if simulate else None
    try:
        found = asyncio.run(transport.scan(duration_s=duration, backend=backend))
    except BridgeError as exc:
        _fail(exc)
        return
    by_service: dict[str, list[str]] = {}
    for g in ALL_LAYOUTS.values():
        by_service.setdefault(g.service, []).append(g.id)
    for s in found:
        layouts = sorted({i for u in s.service_uuids for i in by_service.get(u.lower(), [])})
        _print(
            {
                "address": s.device.address,
                "name": s.name,
                "rssi": s.rssi,
                "serviceUuids": list(s.service_uuids),
                "layouts": layouts,
            }
        )


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="TOML configuration")],
    simulate: Annotated[str | None, typer.Option(help="replace devices by a scenario")] = None,
    duration: Annotated[float | None, typer.Option(help="stop after seconds")] = None,
    vectors: Annotated[Path | None, typer.Option(help="shared/ folder (simulator)")] = None,
) -> None:
    """Run the bridge: poll devices, store samples durably, upload them."""
    try:
        cfg = load_config(config)
    except BridgeError as exc:
        _fail(exc)
        return
    gateway = Gateway(cfg)
    if simulate:
        world = _scenario(simulate, vectors)
        devices = cfg.devices or SIM_DEVICES
        cfg = cfg.model_copy(update={"devices": devices})
        gateway = Gateway(
            cfg, world.scanner_backend(), world.client_backend(), ClockSource.SIMULATED
        )
    asyncio.run(_run_gateway(gateway, duration))


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help=f"one of: {', '.join(SCENARIOS)}")],
    server: Annotated[str, typer.Option(help="GraphQL endpoint URL")],
    key: Annotated[Path, typer.Option(help="device key (created if missing)")] = Path(
        "bridge-key.pem"
    ),
    outbox: Annotated[Path, typer.Option(help="SQLite outbox")] = Path("bridge-outbox.sqlite"),
    duration: Annotated[float | None, typer.Option(help="stop after seconds")] = None,
    vectors: Annotated[Path | None, typer.Option(help="shared/ folder")] = None,
) -> None:
    """Run the whole bridge against simulated devices and a real server."""
    world = _scenario(scenario, vectors)
    if not key.exists():
        DeviceKey.generate().save(key)
        _print({"deviceId": DeviceKey.load(key).did, "keyFile": str(key), "note": "register"})
    cfg = BridgeConfig(
        server_url=server,
        key_file=key,
        outbox=outbox,
        devices=SIM_DEVICES,
        polling=SIM_POLLING,
        reconnect_initial_s=0.2,
        reconnect_max_s=2.0,
        scan_timeout_s=2.0,
        connect_timeout_s=2.0,
        reply_timeout_s=0.5,
        upload_idle_s=0.5,
    )
    gateway = Gateway(cfg, world.scanner_backend(), world.client_backend(), ClockSource.SIMULATED)
    asyncio.run(_run_gateway(gateway, duration))


@app.command()
def status(
    config: Annotated[Path, typer.Option(help="TOML configuration")],
) -> None:
    """Outbox depth, last upload, link quality per device."""
    try:
        cfg = load_config(config)
        box = Outbox(cfg.outbox, DeviceKey.load(cfg.key_file))
    except BridgeError as exc:
        _fail(exc)
        return
    try:
        outbox_status = asdict(box.status())
    finally:
        box.close()
    live = read_status(cfg.status_path())
    _print(
        {
            "deviceId": box.device_id,
            "outbox": outbox_status,
            "links": live.get("links") if live else None,
            "statusUpdatedMs": live.get("updatedMs") if live else None,
        }
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
