"""Ingest of signed sample batches from gateways (the server side of docs/BRIDGE.md).

One batch is one transaction: the batch is checked as a whole (shape, size, device, signature
— a refusal stores nothing), then each sample is validated on its own (`REJECTED` with a code),
the valid ones are claimed in `telemetry_sequence` with `ON CONFLICT DO NOTHING` (what was
already there is a `DUPLICATE`), the claimed ones are stored, and the derived state of every
battery they belong to is updated. A device is its own principal: the signature over the
batch is its authentication, so no API key is involved.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.policy import Action, Resource, ResourceKind, authorize
from backend.auth.principal import AuthMethod, Principal
from backend.kit.models import utcnow
from backend.passports.models import Battery
from backend.safety.service import Notice
from backend.safety.service import on_ingest as safety_rules
from backend.telemetry import derived, didkey
from backend.telemetry.errors import IngestErrorCode, IngestRefused, SampleCode
from backend.telemetry.models import (
    TelemetryDevice,
    TelemetryEvent,
    TelemetrySample,
    TelemetrySequence,
    TelemetrySource,
    TelemetryState,
)
from credentials.jcs import canonicalize

_SEQUENCES: Final[Table] = TelemetrySequence.__table__  # type: ignore[attr-defined]
_SAMPLES: Final[Table] = TelemetrySample.__table__  # type: ignore[attr-defined]
_SOURCES: Final[Table] = TelemetrySource.__table__  # type: ignore[attr-defined]
_BATTERIES: Final[Table] = Battery.__table__  # type: ignore[attr-defined]
_STATES: Final[Table] = TelemetryState.__table__  # type: ignore[attr-defined]
_EVENTS: Final[Table] = TelemetryEvent.__table__  # type: ignore[attr-defined]
SIGNED_FIELDS: Final = ("deviceId", "batchId", "idempotencyKey", "samples")
_REQUIRED: Final = {
    "deviceId": str,
    "sequence": int,
    "sourceId": str,
    "sourceSequence": int,
    "sourceAddress": str,
    "adapterId": str,
    "profileId": str,
    "measurements": dict,
    "rawFrames": list,
    "errors": list,
    "monotonicNs": int,
    "bootId": str,
    "wallTimeMs": int,
    "clockSource": str,
}
_ADAPTERS: Final = frozenset({"elm327", "jbd", "daly", "jk"})
_CLOCKS: Final = frozenset({"system", "ntp", "simulated"})
MAX_SEQUENCE: Final = 2**63 - 1
MAX_TEXT: Final = 120
# A wall clock this far ahead of the server's, or older than this, is not believed.
MAX_CLOCK_AHEAD: Final = timedelta(minutes=10)
MAX_SAMPLE_AGE: Final = timedelta(days=400)
# Plausible ranges of the values the derived data uses (anything else is OUT_OF_RANGE).
_RANGES: Final = {
    "soc_pct": (0.0, 110.0),
    "soc_display_pct": (0.0, 110.0),
    "soh_pct": (0.0, 150.0),
    "pack_voltage_v": (0.0, 1500.0),
    "pack_current_a": (-3000.0, 3000.0),
    "cell_voltage_min_v": (0.0, 6.0),
    "cell_voltage_max_v": (0.0, 6.0),
    "temperature_min_c": (-60.0, 150.0),
    "temperature_max_c": (-60.0, 150.0),
    "cumulative_charged_ah": (0.0, 1e9),
}


@dataclass(frozen=True, slots=True)
class SampleResult:
    sequence: int | None
    status: str  # ACCEPTED | DUPLICATE | REJECTED
    code: str | None = None


@dataclass(slots=True)
class IngestOutcome:
    batch_id: str
    results: list[SampleResult] = field(default_factory=list)
    # Safety alerts the batch opened or cleared: announced after the commit
    # (backend.safety.notify.publish).
    notices: list[Notice] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_batch(batch: dict[str, Any], *, max_batch: int) -> tuple[str, str, list[Any]]:
    """Whole-batch checks that need no database: shape, size, signature."""
    device_id, batch_id = batch.get("deviceId"), batch.get("batchId")
    key, samples, signature = (
        batch.get("idempotencyKey"),
        batch.get("samples"),
        batch.get("signature"),
    )
    if not isinstance(device_id, str) or not didkey.is_ed25519_did_key(device_id):
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "deviceId is not an Ed25519 did:key")
    if not isinstance(batch_id, str):
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "batchId must be a UUID")
    try:
        uuid.UUID(batch_id)
    except ValueError:
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "batchId must be a UUID") from None
    if not isinstance(key, str) or not 0 < len(key) <= 255:
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "idempotencyKey must be 1-255 chars")
    if not isinstance(samples, list) or not samples:
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "samples must be a non-empty list")
    if len(samples) > max_batch:
        raise IngestRefused(
            IngestErrorCode.BATCH_TOO_LARGE, f"{len(samples)} samples; at most {max_batch}"
        )
    if not isinstance(signature, str):
        raise IngestRefused(IngestErrorCode.BAD_SIGNATURE, "no signature")
    try:
        raw_signature = b64url_decode(signature)
    except (binascii.Error, ValueError):
        raise IngestRefused(IngestErrorCode.BAD_SIGNATURE, "signature is not base64url") from None
    try:
        message = canonicalize({name: batch[name] for name in SIGNED_FIELDS}).encode()
    except Exception:  # a value JCS cannot represent (NaN, a huge integer…)
        raise IngestRefused(IngestErrorCode.INVALID_BATCH, "batch is not canonicalisable") from None
    if not didkey.verify(device_id, raw_signature, message):
        raise IngestRefused(IngestErrorCode.BAD_SIGNATURE, "signature does not verify")
    return device_id, batch_id, samples


def clock_window(now: datetime) -> tuple[int, int]:
    """The wall times (ms) a sample may carry, given the server's clock."""
    return (
        int((now - MAX_SAMPLE_AGE).timestamp() * 1000),
        int((now + MAX_CLOCK_AHEAD).timestamp() * 1000),
    )


