"""A tiny GraphQL ingest endpoint for the bridge tests (the real one is the platform's).

It does what docs/BRIDGE.md asks of the server: checks the batch signature against the device's
did:key, refuses unknown devices, de-duplicates by (deviceId, sequence), answers per sample.
Served over real HTTP by uvicorn in a thread so that child processes can reach it, and can be
stopped and restarted on the same port to simulate an outage.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ble_bridge.keys import verify_signature
from ble_bridge.outbox import b64url_decode, signing_bytes


@dataclass
class IngestStore:
    """What the fake server holds."""

    devices: set[str] = field(default_factory=set)
    samples: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    requests: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sequences(self, device_id: str) -> list[int]:
        """Stored sequence numbers of one device, sorted."""
        with self.lock:
            return sorted(seq for dev, seq in self.samples if dev == device_id)


def build_app(store: IngestStore) -> Starlette:
    """The ASGI app: POST /graphql with the ingestSamples mutation."""

    async def graphql(request: Request) -> JSONResponse:
        body = await request.json()
        store.requests += 1
        if "ingestSamples" not in body.get("query", ""):
            return JSONResponse({"errors": [{"message": "unknown operation"}]})
        batch = body["variables"]["input"]
        device = batch.get("deviceId")

        def error(code: str, message: str) -> JSONResponse:
            payload = {"__typename": "IngestError", "code": code, "message": message}
            return JSONResponse({"data": {"ingestSamples": payload}})

        if device not in store.devices:
            return error("UNKNOWN_DEVICE", "device not registered")
        try:
            signature = b64url_decode(batch["signature"])
        except (KeyError, ValueError):
            return error("BAD_SIGNATURE", "no signature")
        if not verify_signature(device, signature, signing_bytes(batch)):
            store.bad_signatures += 1
            return error("BAD_SIGNATURE", "signature does not verify")
        results = []
        with store.lock:
            for sample in batch["samples"]:
                seq = sample.get("sequence")
                if sample.get("deviceId") != device or not isinstance(seq, int):
                    results.append({"sequence": seq, "status": "REJECTED", "code": "INVALID"})
                elif (device, seq) in store.samples:
                    store.duplicates += 1
                    results.append({"sequence": seq, "status": "DUPLICATE", "code": None})
                else:
                    store.samples[(device, seq)] = sample
                    results.append({"sequence": seq, "status": "ACCEPTED", "code": None})
        payload = {"__typename": "IngestSamplesResult", "batchId": batch["batchId"]}
        payload["results"] = results
        return JSONResponse({"data": {"ingestSamples": payload}})

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def free_port() -> int:
    """An unused TCP port on localhost."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServerThread:
    """uvicorn in a background thread; ``stop()`` / ``start()`` simulate an outage."""

    def __init__(self, store: IngestStore, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The GraphQL endpoint."""
        return f"http://127.0.0.1:{self.port}/graphql"

    def start(self) -> None:
        """Serve (returns once the socket accepts connections)."""
        config = uvicorn.Config(
            build_app(self.store),
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving (connections are refused until ``start``)."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None
