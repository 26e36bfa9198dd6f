"""JSON Schema (draft 2020-12) of the upload batch, generated from :class:`Measurements`.

The checked-in copy ``ble_bridge/upload-batch.schema.json`` is what the server side can
validate against without importing this package; a test keeps it equal to :func:`batch_schema`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ble_bridge.sample import Measurements

_TYPES: dict[str, dict[str, Any]] = {
    "float | None": {"type": "number"},
    "int | None": {"type": "integer"},
    "bool | None": {"type": "boolean"},
    "str | None": {"type": "string"},
    "tuple[float, ...] | None": {"type": "array", "items": {"type": "number"}},
    "tuple[tuple[str, int], ...] | None": {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    },
    "tuple[tuple[str, float], ...] | None": {
        "type": "object",
        "additionalProperties": {"type": "number"},
    },
}


def measurements_schema() -> dict[str, Any]:
    """Schema of the ``measurements`` object (every key optional, no other keys)."""
    props = {f.name: _TYPES[str(f.type)] for f in dataclasses.fields(Measurements)}
    return {"type": "object", "properties": props, "additionalProperties": False}


def sample_schema() -> dict[str, Any]:
    """Schema of one sample object."""
    string = {"type": "string", "minLength": 1}
    return {
        "type": "object",
        "required": [
            "deviceId",
            "sequence",
            "sourceId",
            "sourceSequence",
            "sourceAddress",
            "adapterId",
            "profileId",
            "measurements",
            "rawFrames",
            "errors",
            "monotonicNs",
            "bootId",
            "wallTimeMs",
            "clockSource",
        ],
        "additionalProperties": False,
        "properties": {
            "deviceId": {"type": "string", "pattern": "^did:key:z"},
            "sequence": {"type": "integer", "minimum": 1},
            "sourceId": string,
            "sourceSequence": {"type": "integer", "minimum": 1},
            "sourceAddress": string,
            "adapterId": {"enum": ["elm327", "jbd", "daly", "jk"]},
            "profileId": string,
            "measurements": measurements_schema(),
            "rawFrames": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request", "response"],
                    "additionalProperties": False,
                    "properties": {
                        "request": {"type": "string", "pattern": "^[0-9a-f]*$"},
                        "response": {"type": "string", "pattern": "^[0-9a-f]*$"},
                    },
                },
            },
            "errors": {"type": "array", "items": {"type": "string"}},
            "monotonicNs": {"type": "integer", "minimum": 0},
            "bootId": string,
            "wallTimeMs": {"type": "integer", "minimum": 0},
            "clockSource": {"enum": ["system", "ntp", "simulated"]},
        },
    }


def batch_schema() -> dict[str, Any]:
    """Schema of the ``ingestSamples`` input object."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:bpp:bridge:ingest-samples-input:1",
        "title": "IngestSamplesInput (bpp-bridge upload batch)",
        "type": "object",
        "required": ["deviceId", "batchId", "idempotencyKey", "samples", "signature"],
        "additionalProperties": False,
        "properties": {
            "deviceId": {"type": "string", "pattern": "^did:key:z"},
            "batchId": {"type": "string", "format": "uuid"},
            "idempotencyKey": {"type": "string", "minLength": 1},
            "samples": {"type": "array", "minItems": 1, "items": sample_schema()},
            "signature": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
        },
    }
