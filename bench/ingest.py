"""Ingest benchmark: signed sample batches into PostgreSQL through the real GraphQL API.

`measure_ingest()` starts `bpp serve` on PostgreSQL (a fresh database on
`BPP_BENCH_DATABASE_URL`, default the local server's `postgres` user) and Redis
(`BPP_BENCH_REDIS_URL`, default DB 5 of the local server), registers 2,500 batteries and the
gateways that read them (each vehicle is one bound source, so every sample also updates its
battery's derived state), then plays the load of 2,500 vehicles sending one sample every half
second: each gateway uploads its vehicles' samples once a second as one signed batch (what
`bpp-bridge` does with `upload_idle_s = 1`). Batches are signed before the clock starts (the
gateways' work, not the server's). The load is open-loop — every gateway's tick comes at its
time whether or not the server answered the previous one — so a server that falls behind shows
it in the latency and in the achieved rate.

Figures: `ingest_samples_per_s` = accepted samples / (last answer − first send);
`ingest_p99_ms` = 99th percentile of the request latency seen by the gateways (send → answer,
loopback HTTP included, so an upper bound of the server's own latency).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import orjson
import rfc8785

from backend.auth.principal import Principal
from backend.kit.db import Database
from backend.orgs.roles import Role
from backend.orgs.service import get_or_create_organisation
from backend.passports import service as passports
from backend.passports.service import BatteryRegistration
from backend.settings import normalise_database_url
from backend.telemetry import devices
from ble_bridge.keys import DeviceKey
from ble_bridge.outbox import b64url

BPP = str(Path(sys.executable).parent / "bpp")
ANVIL = Path(__file__).resolve().parent.parent / "contracts" / "node_modules" / ".bin" / "anvil"
INGEST = (
    "mutation IngestSamples($input: IngestSamplesInput!) { ingestSamples(input: $input) { "
    "__typename ... on IngestSamplesResult { batchId results { sequence status code } } "
    "... on IngestError { code message } } }"
)


@dataclass(frozen=True)
class IngestFigures:
    samples_per_s: float
    p99_ms: float
    p50_ms: float
    max_ms: float
    offered_samples_per_s: float
    accepted: int
    requests: int
    errors: int
    vehicles: int
    gateways: int
    batch_size: int
    seconds: float
    workers: int
    server_cpu_s: float
    postgres_cpu_s: float
    loadgen_cpu_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "ingest_samples_per_s": round(self.samples_per_s),
            "ingest_p99_ms": round(self.p99_ms, 1),
            "ingest_p50_ms": round(self.p50_ms, 1),
            "ingest_max_ms": round(self.max_ms, 1),
            "ingest_offered_samples_per_s": round(self.offered_samples_per_s),
            "ingest_accepted": self.accepted,
            "ingest_requests": self.requests,
            "ingest_errors": self.errors,
            "ingest_vehicles": self.vehicles,
            "ingest_gateways": self.gateways,
            "ingest_batch_size": self.batch_size,
            "ingest_seconds": self.seconds,
            "ingest_workers": self.workers,
            "ingest_server_cpu_s": round(self.server_cpu_s, 2),
            "ingest_postgres_cpu_s": round(self.postgres_cpu_s, 2),
            "ingest_loadgen_cpu_s": round(self.loadgen_cpu_s, 2),
            # What one dedicated core would sustain: accepted samples per CPU second of the
            # server process, and of server + PostgreSQL together.
            "ingest_samples_per_server_cpu_s": round(self.accepted / self.server_cpu_s)
            if self.server_cpu_s
            else None,
            "ingest_samples_per_cpu_s": round(
                self.accepted / (self.server_cpu_s + self.postgres_cpu_s)
            )
            if self.server_cpu_s + self.postgres_cpu_s
            else None,
        }


def _sample(did: str, seq: int, vehicle: int, tick: int, wall_ms: int) -> dict[str, Any]:
    soc = 20.0 + (vehicle * 7 + tick) % 75
    cells = [round(3.30 + ((vehicle + i) % 9) * 0.003, 3) for i in range(16)]
    return {
        "deviceId": did,
        "sequence": seq,
        "sourceId": f"v{vehicle}",
        "sourceSequence": tick + 1,
        "sourceAddress": f"C8:47:8C:{vehicle >> 16 & 255:02X}:{vehicle >> 8 & 255:02X}:"
        f"{vehicle & 255:02X}",
        "adapterId": "jbd",
        "profileId": "jbd",
        "measurements": {
            "pack_voltage_v": round(sum(cells), 2),
            "pack_current_a": round(12.5 - (tick % 50), 2),
            "power_kw": 0.66,
            "soc_pct": soc,
            "cell_voltages_v": cells,
            "cell_voltage_min_v": min(cells),
            "cell_voltage_max_v": max(cells),
            "temperatures_c": [21.5 + vehicle % 5, 22.0, 23.5],
            "cycles": 112,
            "remaining_capacity_ah": 61.2,
            "nominal_capacity_ah": 100.0,
        },
        "rawFrames": [
            {
                "request": "dda50300fffd77",
                "response": "dd03001b14a0000011d027100000258200000000000000000021"
                "0310030b620b660b6ffa7577",
            }
        ],
        "errors": [],
        "monotonicNs": 1_000_000_000 + tick * 500_000_000,
        "bootId": "00000000-0000-4000-8000-000000000001",
        "wallTimeMs": wall_ms,
        "clockSource": "ntp",
    }


def _batch_body(key: DeviceKey, samples: list[dict[str, Any]]) -> bytes:
    batch_id = str(uuid.uuid4())
    batch: dict[str, Any] = {
        "deviceId": key.did,
        "batchId": batch_id,
        "idempotencyKey": f"{key.did}/{batch_id}",
        "samples": samples,
    }
    batch["signature"] = b64url(key.sign(rfc8785.dumps(batch)))
    return orjson.dumps({"query": INGEST, "variables": {"input": batch}})


async def _create_database(server: str) -> str:
    name = f"bpp_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + f"/{name}"


async def _drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    admin = await asyncpg.connect(server + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _register(url: str, keys: list[DeviceKey], per_gateway: int, vehicles: int) -> None:
    """The batteries, and each gateway with its vehicles' sources bound to them."""
    db = Database(normalise_database_url(url))
    try:
        async with db.unit_of_work() as session:
            maker = await get_or_create_organisation(session, "bench-cells")
            operator = await get_or_create_organisation(session, "bench-cpo")
            make = Principal(organisation_id=maker.id, role=Role.MANUFACTURER)
            battery_ids = []
            for vehicle in range(vehicles):
                battery = await passports.register_battery(
                    session,
                    make,
                    BatteryRegistration(
                        identifier=f"BENCH-{vehicle:06d}",
                        model="Bench pack 100 Ah",
                        manufacturer="Bench Cells",
                        chemistry="LFP",
                        rated_capacity_ah=100.0,
                        nominal_voltage_v=51.2,
                    ),
                )
                battery_ids.append(battery.id)
            cpo = Principal(organisation_id=operator.id, role=Role.CHARGE_POINT_OPERATOR)
            for g, key in enumerate(keys):
                first = g * per_gateway
                await devices.register_device(
                    session,
                    cpo,
                    key.did,
                    sources=[
                        devices.SourceBinding(f"v{v}", battery_ids[v])
                        for v in range(first, min(first + per_gateway, vehicles))
                    ],
                )
    finally:
        await db.dispose()


