"""The README's first command, end to end: `bpp serve --demo` on embedded defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.services import free_port

BPP = str(Path(sys.executable).parent / "bpp")

DEMO_QUERY = """
{ batteries(first: 10) { edges { node { identifier passport { status document } } } } }
"""


def demo_batteries(base: str) -> list[dict[str, Any]]:
    edges = graphql(base, DEMO_QUERY)["batteries"]["edges"]
    return [edge["node"] for edge in edges]


def clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BPP_")}
    env["BPP_DATA_DIR"] = str(data_dir)
    return env


@contextmanager
def bpp_server(env: dict[str, str], log_dir: Path, port: int, *args: str) -> Iterator[str]:
    """`bpp serve --port PORT ARGS` as a real process until healthy; yields its base URL."""
    log_path = log_dir / f"serve-{time.monotonic_ns()}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [BPP, "serve", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server did not become healthy"
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def serving(data_dir: Path, port: int) -> Iterator[str]:
    """The demo server on embedded defaults in `data_dir`."""
    with bpp_server(clean_env(data_dir), data_dir, port, "--demo") as base:
        yield base


def graphql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}})
    body: dict[str, Any] = reply.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


VERIFY = """
query($c: JSON!) { verifyCredential(credential: $c) { ... on VerificationResult { verified } } }
"""


def test_serve_demo_restart_keeps_credentials_and_revocations(tmp_path: Path) -> None:
    port = free_port()
    with serving(tmp_path, port) as base:
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "ok"
        assert all(health[part]["ok"] for part in ("database", "redis", "chain"))
        batteries = demo_batteries(base)
        assert len(batteries) >= 3
        assert all(b["passport"]["status"] == "ACTIVE" for b in batteries)
        credentials = [b["passport"]["document"] for b in batteries]
        superseded = graphql(
            base,
            "{ credential(id: $id) { document } }".replace("$id", '"' + credentials[0]["id"] + '"'),
        )
        assert superseded["credential"]["document"] == credentials[0]
    # The demo re-issued one passport: find the revoked first version in the database.
    import sqlite3

    with sqlite3.connect(tmp_path / "bpp.sqlite3") as db:
        (revoked_json,) = db.execute(
            "SELECT document FROM issued_credential WHERE revoked_at IS NOT NULL"
        ).fetchone()
    import json

    revoked = json.loads(revoked_json)

    with serving(tmp_path, port) as base:
        for credential in credentials:
            assert graphql(base, VERIFY, {"c": credential})["verifyCredential"]["verified"] is True
        assert graphql(base, VERIFY, {"c": revoked})["verifyCredential"]["verified"] is False
        assert len(demo_batteries(base)) == len(batteries)


def test_several_workers_need_shared_services(tmp_path: Path) -> None:
    result = subprocess.run(
        [BPP, "serve", "--workers", "2"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BPP_REDIS_URL" in result.stderr
    assert "BPP_CHAIN_RPC_URL" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = subprocess.run(
        [BPP, "db", "upgrade"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "bpp.sqlite3") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"battery", "issued_credential", "status_list", "chain_transaction"} <= tables


def test_production_refuses_to_start_with_default_secrets(tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {"BPP_ENVIRONMENT": "production"}
    result = subprocess.run(
        [BPP, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "default secrets" in result.stderr
