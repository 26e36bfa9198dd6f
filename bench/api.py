"""Mobile API benchmark: ``python -m bench.api --json``.

Starts the platform the way a deployment runs it — ``bpp serve --workers 2`` in
**production** mode on PostgreSQL (a fresh database on ``BPP_BENCH_DATABASE_URL``, default
the local server's ``postgres`` user), Redis (``BPP_BENCH_REDIS_URL``, default DB 6 of the
local server) and an anvil node — and plays the mobile apps' read traffic against it:

* setup (not timed): the same services in development mode seed ``--owners`` drivers, each
  owning one battery with an issued passport, a vehicle, lifecycle events, SOH measurements
  and telemetry (``tests/web/seed.py``, through the GraphQL API); the three documents below
  are registered with ``bpp graphql register-queries``; the production server then starts
  with the allow-list on, and with the drivers' rate limit (and the per-IP one: every
  request comes from 127.0.0.1) set above the load;
* load: requests are sent open-loop at ``--rate`` per second (each at its time, whether or
  not earlier ones were answered) for ``--seconds``, by persisted-query hash only, mixed
  evenly: **passport by id** (anonymous, public data, passport status), **my batteries with
  latest state** (a driver's token: ``me { batteries { … latestState … } }``) and **one
  battery's recent events** (the owner's token).

Figures: ``throughput_per_s`` = answered requests / (last answer − first send);
``p50_ms`` / ``p95_ms`` / ``p99_ms`` of send → answer over loopback HTTP; ``errors`` counts
non-200 answers and GraphQL errors (there must be none); ``loadgen_cpu_share`` = the load
generator's CPU time / (elapsed × cores), i.e. the share of this machine it took from the
server. ``server_cpu_ms_per_request`` and ``postgres_cpu_ms_per_request`` say where the rest
went.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.ingest import (
    BPP,
    _anvil,
    _cpu_by_process,
    _cpu_seconds,
    _cpu_since,
    _create_database,
    _drop_database,
    _free_port,
    _processes,
    _serve,
    _stop,
)

PASSPORT = (
    "query Passport($id: ID!) { battery(id: $id) { identifier status "
    "passport { credentialId status } "
    "attributes(groups: [IDENTIFICATION, CARBON_FOOTPRINT]) { term value unit } } }"
)
MY_BATTERIES = (
    "query MyBatteries { me { batteries { id identifier status passport { status } "
    "latestState { measuredAt socPct sohPct temperatureMaxC } } } }"
)
RECENT_EVENTS = (
    "query RecentEvents($id: ID!) { battery(id: $id) { events { kind sequence occurredAt "
    "anchored } } }"
)
DOCUMENTS = {
    hashlib.sha256(d.encode()).hexdigest(): d for d in (PASSPORT, MY_BATTERIES, RECENT_EVENTS)
}


@dataclass(frozen=True)
class Owner:
    token: str
    battery: str  # global id


def _environment(
    data_dir: str, database: str, redis_url: str, chain: str, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPP_")}
    env.update(
        BPP_DATA_DIR=data_dir,
        BPP_DATABASE_URL=database,
        BPP_REDIS_URL=redis_url,
        BPP_CHAIN_RPC_URL=chain,
        BPP_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        BPP_SECRET_KEY=secrets.token_urlsafe(32),
        BPP_KEYSTORE_PASSPHRASE=secrets.token_urlsafe(32),
        BPP_TELEMETRY_COMPACT_INTERVAL_S="0",
    )
    return env


async def _seed(base: str, env: dict[str, str], owners: int) -> list[Owner]:
    # The passport seeding of the web tests: one owner, one battery and its whole story each.
    from tests.web.seed import Keys, seed
    from tests.web.server import api_key

    repairer, repairer_did = api_key(env, "repairer", "bench-repairs")
    keys = Keys(
        manufacturer=api_key(env, "manufacturer", "bench-cells")[0],
        operator=api_key(env, "charge-point-operator", "bench-charging")[0],
        repairer=repairer,
        repairer_did=repairer_did,
        other_repairer=api_key(env, "repairer", "bench-other-repairs")[0],
    )
    found = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        for _ in range(owners):
            seeded = await seed(http, keys)
            found.append(Owner(seeded.owner.token, seeded.global_id))
    return found


def _register_queries(env: dict[str, str], folder: Path) -> None:
    path = folder / "persisted-queries.json"
    path.write_text(json.dumps(DOCUMENTS))
    subprocess.run(
        [BPP, "graphql", "register-queries", str(path)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]


def _requests(owners: list[Owner], count: int, seed: int) -> list[Request]:
    """`count` requests, the three kinds in turn, each for a random owner."""
    draw = random.Random(seed)
    hashes = {d: h for h, d in DOCUMENTS.items()}
    plan = []
    for index in range(count):
        owner = draw.choice(owners)
        kind = (PASSPORT, MY_BATTERIES, RECENT_EVENTS)[index % 3]
        variables = {} if kind is MY_BATTERIES else {"id": owner.battery}
        body = {
            "variables": variables,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hashes[kind]}},
        }
        headers = {"content-type": "application/json"}
        if kind is not PASSPORT:
            headers["authorization"] = f"Bearer {owner.token}"
        plan.append(Request(json.dumps(body).encode(), headers))
    return plan


async def _play(url: str, plan: list[Request], rate: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    # At most 256 connections: beyond that a request waits in the client for one, and that
    # wait counts in its latency (it was due at its send time).
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as http:
        # Warm the connections and the servers' caches (not timed).
        for request in plan[:30]:
            async with http.post(url, data=request.body, headers=request.headers) as reply:
                await reply.read()
        start = time.perf_counter() + 0.2
        last = start

        async def one(at: float, request: Request) -> None:
            nonlocal errors, last
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                async with http.post(url, data=request.body, headers=request.headers) as reply:
                    payload = await reply.read()
                    status = reply.status
            except aiohttp.ClientError as error:
                payload, status = repr(error).encode(), 0
            answered = time.perf_counter()
            latencies.append((answered - sent) * 1000)
            last = max(last, answered)
            if status != 200 or b'"errors"' in payload:
                errors += 1
                if errors <= 3:
                    sys.stderr.write(f"error {status}: {payload[:400]!r}\n")

        await asyncio.gather(
            *(one(start + index / rate, request) for index, request in enumerate(plan))
        )
    return latencies, errors, last - start


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


def measure_api(*, rate: float, seconds: float, owners: int, workers: int) -> dict[str, Any]:
    server = os.environ.get(
        "BPP_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("BPP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
    subprocess.run(
        ["redis-cli", "-u", redis_url, "flushdb"], check=False, capture_output=True, timeout=30
    )
    database = asyncio.run(_create_database(server))
    port = _free_port()
    try:
        with tempfile.TemporaryDirectory() as data_dir, _anvil(True) as chain:
            assert chain is not None
            env = _environment(data_dir, database, redis_url, chain, port)
            log = Path(data_dir) / "serve.log"
            # Setup in development mode: migrations, contracts, seed data.
            setup = _serve({**env, "BPP_ENVIRONMENT": "development"}, port, 1, log)
            try:
                seeded = asyncio.run(_seed(f"http://127.0.0.1:{port}", env, owners))
            except Exception:
                sys.stderr.write(log.read_text()[-5000:])
                raise
            finally:
                _stop(setup)
            _register_queries(env, Path(data_dir))
            production = {
                **env,
                "BPP_ENVIRONMENT": "production",
                "BPP_RATE_LIMITS": json.dumps({"driver": rate * 10, "anonymous": rate * 10}),
                "BPP_RATE_LIMIT_IP_PER_S": str(rate * 10),
            }
            process = _serve(production, port, workers, log)
            errors = -1
            try:
                plan = _requests(seeded, int(rate * seconds), seed=20261205)
                server_pids = _processes(root=process.pid)
                server_before = _cpu_seconds(server_pids)
                pg_before = _cpu_by_process(_processes(comm="postgres"))
                own_before = resource.getrusage(resource.RUSAGE_SELF)
                latencies, errors, elapsed = asyncio.run(
                    _play(f"http://127.0.0.1:{port}/graphql", plan, rate)
                )
                own_after = resource.getrusage(resource.RUSAGE_SELF)
                server_cpu = _cpu_seconds(server_pids) - server_before
                pg_cpu = _cpu_since(pg_before, "postgres")
            except Exception:
                sys.stderr.write(log.read_text()[-5000:])
                raise
            finally:
                _stop(process)
                if errors != 0:
                    kept = Path(tempfile.gettempdir()) / "bench-api-serve.log"
                    kept.write_bytes(log.read_bytes())
                    sys.stderr.write(f"errors: the server's log is kept in {kept}\n")
    finally:
        asyncio.run(_drop_database(database))
    loadgen_cpu = (own_after.ru_utime - own_before.ru_utime) + (
        own_after.ru_stime - own_before.ru_stime
    )
    latencies.sort()
    answered = len(latencies)
    cores = os.cpu_count() or 1
    return {
        "throughput_per_s": round(answered / elapsed, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 1),
        "p95_ms": round(_percentile(latencies, 0.95), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "loadgen_cpu_share": round(loadgen_cpu / (elapsed * cores), 3),
        "offered_per_s": rate,
        "requests": answered,
        "errors": errors,
        "max_ms": round(latencies[-1], 1),
        "workers": workers,
        "owners": owners,
        "seconds": seconds,
        "server_cpu_ms_per_request": round(server_cpu * 1000 / answered, 2),
        "postgres_cpu_ms_per_request": round(pg_cpu * 1000 / answered, 2),
        "cores": cores,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--rate", type=float, default=500.0, help="offered requests per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load")
    parser.add_argument("--owners", type=int, default=12, help="seeded drivers, one battery each")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    args = parser.parse_args()
    result = measure_api(
        rate=args.rate, seconds=args.seconds, owners=args.owners, workers=args.workers
    )
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
