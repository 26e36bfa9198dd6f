"""Hard bounds on untrusted input: bytes, nesting depth, values, proofs, RDFC work."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from credentials.errors import ErrorCode, InputLimitError


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied before any expensive processing of untrusted input."""

    max_bytes: int = 1_048_576
    max_depth: int = 32
    max_values: int = 20_000
    max_proofs: int = 8
    max_status_entries: int = 8
    max_credentials_in_presentation: int = 16
    max_rdfc_work: int = 4096


DEFAULT_LIMITS = Limits()


def check_shape(document: Any, limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse documents nested deeper than ``max_depth`` or with more than ``max_values``
    JSON values (iteratively, so a hostile document cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > limits.max_values:
            raise InputLimitError(
                f"document has more than {limits.max_values} values",
                code=ErrorCode.INPUT_TOO_LARGE,
            )
        if depth > limits.max_depth:
            raise InputLimitError(
                f"document nests deeper than {limits.max_depth} levels",
                code=ErrorCode.INPUT_TOO_LARGE,
            )
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def parse_json_bounded(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse untrusted JSON after checking its size, then its depth and value count."""
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > limits.max_bytes:
        raise InputLimitError(f"input is {size} bytes, more than {limits.max_bytes}")
    try:
        document = json.loads(raw)
    except RecursionError:
        raise InputLimitError("JSON nested too deeply") from None
    except ValueError as exc:
        raise InputLimitError(f"input is not JSON: {exc}", code=ErrorCode.DATA_MODEL) from None
    check_shape(document, limits)
    return document