@contextmanager
def _anvil(needed: bool) -> Iterator[str | None]:
    """An anvil node when several workers need a shared chain (the embedded EVM is per process)."""
    if not needed:
        yield None
        return
    port = _free_port()
    node = subprocess.Popen(
        [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                if httpx.post(url, json=body).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("anvil did not start")
            time.sleep(0.1)
        yield url
    finally:
        node.terminate()
        node.wait(10)


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_process(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each of these processes so far (Linux /proc)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return found


def _cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_by_process(pids).values())


def _cpu_since(before: dict[int, float], comm: str) -> float:
    """CPU used since `before` by the processes named `comm`, counting ones started since."""
    after = _cpu_by_process(_processes(comm=comm))
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def _processes(root: int | None = None, comm: str | None = None) -> list[int]:
    """The process `root` and its descendants, or every process named `comm`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        pid = int(entry.name)
        if (comm is not None and name == comm) or (root is not None and root in (pid, parent)):
            found.append(pid)
    return found


def _serve(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [BPP, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bpp serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a `bpp serve` the way an operator does (SIGINT), killing it after 30 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _play(
    url: str, bodies: list[list[bytes]], samples_per_batch: list[int], period_s: float
) -> tuple[list[float], int, int, float]:
    """Each gateway sends its tick-th batch at start + tick·period (+ its own phase)."""
    latencies: list[float] = []
    accepted = errors = 0
    gateways = len(bodies)
    connector = aiohttp.TCPConnector(limit=0)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector) as http:
        start = time.perf_counter() + 0.5
        last_answer = start

        async def gateway(g: int) -> None:
            nonlocal accepted, errors, last_answer
            phase = period_s * g / gateways
            for tick, body in enumerate(bodies[g]):
                at = start + phase + tick * period_s
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as reply:
                    payload = orjson.loads(await reply.read())
                answered = time.perf_counter()
                latencies.append((answered - sent) * 1000)
                last_answer = max(last_answer, answered)
                result = (payload.get("data") or {}).get("ingestSamples") or {}
                if result.get("__typename") != "IngestSamplesResult":
                    errors += 1
                    if errors <= 3:
                        sys.stderr.write(f"ingest error: {str(payload)[:500]}\n")
                    continue
                accepted += sum(1 for r in result["results"] if r["status"] == "ACCEPTED")
                if len(result["results"]) != samples_per_batch[g]:
                    errors += 1

        # Gateways send concurrently, each its own batches in order (one in flight, like
        # the bridge).
        tasks = [asyncio.create_task(gateway(g)) for g in range(gateways)]
        await asyncio.gather(*tasks)
    return latencies, accepted, errors, last_answer - start


def measure_ingest(
    *,
    vehicles: int = 2500,
    gateways: int = 50,
    sample_period_s: float = 0.5,
    upload_period_s: float = 1.0,
    seconds: float = 20.0,
    workers: int = 1,
) -> IngestFigures:
    """Run the ingest load against a fresh `bpp serve` on PostgreSQL + Redis; the figures."""
    server = os.environ.get(
        "BPP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("BPP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
    per_gateway = -(-vehicles // gateways)
    keys = [DeviceKey.generate() for _ in range(gateways)]
    ticks = int(seconds / upload_period_s)
    per_upload = round(upload_period_s / sample_period_s)
    now_ms = int(time.time() * 1000)
    bodies: list[list[bytes]] = []
    sizes: list[int] = []
    for g, key in enumerate(keys):
        mine = range(g * per_gateway, min((g + 1) * per_gateway, vehicles))
        seq = 0
        batches = []
        for tick in range(ticks):
            samples = []
            for k in range(per_upload):
                for v in mine:
                    seq += 1
                    wall = now_ms + int((tick * per_upload + k) * sample_period_s * 1000)
                    samples.append(_sample(key.did, seq, v, tick * per_upload + k, wall))
            batches.append(_batch_body(key, samples))
        bodies.append(batches)
        sizes.append(len(mine) * per_upload)

    database = asyncio.run(_create_database(server))
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir, _anvil(workers > 1) as chain:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BPP_")}
        if chain is not None:
            env["BPP_CHAIN_RPC_URL"] = chain
        env.update(
            BPP_DATA_DIR=data_dir,
            BPP_DATABASE_URL=database,
            BPP_REDIS_URL=redis_url,
            BPP_TELEMETRY_COMPACT_INTERVAL_S="0",
            BPP_TELEMETRY_MAX_BATCH=str(max(sizes) + 1),
            # Every gateway of the load comes from 127.0.0.1 and uploads without a bearer
            # token (the batch signature is its proof): the per-IP and anonymous limits would
            # otherwise refuse the load itself.
            BPP_RATE_LIMIT_IP_PER_S="1000000",
            BPP_RATE_LIMITS=orjson.dumps({"anonymous": 1_000_000}).decode(),
        )
        log = Path(data_dir) / "serve.log"
        process = _serve(env, port, workers, log)
        try:
            asyncio.run(_register(database, keys, per_gateway, vehicles))
            server_pids = _processes(root=process.pid)
            server_before = _cpu_seconds(server_pids)
            pg_before = _cpu_by_process(_processes(comm="postgres"))
            own_before = time.process_time()
            latencies, accepted, errors, elapsed = asyncio.run(
                _play(f"http://127.0.0.1:{port}/graphql", bodies, sizes, upload_period_s)
            )
            loadgen_cpu = time.process_time() - own_before
            server_cpu = _cpu_seconds(server_pids) - server_before
            pg_cpu = _cpu_since(pg_before, "postgres")
        except Exception:
            sys.stderr.write(log.read_text()[-5000:])
            raise
        finally:
            _stop(process)
            asyncio.run(_drop_database(database))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return IngestFigures(
        samples_per_s=accepted / elapsed,
        p99_ms=p99,
        p50_ms=statistics.median(latencies),
        max_ms=latencies[-1],
        offered_samples_per_s=vehicles / sample_period_s,
        accepted=accepted,
        requests=len(latencies),
        errors=errors,
        vehicles=vehicles,
        gateways=gateways,
        batch_size=max(sizes),
        seconds=seconds,
        workers=workers,
        server_cpu_s=server_cpu,
        postgres_cpu_s=pg_cpu,
        loadgen_cpu_s=loadgen_cpu,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    import json

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    print(json.dumps(measure_ingest(seconds=seconds, workers=workers).as_json()))
