"""Hard bounds on untrusted input: bytes, nesting depth, values, proofs, RDFC work."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from math import isfinite
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
    """Refuse documents nested deeper than ``max_depth``, with more than ``max_values``
    JSON values, or with a non-finite number (not JSON).

    Recursive (fast) while ``max_depth`` keeps the recursion short; iterative otherwise, so
    a hostile document cannot exhaust the stack either way.
    """
    if limits.max_depth <= _RECURSIVE_DEPTH:
        count = _count_values(document, 1, limits.max_depth)
        if count > limits.max_values:
            raise InputLimitError(
                f"document has more than {limits.max_values} values",
                code=ErrorCode.INPUT_TOO_LARGE,
            )
        return
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
            raise _too_deep(limits.max_depth)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif value.__class__ is float and not isfinite(value):
            raise _not_finite()


_RECURSIVE_DEPTH = 64


def _too_deep(max_depth: int) -> InputLimitError:
    return InputLimitError(
        f"document nests deeper than {max_depth} levels", code=ErrorCode.INPUT_TOO_LARGE
    )


def _not_finite() -> InputLimitError:
    # JSON cannot carry NaN or Infinity (a JWS payload or JCS text would be invalid)
    return InputLimitError("numbers must be finite", code=ErrorCode.DATA_MODEL)


def _count_values(value: Any, depth: int, max_depth: int) -> int:
    """Values in ``value`` (itself included), checking depth and finiteness on the way."""
    if depth > max_depth:
        raise _too_deep(max_depth)
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        if value.__class__ is float and not isfinite(value):
            raise _not_finite()
        return 1
    count = 1
    inner = depth + 1
    for item in items:
        cls = item.__class__
        if cls is str or cls is int or cls is bool or cls is float or item is None:
            if inner > max_depth:
                raise _too_deep(max_depth)
            if cls is float and not isfinite(item):
                raise _not_finite()
            count += 1
        else:
            count += _count_values(item, inner, max_depth)
    return count


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _nesting_depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, found without parsing (strings skipped)."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_bounded(raw: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Parse untrusted JSON after checking its size and nesting, then its value count.

    The nesting is checked on the text before `json.loads` sees it: the C decoder recurses
    per level, and with the recursion limit raised (py-evm raises it process-wide on import)
    a deeply nested document would overflow the C stack instead of raising RecursionError.
    """
    size = len(raw.encode("utf-8")) if isinstance(raw, str) else len(raw)
    if size > limits.max_bytes:
        raise InputLimitError(f"input is {size} bytes, more than {limits.max_bytes}")
    try:
        text = raw if isinstance(raw, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputLimitError("input is not UTF-8 JSON", code=ErrorCode.DATA_MODEL) from None
    if _nesting_depth(text) > limits.max_depth:
        raise InputLimitError(
            f"JSON nests deeper than {limits.max_depth} levels", code=ErrorCode.INPUT_TOO_LARGE
        )
    try:
        document = json.loads(raw)
    except RecursionError:
        raise InputLimitError("JSON nested too deeply") from None
    except ValueError as exc:
        raise InputLimitError(f"input is not JSON: {exc}", code=ErrorCode.DATA_MODEL) from None
    check_shape(document, limits)
    return document