_NUMBER: Final = (int, float)


def validate_sample(sample: Any, device_id: str, window: tuple[int, int]) -> SampleCode | None:
    """None when the sample may be stored, else why it is rejected.

    Exact type checks (`type(x) is int`): parsed JSON holds exactly these types, and a bool
    is not a number here. Runs for every sample of every batch, so it is kept plain.
    """
    if type(sample) is not dict:
        return SampleCode.INVALID
    get = sample.get
    for name, kind in _REQUIRED.items():
        if type(get(name)) is not kind:
            return SampleCode.INVALID
    if sample["deviceId"] != device_id or not 1 <= sample["sequence"] <= MAX_SEQUENCE:
        return SampleCode.INVALID
    if not 1 <= sample["sourceSequence"] <= MAX_SEQUENCE or sample["monotonicNs"] < 0:
        return SampleCode.INVALID
    if sample["adapterId"] not in _ADAPTERS or sample["clockSource"] not in _CLOCKS:
        return SampleCode.INVALID
    for name in ("sourceId", "sourceAddress", "profileId", "bootId"):
        if not 0 < len(sample[name]) <= MAX_TEXT:
            return SampleCode.INVALID
    measurements: dict[str, Any] = sample["measurements"]
    for name, (low, high) in _RANGES.items():
        value = measurements.get(name)
        if value is None:
            continue
        if type(value) not in _NUMBER:
            return SampleCode.INVALID
        if not low <= value <= high:
            return SampleCode.OUT_OF_RANGE
    for name in ("temperatures_c", "cell_voltages_v"):
        values = measurements.get(name)
        if values is not None and (
            type(values) is not list or any(type(v) not in _NUMBER for v in values)
        ):
            return SampleCode.INVALID
    if not window[0] <= sample["wallTimeMs"] <= window[1]:
        return SampleCode.CLOCK_OUT_OF_RANGE
    return None


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


