"""JSON Canonicalization Scheme (RFC 8785) for the JCS cryptosuites.

Strings go through the C JSON encoder (with ``ensure_ascii=False`` it escapes exactly what
RFC 8785 §3.2.2.2 asks: ``"``, ``\\``, and U+0000–U+001F, with the short forms and
lower-case ``\\u00xx``); object members are sorted by their UTF-16 code units; numbers use
the ECMAScript ``Number.prototype.toString`` form (§3.2.2.3), built from Python's shortest
round-trip digits. Tests compare this with the ``rfc8785`` package on random JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

import orjson

from credentials.errors import ProofError

_MAX_SAFE_INTEGER: Final = 2**53 - 1
_BMP: Final = "\uffff"
_encode_string = json.JSONEncoder(ensure_ascii=False).encode


def _utf16_key(item: tuple[str, Any]) -> bytes:
    return item[0].encode("utf-16-be", "surrogatepass")


def format_number(value: float) -> str:
    """ECMAScript Number-to-String of a finite double (RFC 8785 §3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise ProofError("JCS cannot represent NaN or Infinity")
    if value == 0:
        return "0"
    if value < 0:
        return "-" + format_number(-value)
    text = repr(float(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # position of the decimal point relative to the digit string's start
    point = len(whole) + (int(exponent) if exponent else 0)
    leading = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    point -= leading
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    n = point
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exp = n - 1
    sign = "+" if exp >= 0 else "-"
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{head}e{sign}{abs(exp)}"


def _serialize(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise ProofError(f"JCS cannot represent the integer {value} exactly")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ProofError("JCS object keys must be strings")
        out.append("{")
        first = True
        for key, item in sorted(value.items(), key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _serialize(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _serialize(item, out)
        out.append("]")
    else:
        raise ProofError(f"JCS cannot serialise a {type(value).__name__}")


class _SlowPathError(Exception):
    pass


def _prepare(value: Any) -> Any:
    """``value`` in a form the fast serialiser writes exactly as RFC 8785, or _SlowPathError.

    Safe when every key is in the Basic Multilingual Plane (code point order then equals
    UTF-16 order) and every float either is an integer of magnitude at most 2**53 - 1 (exact,
    and ECMAScript prints it as that integer: rewritten as an int) or is a fraction in
    [1e-4, 2**53) (where ``repr`` and ECMAScript agree digit for digit). Containers are
    copied only on the path to a rewritten float; everything else is returned as it is.
    """
    cls = value.__class__
    if cls is str or value is None or cls is bool:
        return value
    if cls is dict:
        out: dict[str, Any] | None = None
        for key, item in value.items():
            if key.__class__ is not str or not (key.isascii() or max(key, default="") <= _BMP):
                raise _SlowPathError
            item_cls = item.__class__
            if item_cls is str or item_cls is bool or item is None:
                continue
            if item_cls is int and -_MAX_SAFE_INTEGER <= item <= _MAX_SAFE_INTEGER:
                continue
            prepared = _prepare(item)
            if prepared is not item:
                if out is None:
                    out = dict(value)
                out[key] = prepared
        return value if out is None else out
    if cls is list:
        items: list[Any] | None = None
        for index, item in enumerate(value):
            item_cls = item.__class__
            if item_cls is str or item_cls is bool or item is None:
                continue
            prepared = _prepare(item)
            if prepared is not item:
                if items is None:
                    items = list(value)
                items[index] = prepared
        return value if items is None else items
    if cls is int:
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return value
        raise _SlowPathError
    if cls is float:
        if not math.isfinite(value):
            raise _SlowPathError  # the slow path raises the typed error
        magnitude = abs(value)
        if magnitude <= _MAX_SAFE_INTEGER and value.is_integer():
            return int(value)
        if 1e-4 <= magnitude < _MAX_SAFE_INTEGER:
            return value
        raise _SlowPathError
    raise _SlowPathError


def canonicalize(value: Any) -> str:
    """The RFC 8785 canonical JSON text of ``value``.

    The fast path serialises the prepared copy with orjson (``OPT_SORT_KEYS``: code point
    order, equal to UTF-16 order for BMP keys; strings escaped exactly as RFC 8785 asks,
    lower-case ``\\u00xx``; the same shortest round-trip digits as ``repr`` for the floats
    ``_prepare`` lets through). Strings with lone surrogates, which orjson refuses, take the
    slow path like everything else ``_prepare`` does not vouch for.
    """
    try:
        return orjson.dumps(_prepare(value), option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except (_SlowPathError, orjson.JSONEncodeError):
        pass
    out: list[str] = []
    _serialize(value, out)
    return "".join(out)
