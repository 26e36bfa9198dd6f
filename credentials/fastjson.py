"""JSON for JOSE payloads and disclosures: orjson, with the standard library as fallback.

orjson encodes and decodes several times faster than ``json`` (it dominates the cost of a
``vc+jwt`` / SD-JWT once signatures are done). Its limits are narrower — integers beyond
64 bits, non-string keys and lone surrogates are refused when writing, and integers beyond
64 bits are read as floats — so such documents go through ``json`` and keep exactly today's
behaviour. Non-finite numbers never get here: the data model refuses them
(:func:`credentials.limits.check_shape`), and both decoders refuse ``NaN`` literals, which
are not JSON.
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
        return json.dumps(value, separators=(",", ":")).encode("ascii")


# orjson reads an integer beyond 64 bits as a float (silently losing digits); a text that may
# hold such a number goes to the standard parser instead. A JSON number starts the text or
# follows one of `: [ , -` or whitespace, never a letter or a quote, so a run of 19 or more
# digits (2**63 has 19) after one of those is what sends a text there; digit runs inside
# hex or base64 strings (frames, signatures) stay on the fast path. Found by mapping every
# digit to "0", those characters to "1" and everything else to "." and searching for "1"
# and 19 zeros (two C passes; a regular expression costs several times more on the short
# texts of disclosures).
_CLASSES = bytes(48 if 48 <= b <= 57 else 49 if b in b":[,- \t\n\r" else 46 for b in range(256))
_NUMBER_OF_19_DIGITS = b"1" + b"0" * 19


def loads(data: bytes | str) -> Any:
    """Parse JSON; ``ValueError`` for anything that is not JSON."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        classes = b"1" + raw.translate(_CLASSES)
        if _NUMBER_OF_19_DIGITS not in classes:
            return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    return _standard_loads(data)


def _standard_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except ValueError:
        raise
    except Exception as exc:  # e.g. RecursionError: still "not JSON" to the caller
        raise ValueError(str(exc)) from None


def _refuse_constant(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")