async def load_device(session: AsyncSession, device_id: str) -> TelemetryDevice:
    device = await session.get(TelemetryDevice, device_id)
    if device is None:
        raise IngestRefused(IngestErrorCode.UNKNOWN_DEVICE, "device not registered")
    if device.status != "active":
        raise IngestRefused(IngestErrorCode.DEVICE_REVOKED, f"device is {device.status}")
    return device


def device_principal(device: TelemetryDevice) -> Principal:
    return Principal(
        device_id=device.id,
        organisation_id=device.organisation_id,
        auth_method=AuthMethod.DEVICE_SIGNATURE,
    )


async def ingest_batch(
    session: AsyncSession, batch: dict[str, Any], *, max_batch: int, now: datetime | None = None
) -> IngestOutcome:
    """Check, de-duplicate and store one batch in the caller's unit of work."""
    device_id, batch_id, samples = check_batch(batch, max_batch=max_batch)
    device = await load_device(session, device_id)
    authorize(device_principal(device), Action.UPLOAD_TELEMETRY, Resource(ResourceKind.BATTERY))
    now = now or utcnow()
    outcome = IngestOutcome(batch_id=batch_id)
    valid: dict[int, dict[str, Any]] = {}
    window = clock_window(now)
    verdicts: list[tuple[int | None, SampleCode | None]] = []
    for sample in samples:
        code = validate_sample(sample, device_id, window)
        seq = sample.get("sequence") if isinstance(sample, dict) else None
        seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        verdicts.append((seq, code))
        if code is None and seq is not None and seq > device.dedupe_floor:
            valid.setdefault(seq, sample)
    claimed: set[int] = set()
    if valid:
        claimed = await _claim(session, device_id, list(valid))
    stored: set[int] = set()
    for seq, code in verdicts:
        if code is not None:
            outcome.results.append(SampleResult(seq, "REJECTED", str(code)))
        elif seq in claimed and seq not in stored:
            stored.add(seq)
            outcome.results.append(SampleResult(seq, "ACCEPTED"))
        else:
            outcome.results.append(SampleResult(seq, "DUPLICATE"))
    if claimed:
        outcome.notices = await _store(
            session, device_id, [valid[seq] for seq in sorted(claimed)], now
        )
    return outcome


_PG_CLAIM: Final = (
    "INSERT INTO telemetry_sequence (device_id, sequence) SELECT $1, s FROM unnest($2::bigint[]) "
    "AS s ON CONFLICT DO NOTHING RETURNING sequence"
)
_SAMPLE_COLUMNS: Final = (
    "device_id",
    "sequence",
    "measured_at",
    "received_at",
    "battery_id",
    "source_id",
    "source_sequence",
    "soc_pct",
    "pack_voltage_v",
    "pack_current_a",
    "temperature_max_c",
    "measurements",
    "envelope",
)


_STATE_COLUMNS: Final = (
    "b_id",
    "measured_at",
    "device_id",
    "sequence",
    "measurements",
    "samples",
    "soc_histogram",
    "temperature_histogram",
    "first_cumulative_charged_ah",
    "max_cumulative_charged_ah",
    "integrated_charged_ah",
    "deep_discharge_events",
    "overcharge_events",
    "in_deep_discharge",
    "in_overcharge",
    "updated_at",
)
# Built from the constant column names above (no input reaches the text).
_PG_UPDATE_STATE: Final = (
    "UPDATE telemetry_state SET "  # noqa: S608
    + ", ".join(f"{column} = ${index}" for index, column in enumerate(_STATE_COLUMNS[1:], start=2))
    + " WHERE battery_id = $1"
)


