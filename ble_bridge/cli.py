"""``bpp-bridge``: the gateway's command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ble_bridge.errors import BridgeError
from ble_bridge.keys import DeviceKey
from ble_bridge.profiles import PROFILES, decode_capture, parse_request

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


def main() -> None:
    """Console-script entry point."""
    app()
