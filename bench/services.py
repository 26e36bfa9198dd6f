"""Charging & safety benchmark: ``python -m bench.services --json``.

Starts ``bpp serve`` (one uvicorn process, SQLite in a temporary data dir, Redis DB 7 of the
local server and an anvil node started here — ``BPP_BENCH_REDIS_URL`` /
``BPP_BENCH_CHAIN_RPC_URL`` name others, ``--embedded`` uses the embedded Valkey and the
in-process EVM instead) after seeding it in-process with ``--batteries``
batteries installed in vehicles with plates (one in ten with an open overheating alert), then
drives the parking gate's REST endpoint (``GET /parking/v1/decision?plate=…&underground=true``,
parking-operator API key) from a load generator in this process (raw HTTP/1.1 keep-alive
connections, so the generator costs little of the two cores it shares with the server):

* ``parking_p99_ms``: 99th percentile latency at an offered load of ``--rate`` decisions/s
  (open loop: each request is timed from when it was due, so a server that falls behind
  shows in the latency, not as a lower rate), warm cache.
* ``parking_decisions_per_s``: the decisions/s the server completed at that offered load.
* ``parking_max_decisions_per_s`` / ``parking_p99_ms_at_max``: closed loop with
  ``--connections`` connections, as fast as the server answers.
* ``charging_credentials_per_s``: ``requestChargingCredential`` (GraphQL, charge-point-operator
  key) closed loop with 4 connections: each one a safety summary, a status-list index, a
  signed ``ChargingSafetyCredential`` (ecdsa-rdfc-2019) and its rows.

Rate limits stay on (the token-bucket script runs for every request) but are raised above the
offered load. The load average before and after, and the server's CPU seconds, are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    shared = {
        "BPP_REDIS_URL": env.get("BPP_BENCH_REDIS_URL", ""),
        "BPP_CHAIN_RPC_URL": env.get("BPP_BENCH_CHAIN_RPC_URL", ""),
    }
    for name in list(env):
        if name.startswith("BPP_"):
            del env[name]
    env.update({name: value for name, value in shared.items() if value})
    env.update(
        {
            "BPP_DATA_DIR": str(data_dir),
            "BPP_RATE_LIMITS": json.dumps(
                {"parking-operator": 100_000.0, "charge-point-operator": 100_000.0}
            ),
            "BPP_RATE_LIMIT_IP_PER_S": "200000",
            "BPP_TELEMETRY_COMPACT_INTERVAL_S": "0",
        }
    )
    return env


def _use_local_services(stack: contextlib.ExitStack) -> None:
    """Unless named already: Redis DB 7 of the local server (flushed) and an anvil node.

    The deployment shape: with the in-process EVM, the chain work of the seeding (anchors,
    status lists) runs in the server's own event loop and shows as stalls of tens of
    milliseconds in the gate's tail latency, which no deployment has.
    """
    from bench.ingest import _anvil

    os.environ.setdefault("BPP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    if "BPP_BENCH_CHAIN_RPC_URL" not in os.environ:
        url = stack.enter_context(_anvil(True))
        assert url is not None
        os.environ["BPP_BENCH_CHAIN_RPC_URL"] = url


def _vin(index: int) -> str:
    from backend.vehicles.service import vin_check_digit

    body = f"KMHBENCH0{index:08d}"
    return body[:8] + vin_check_digit(body) + body[9:]


async def _seed(data_dir: Path, count: int, hot_every: int) -> dict[str, Any]:
    """Batteries in vehicles, keys of a parking operator and a charge-point operator."""
    os.environ.update(_environment(data_dir))
    from backend.auth.principal import Principal
    from backend.lifecycle import service as lifecycle
    from backend.orgs.roles import Role
    from backend.orgs.service import create_api_key, get_or_create_organisation
    from backend.passports import service as passports
    from backend.runtime import Runtime
    from backend.safety import rules
    from backend.safety.service import apply_evaluation
    from backend.safety.thresholds import profile_for
    from backend.settings import Settings
    from backend.vehicles.service import register_vehicle

    settings = Settings()
    if settings.redis_url:  # a scratch database named by BPP_BENCH_REDIS_URL: start empty
        from backend.kit.redis import connect

        scratch = connect(settings.redis_url)
        await scratch.flushdb()
        await scratch.aclose()
    runtime = await Runtime.start(settings, background=False)
    plates: list[str] = []
    battery_ids: list[str] = []
    try:
        secret = settings.secret_key.get_secret_value()
        async with runtime.db.unit_of_work() as session:
            maker = await get_or_create_organisation(session, "bench-cells")
            gates = await get_or_create_organisation(session, "bench-parking")
            chargers = await get_or_create_organisation(session, "bench-charging")
            _, gate_key = await create_api_key(session, gates, Role.PARKING_OPERATOR, secret)
            _, charge_key = await create_api_key(
                session, chargers, Role.CHARGE_POINT_OPERATOR, secret
            )
        principal = Principal(organisation_id=maker.id, role=Role.MANUFACTURER)
        now = datetime.now(UTC)
        for index in range(count):
            async with runtime.db.unit_of_work() as session:
                battery = await passports.register_battery(
                    session,
                    principal,
                    passports.BatteryRegistration(
                        identifier=f"BENCH-{index:06d}-{uuid.uuid4().hex[:6].upper()}",
                        model="Bench 77 kWh NMC",
                        manufacturer="Bench Cells",
                        chemistry="NMC",
                        rated_capacity_ah=111.2,
                        nominal_voltage_v=697.0,
                    ),
                )
                await lifecycle.record_event(
                    session, principal, battery.id, lifecycle.EventKind.MANUFACTURED
                )
                plate = f"{index % 900 + 100}BN{index:04d}"
                vehicle = await register_vehicle(session, principal, _vin(index), plate=plate)
                await lifecycle.install_battery(session, principal, battery.id, vehicle.id)
                if hot_every and index % hot_every == 0:
                    reading = rules.Reading(
                        now, {"temperature_max_c": 67.0, "temperatures_c": [61.0, 67.0]}, "bench"
                    )
                    evaluation = rules.evaluate(profile_for("NMC"), [reading], rules.Previous())
                    await apply_evaluation(session, battery.id, evaluation, now)
            plates.append(plate)
            battery_ids.append(battery.id)
    finally:
        await runtime.stop()
    return {
        "gate_key": gate_key,
        "charge_key": charge_key,
        "plates": plates,
        "battery_ids": battery_ids,
    }


class Connection:
    """One HTTP/1.1 keep-alive connection; requests are pre-encoded bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
                break
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _get(port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n\r\n"
    ).encode()


