"""JSON for JOSE payloads and disclosures: orjson, with the standard library as fallback.

orjson encodes and decodes several times faster than ``json`` (it dominates the cost of a
``vc+jwt`` / SD-JWT once signatures are done). Its limits are narrower — integers beyond
64 bits, and non-string keys, are refused — so those documents go through ``json`` and keep
exactly today's behaviour. Non-finite numbers never get here: the data model refuses them
(:func:`credentials.limits.check_shape`), and orjson's decoder refuses ``NaN`` literals,
which are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``ValueError`` for anything that is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # outside orjson's range (integers beyond 64 bits, lone surrogate escapes): the
        # standard parser decides, refusing the NaN / Infinity literals JSON does not have
        def refuse(constant: str) -> Any:
            raise ValueError(f"{constant} is not JSON")

        return json.loads(data, parse_constant=refuse)
