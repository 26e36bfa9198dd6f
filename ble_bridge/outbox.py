"""Durable outbox on the gateway (SQLite): number, batch, sign, acknowledge.

Every step is one SQLite transaction (WAL, ``synchronous=FULL``), so a process killed at any
point leaves either the state before or the state after the step:

* ``append`` gives the sample the gateway's next ``sequence`` (and the source's next
  ``sourceSequence``) and stores its final JSON;
* ``next_batch`` returns the pending batch if one exists — byte-identical, same idempotency
  key — or freezes the oldest unbatched samples into a new signed batch;
* ``complete`` applies the server's per-sample results: accepted and duplicate samples are
  deleted, rejected ones move to ``rejected`` (kept for audit, never resent).

The server de-duplicates by (deviceId, sequence), so re-sending after a crash between the
server's commit and ours is harmless.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import rfc8785

from ble_bridge.keys import DeviceKey
from ble_bridge.sample import BatterySample

Checkpoint = Callable[[str], None]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    sequence INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL,
    body TEXT NOT NULL,
    batch_id TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_unbatched ON samples (batch_id, sequence);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    first_sequence INTEGER NOT NULL,
    last_sequence INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    sequence INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    body TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SampleStatus(StrEnum):
    """Per-sample outcome reported by the server."""

    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class SampleResult:
    """The server's verdict on one sample."""

    sequence: int
    status: SampleStatus
    code: str | None = None


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A signed batch, exactly as it is (re)sent."""

    batch_id: str
    idempotency_key: str
    input: dict[str, Any]  # the GraphQL ``input`` object, signature included
    sequences: tuple[int, ...]
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """Numbers for ``bpp-bridge status``."""

    pending_samples: int
    pending_batches: int
    rejected_samples: int
    last_sequence: int
    last_upload_ms: int | None
    last_error: str | None


def signing_bytes(batch: dict[str, Any]) -> bytes:
    """The exact bytes the device key signs: RFC 8785 JCS of the batch without ``signature``."""
    unsigned = {k: v for k, v in batch.items() if k != "signature"}
    return rfc8785.dumps(unsigned)


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url` (raises ``ValueError``)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Outbox:
    """The gateway's durable queue of samples (one SQLite file, one writer process)."""

    def __init__(self, path: Path, key: DeviceKey, *, checkpoint: Checkpoint | None = None) -> None:
        self.path = path
        self.key = key
        self.device_id = key.did
        self._checkpoint = checkpoint or (lambda _name: None)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        owner = self._db.execute("SELECT value FROM meta WHERE key='device_id'").fetchone()
        if owner is None:
            self._db.execute("INSERT INTO meta VALUES ('device_id', ?)", (self.device_id,))
        elif owner[0] != self.device_id:
            # Sequences belong to one device id: a new key needs a new outbox.
            raise ValueError(f"{path} belongs to {owner[0]}, not {self.device_id}")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def _next(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        value = (row[0] if row else 0) + 1
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (name, value),
        )
        return value

    def append(self, sample: BatterySample) -> int:
        """Store a sample durably; returns its sequence number."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            sequence = self._next("sequence")
            source_sequence = self._next("source:" + sample.source_id)
            body = json.dumps(
                sample.to_json(self.device_id, sequence, source_sequence), separators=(",", ":")
            )
            db.execute(
                "INSERT INTO samples VALUES (?, ?, ?, NULL, ?)",
                (sequence, sample.source_id, body, _now_ms()),
            )
            self._checkpoint("append:before_commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._checkpoint("append:after_commit")
        return sequence

    def next_batch(self, max_samples: int = 500) -> PreparedBatch | None:
        """The batch to send now: the unfinished one, or a new one of the oldest samples."""
        row = self._db.execute(
            "SELECT batch_id, body, attempts FROM batches ORDER BY first_sequence LIMIT 1"
        ).fetchone()
        if row is not None:
            return self._prepared(row[0], row[1], row[2])
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            rows = db.execute(
                "SELECT sequence, body FROM samples WHERE batch_id IS NULL "
                "ORDER BY sequence LIMIT ?",
                (max_samples,),
            ).fetchall()
            if not rows:
                db.execute("ROLLBACK")
                return None
            batch_id = str(uuid.uuid4())
            batch: dict[str, Any] = {
                "deviceId": self.device_id,
                "batchId": batch_id,
                "idempotencyKey": f"{self.device_id}/{batch_id}",
                "samples": [json.loads(body) for _, body in rows],
            }
            batch["signature"] = b64url(self.key.sign(signing_bytes(batch)))
            body = json.dumps(batch, separators=(",", ":"))
            db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, 0, NULL)",
                (batch_id, body, rows[0][0], rows[-1][0], _now_ms()),
            )
            db.executemany(
                "UPDATE samples SET batch_id=? WHERE sequence=?",
                [(batch_id, seq) for seq, _ in rows],
            )
            self._checkpoint("batch:before_commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._checkpoint("batch:after_commit")
        return self._prepared(batch_id, body, 0)

    @staticmethod
    def _prepared(batch_id: str, body: str, attempts: int) -> PreparedBatch:
        data = json.loads(body)
        return PreparedBatch(
            batch_id,
            data["idempotencyKey"],
            data,
            tuple(s["sequence"] for s in data["samples"]),
            attempts,
        )

    def record_failure(self, batch_id: str, error: str) -> None:
        """Count a failed attempt (the batch stays pending, unchanged)."""
        self._db.execute(
            "UPDATE batches SET attempts = attempts + 1, last_error = ? WHERE batch_id = ?",
            (error, batch_id),
        )
        self._set_meta("last_error", error)

    def complete(self, batch_id: str, results: list[SampleResult]) -> None:
        """Apply the server's per-sample results and close the batch."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            in_batch = {
                seq
                for (seq,) in db.execute(
                    "SELECT sequence FROM samples WHERE batch_id=?", (batch_id,)
                )
            }
            answered: set[int] = set()
            for r in results:
                if r.sequence not in in_batch:
                    continue
                answered.add(r.sequence)
                if r.status is SampleStatus.REJECTED:
                    db.execute(
                        "INSERT OR REPLACE INTO rejected "
                        "SELECT sequence, ?, body, ? FROM samples WHERE sequence=?",
                        (r.code or "rejected", _now_ms(), r.sequence),
                    )
                db.execute("DELETE FROM samples WHERE sequence=?", (r.sequence,))
            # Samples the server did not mention go back to the queue for the next batch.
            db.executemany(
                "UPDATE samples SET batch_id=NULL WHERE sequence=?",
                [(s,) for s in in_batch - answered],
            )
            db.execute("DELETE FROM batches WHERE batch_id=?", (batch_id,))
            db.execute(
                "INSERT OR REPLACE INTO meta VALUES ('last_upload_ms', ?)", (str(_now_ms()),)
            )
            self._checkpoint("complete:before_commit")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._checkpoint("complete:after_commit")

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def status(self) -> OutboxStatus:
        """Queue depth and upload health."""
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        last = db.execute("SELECT value FROM counters WHERE name='sequence'").fetchone()
        return OutboxStatus(
            pending_samples=db.execute("SELECT count(*) FROM samples").fetchone()[0],
            pending_batches=db.execute("SELECT count(*) FROM batches").fetchone()[0],
            rejected_samples=db.execute("SELECT count(*) FROM rejected").fetchone()[0],
            last_sequence=last[0] if last else 0,
            last_upload_ms=int(meta["last_upload_ms"]) if "last_upload_ms" in meta else None,
            last_error=meta.get("last_error"),
        )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