def _post(port: int, path: str, key: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _open_loop(
    port: int, requests: Sequence[bytes], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    """Open loop, the way wrk2 does it: request k is due at start + k / rate and goes out on
    connection k mod N; each one is timed from when it was due, so a late answer delays the
    next requests of its connection and their wait counts (no coordinated omission)."""
    opened = []
    for index in range(connections):
        connection = await Connection.open(port)
        await connection.send(requests[index % len(requests)])  # opened before the clock
        opened.append(connection)
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def worker(offset: int, connection: Connection) -> None:
        nonlocal errors
        for index in range(offset, total, connections):
            due = start + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            status, _ = await connection.send(requests[index % len(requests)])
            latencies.append(time.perf_counter() - due)
            if status != 200:
                errors += 1

    await asyncio.gather(*(worker(i, c) for i, c in enumerate(opened)))
    elapsed = time.perf_counter() - start
    for connection in opened:
        connection.close()
    return {
        "completed_per_s": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "errors": errors,
        "requests": len(latencies),
    }


async def _closed_loop(
    port: int, requests: Sequence[bytes], seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        connection = await Connection.open(port)
        index = offset
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                status, _ = await connection.send(requests[index % len(requests)])
                latencies.append(time.perf_counter() - began)
                if status != 200:
                    errors += 1
                index += connections
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    return {
        "per_s": len(latencies) / elapsed,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "errors": errors,
    }


def _settled(data_dir: Path) -> bool:
    """Every seeded lifecycle event anchored and no chain write open: the embedded EVM runs
    in the server's process, so its transactions would otherwise land inside the window."""
    with sqlite3.connect(data_dir / "bpp.sqlite3") as db:
        unanchored = db.execute(
            "SELECT count(*) FROM lifecycle_event WHERE anchor_id IS NULL"
        ).fetchone()[0]
        open_writes = db.execute(
            "SELECT count(*) FROM chain_transaction WHERE status IN ('pending', 'sent', 'mined')"
        ).fetchone()[0]
    return bool(unanchored == 0 and open_writes == 0)


async def _settle(data_dir: Path, timeout_s: float = 120.0) -> float:
    began = time.perf_counter()
    while not _settled(data_dir):
        if time.perf_counter() - began > timeout_s:
            raise RuntimeError("the server's chain writes did not settle")
        await asyncio.sleep(0.5)
    return time.perf_counter() - began


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of the server and its live worker processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
        pending += [int(child) for child in children]
    return total


CHARGING_QUERY = (
    "mutation R($input: RequestChargingCredentialInput!) { requestChargingCredential("
    "input: $input) { __typename ... on ChargingSafetyCredential { credentialId maxSocPct } "
    "... on ChargingRefusal { grade } ... on SafetyError { code message } } }"
)


async def _measure(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    seeded = await _seed(data_dir, args.batteries, args.hot_every)
    # The seeding left a large heap in this process (the runtime, the embedded chain): keep it
    # out of the collector's passes, or the load generator's own pauses count as latency.
    gc.collect()
    gc.freeze()
    port = _free_port()
    log = (data_dir / "server.log").open("w")
    code = "from backend.cli import app; app()"
    if args.profile:
        code = (
            "import cProfile; from backend.cli import app; "
            f"cProfile.run('app(standalone_mode=False)', {str(args.profile)!r})"
        )
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        env=_environment(data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the server did not start; see {data_dir / 'server.log'}")
        gate_requests = [
            _get(port, f"/parking/v1/decision?plate={plate}&underground=true", seeded["gate_key"])
            for plate in seeded["plates"]
        ]
        settle_s = await _settle(data_dir)
        # Warm the cache (every plate and battery) and the server's code paths; this also
        # lets the server finish what follows the seeded events' anchor (the mirror).
        warm = await _closed_loop(port, gate_requests, 3.0, 4)
        if warm["errors"]:
            raise RuntimeError(f"gate requests failed while warming: {warm}")
        load_before = os.getloadavg()
        cpu_before = _cpu_seconds(server.pid)
        offered = await _open_loop(port, gate_requests, args.rate, args.seconds, args.connections)
        cpu_open = _cpu_seconds(server.pid) - cpu_before
        saturated = await _closed_loop(port, gate_requests, args.seconds, args.connections)
        load_after = os.getloadavg()
        charging_requests = [
            _post(
                port,
                "/graphql",
                seeded["charge_key"],
                json.dumps(
                    {
                        "query": CHARGING_QUERY,
                        "variables": {
                            "input": {
                                "batteryId": battery_id,
                                "chargerId": f"EVSE-{secrets.randbelow(100)}",
                                "underground": True,
                            }
                        },
                    }
                ).encode(),
            )
            for battery_id in seeded["battery_ids"]
        ]
        charging = await _closed_loop(port, charging_requests, args.charging_seconds, 4)
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), timeout=60)
        except TimeoutError:
            server.kill()
            await server.wait()
        log.close()
    return {
        "parking_decisions_per_s": round(offered["completed_per_s"], 1),
        "parking_p99_ms": round(offered["p99_ms"], 2),
        "parking_p50_ms": round(offered["p50_ms"], 2),
        "parking_offered_per_s": args.rate,
        "parking_errors": offered["errors"] + saturated["errors"],
        "parking_server_cpu_ms_per_decision": round(cpu_open / offered["requests"] * 1000, 3),
        "parking_max_decisions_per_s": round(saturated["per_s"], 1),
        "parking_p99_ms_at_max": round(saturated["p99_ms"], 2),
        "charging_credentials_per_s": round(charging["per_s"], 1),
        "charging_p99_ms": round(charging["p99_ms"], 1),
        "charging_errors": charging["errors"],
        "batteries": args.batteries,
        "connections": args.connections,
        "seconds": args.seconds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
        "settle_s": round(settle_s, 1),
        "server": (
            f"bpp serve --workers {args.workers}, SQLite, "
            + ("Redis " if os.environ.get("BPP_BENCH_REDIS_URL") else "embedded Valkey ")
            + (
                "+ external EVM node"
                if os.environ.get("BPP_BENCH_CHAIN_RPC_URL")
                else "+ in-process EVM"
            )
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batteries", type=int, default=500)
    parser.add_argument("--hot-every", type=int, default=10, help="one in N has an alert")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered decisions/s")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--charging-seconds", type=float, default=5.0)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn workers; more than 1 needs BPP_BENCH_REDIS_URL (a scratch database, "
        "flushed) and BPP_BENCH_CHAIN_RPC_URL (e.g. anvil)",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write the server's cProfile stats here"
    )
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="run the server on the embedded Valkey and in-process EVM instead of the local "
        "Redis and an anvil node started here",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if not args.embedded:
            _use_local_services(stack)
        folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bpp-bench-services-"))
        result = asyncio.run(_measure(args, Path(folder)))
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
