"""Hard bounds on untrusted input: bytes, nesting depth, values, proofs, RDFC work."""

from __future__ import annotations

import json
import re
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