async def _asyncpg(session: AsyncSession) -> Any | None:
    """The asyncpg connection under the session's transaction (PostgreSQL), else None.

    The two bulk statements of a batch go to the driver directly: one array-parameter INSERT
    for the de-duplication keys and one binary COPY for the samples, instead of
    SQLAlchemy's per-row parameter processing (see docs/BENCHMARKS.md, ingest profile).
    """
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        return None
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def _claim(session: AsyncSession, device_id: str, sequences: list[int]) -> set[int]:
    """Insert the (device, sequence) keys; the ones that were new."""
    driver = await _asyncpg(session)
    if driver is not None:
        return {row[0] for row in await driver.fetch(_PG_CLAIM, device_id, sequences)}
    statement = (
        _insert(session, _SEQUENCES).on_conflict_do_nothing().returning(_SEQUENCES.c.sequence)
    )
    params = [{"device_id": device_id, "sequence": seq} for seq in sequences]
    result = await (await session.connection()).execute(statement, params)
    return set(result.scalars().all())


async def _insert_samples(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    driver = await _asyncpg(session)
    if driver is None:
        await (await session.connection()).execute(_SAMPLES.insert(), rows)
        return
    records = [
        tuple(
            orjson.dumps(row[c]).decode() if c in ("measurements", "envelope") else row[c]
            for c in _SAMPLE_COLUMNS
        )
        for row in rows
    ]
    await driver.copy_records_to_table("telemetry_sample", records=records, columns=_SAMPLE_COLUMNS)


async def _store(
    session: AsyncSession, device_id: str, samples: list[dict[str, Any]], now: datetime
) -> list[Notice]:
    bindings = {
        source_id: (battery_id, chemistry)
        for source_id, battery_id, chemistry in (
            await (await session.connection()).execute(
                select(_SOURCES.c.source_id, _SOURCES.c.battery_id, _BATTERIES.c.chemistry)
                .join(_BATTERIES, _BATTERIES.c.id == _SOURCES.c.battery_id)
                .where(_SOURCES.c.device_id == device_id)
            )
        ).all()
    }
    rows: list[dict[str, Any]] = []
    by_battery: dict[str, list[derived.Observation]] = defaultdict(list)
    chemistry_of: dict[str, str] = {}
    for sample in samples:
        m = sample["measurements"]
        measured_at = datetime.fromtimestamp(sample["wallTimeMs"] / 1000, UTC)
        binding = bindings.get(sample["sourceId"])
        battery_id = binding[0] if binding else None
        envelope = {k: v for k, v in sample.items() if k not in ("measurements", "deviceId")}
        rows.append(
            {
                "device_id": device_id,
                "sequence": sample["sequence"],
                "measured_at": measured_at,
                "received_at": now,
                "battery_id": battery_id,
                "source_id": sample["sourceId"],
                "source_sequence": sample["sourceSequence"],
                "soc_pct": _float(m.get("soc_pct")),
                "pack_voltage_v": _float(m.get("pack_voltage_v")),
                "pack_current_a": _float(m.get("pack_current_a")),
                "temperature_max_c": derived.hottest(m),
                "measurements": m,
                "envelope": envelope,
            }
        )
        if binding is not None:
            chemistry_of[binding[0]] = binding[1]
            by_battery[binding[0]].append(
                derived.Observation(measured_at, device_id, sample["sequence"], m)
            )
    await _insert_samples(session, rows)
    if not by_battery:
        return []
    # The safety rules read the state before this batch, so they run before it is updated.
    notices = await safety_rules(session, by_battery, now)
    await _update_states(session, by_battery, chemistry_of, now)
    return notices


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


async def _update_states(
    session: AsyncSession,
    by_battery: dict[str, list[derived.Observation]],
    chemistry_of: dict[str, str],
    now: datetime,
) -> None:
    """Fold the batch into each battery's state, rows locked in id order (no deadlock)."""
    state_table = _STATES
    ids = sorted(by_battery)
    empty = derived.BatteryState.empty()
    first = {b: min(by_battery[b], key=lambda o: o.measured_at) for b in ids}
    conn = await session.connection()
    locked = select(state_table).order_by(state_table.c.battery_id).with_for_update()
    rows = list(
        (await conn.execute(locked.where(state_table.c.battery_id.in_(ids)))).mappings().all()
    )
    missing = sorted(set(ids) - {row["battery_id"] for row in rows})
    if missing:  # first samples of these batteries: create their rows, then lock them too
        await conn.execute(
            _insert(session, state_table).on_conflict_do_nothing(),
            [
                {
                    "battery_id": b,
                    "measured_at": first[b].measured_at,
                    "device_id": first[b].device_id,
                    "sequence": 0,
                    "measurements": {},
                    "samples": 0,
                    "soc_histogram": empty.soc_histogram,
                    "temperature_histogram": empty.temperature_histogram,
                    "integrated_charged_ah": 0.0,
                    "deep_discharge_events": 0,
                    "overcharge_events": 0,
                    "in_deep_discharge": False,
                    "in_overcharge": False,
                    "updated_at": now,
                }
                for b in missing
            ],
        )
        rows += (
            (await conn.execute(locked.where(state_table.c.battery_id.in_(missing))))
            .mappings()
            .all()
        )
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for row in rows:
        battery_id = row["battery_id"]
        state = derived.BatteryState(
            measured_at=row["measured_at"] if row["samples"] else None,
            device_id=row["device_id"],
            sequence=row["sequence"],
            measurements=row["measurements"],
            samples=row["samples"],
            soc_histogram=list(row["soc_histogram"]),
            temperature_histogram=list(row["temperature_histogram"]),
            first_cumulative_charged_ah=row["first_cumulative_charged_ah"],
            max_cumulative_charged_ah=row["max_cumulative_charged_ah"],
            integrated_charged_ah=row["integrated_charged_ah"],
            deep_discharge_events=row["deep_discharge_events"],
            overcharge_events=row["overcharge_events"],
            in_deep_discharge=row["in_deep_discharge"],
            in_overcharge=row["in_overcharge"],
        )
        if state.measured_at is not None and state.measured_at.tzinfo is None:
            state.measured_at = state.measured_at.replace(tzinfo=UTC)
        episodes = derived.apply(
            state, by_battery[battery_id], derived.thresholds_for(chemistry_of.get(battery_id))
        )
        updates.append(
            {
                "b_id": battery_id,
                "measured_at": state.measured_at,
                "device_id": state.device_id,
                "sequence": state.sequence,
                "measurements": state.measurements,
                "samples": state.samples,
                "soc_histogram": state.soc_histogram,
                "temperature_histogram": state.temperature_histogram,
                "first_cumulative_charged_ah": state.first_cumulative_charged_ah,
                "max_cumulative_charged_ah": state.max_cumulative_charged_ah,
                "integrated_charged_ah": state.integrated_charged_ah,
                "deep_discharge_events": state.deep_discharge_events,
                "overcharge_events": state.overcharge_events,
                "in_deep_discharge": state.in_deep_discharge,
                "in_overcharge": state.in_overcharge,
                "updated_at": now,
            }
        )
        events.extend(
            {
                "battery_id": battery_id,
                "kind": e.kind,
                "occurred_at": e.occurred_at,
                "device_id": e.device_id,
                "sequence": e.sequence,
                "value": e.value,
                "detail": e.detail,
            }
            for e in episodes
        )
    driver = await _asyncpg(session)
    if driver is not None:
        json_columns = ("measurements", "soc_histogram", "temperature_histogram")
        await driver.executemany(
            _PG_UPDATE_STATE,
            [
                tuple(
                    orjson.dumps(u[c]).decode() if c in json_columns else u[c]
                    for c in _STATE_COLUMNS
                )
                for u in updates
            ],
        )
    else:
        await (await session.connection()).execute(
            state_table.update().where(state_table.c.battery_id == bindparam("b_id")),
            updates,
        )
    if events:
        await (await session.connection()).execute(_EVENTS.insert(), events)
