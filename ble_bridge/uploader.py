"""Uploads outbox batches to the platform's GraphQL ``ingestSamples`` mutation.

Oldest batch first, one at a time; a batch is resent unchanged until the server answers with
per-sample results. Network errors, 5xx, GraphQL errors and retryable ``IngestError`` codes
back off exponentially (with jitter); the outbox keeps everything meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from ble_bridge.outbox import Checkpoint, Outbox, SampleResult, SampleStatus

INGEST_MUTATION = """\
mutation IngestSamples($input: IngestSamplesInput!) {
  ingestSamples(input: $input) {
    __typename
    ... on IngestSamplesResult { batchId results { sequence status code } }
    ... on IngestError { code message }
  }
}"""

# IngestError codes after which resending the same batch can succeed later.
RETRYABLE_CODES = frozenset({"RATE_LIMITED", "UNAVAILABLE"})


class UploadOutcome(StrEnum):
    """What one upload attempt did."""

    NOTHING = "nothing"
    UPLOADED = "uploaded"
    FAILED = "failed"  # retry after a back-off
    REFUSED = "refused"  # the server refused the batch as such (bad signature, unknown device)


@dataclass
class Backoff:
    """Exponential back-off with full jitter: ``uniform(0, min(max, initial * factor**n))``."""

    initial_s: float = 1.0
    maximum_s: float = 300.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """Delay after one more failure."""
        ceiling = min(self.maximum_s, self.initial_s * self.factor**self.failures)
        self.failures += 1
        return max(self.initial_s / 10, self.rng.uniform(0, ceiling))

    def reset(self) -> None:
        """After a success."""
        self.failures = 0


@dataclass
class Uploader:
    """Drains the outbox into the server."""

    outbox: Outbox
    url: str
    client: httpx.AsyncClient
    max_batch: int = 500
    backoff: Backoff = field(default_factory=Backoff)
    checkpoint: Checkpoint | None = None
    last_error: str | None = None

    def _hit(self, name: str) -> None:
        if self.checkpoint is not None:
            self.checkpoint(name)

    async def upload_once(self) -> UploadOutcome:
        """Send the next batch and apply the answer."""
        batch = self.outbox.next_batch(self.max_batch)
        if batch is None:
            return UploadOutcome.NOTHING
        self._hit("upload:before_send")
        try:
            response = await self.client.post(
                self.url,
                json={"query": INGEST_MUTATION, "variables": {"input": batch.input}},
                headers={"Idempotency-Key": batch.idempotency_key},
            )
        except httpx.HTTPError as exc:
            return self._failed(batch.batch_id, f"network: {type(exc).__name__}")
        self._hit("upload:after_send")
        if response.status_code >= 500 or response.status_code == 429:
            return self._failed(batch.batch_id, f"http {response.status_code}")
        try:
            data: Any = response.json()
            result = data["data"]["ingestSamples"]
            typename = result["__typename"]
        except (ValueError, KeyError, TypeError):
            return self._failed(batch.batch_id, f"bad response (http {response.status_code})")
        if typename == "IngestError":
            code = str(result.get("code"))
            failure = self._failed(batch.batch_id, f"IngestError {code}: {result.get('message')}")
            return failure if code in RETRYABLE_CODES else UploadOutcome.REFUSED
        try:
            results = [
                SampleResult(int(r["sequence"]), SampleStatus(r["status"]), r.get("code"))
                for r in result["results"]
            ]
        except (KeyError, TypeError, ValueError):
            return self._failed(batch.batch_id, "bad per-sample results")
        self.outbox.complete(batch.batch_id, results)
        self.backoff.reset()
        self.last_error = None
        return UploadOutcome.UPLOADED

    def _failed(self, batch_id: str, error: str) -> UploadOutcome:
        self.outbox.record_failure(batch_id, error)
        self.last_error = error
        return UploadOutcome.FAILED

    async def drain(self) -> int:
        """Upload until the outbox is empty or an attempt fails; returns batches uploaded."""
        uploaded = 0
        while (outcome := await self.upload_once()) is UploadOutcome.UPLOADED:
            uploaded += 1
        if outcome is UploadOutcome.REFUSED:
            self.backoff.failures += 1
        return uploaded

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, idle_s: float = 5.0) -> None:
        """Upload until ``stop``; ``wake`` shortens the idle wait when new samples arrive."""
        while not stop.is_set():
            await self.drain()
            delay = self.backoff.next_delay() if self.last_error is not None else idle_s
            wake.clear()
            waiters = [asyncio.create_task(stop.wait())]
            if self.last_error is None:
                waiters.append(asyncio.create_task(wake.wait()))
            _done, pending = await asyncio.wait(
                waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
