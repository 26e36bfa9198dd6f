"""Parsing of hex text typed by people or copied from logs."""

from __future__ import annotations

import string

from ble_bridge.errors import BadHexError

_HEX = frozenset(string.hexdigits)


def parse_hex(text: str) -> bytes:
    """Hex digits to bytes, ignoring whitespace, ``:``, ``-`` and a ``0x`` prefix."""
    cleaned = text.strip()
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    digits = "".join(ch for ch in cleaned if ch not in " \t\r\n:-")
    if not digits:
        raise BadHexError("empty hex input")
    if any(ch not in _HEX for ch in digits):
        raise BadHexError(f"not hexadecimal: {text[:40]!r}")
    if len(digits) % 2:
        raise BadHexError(f"odd number of hex digits ({len(digits)})")
    return bytes.fromhex(digits)


def unescape_adapter_text(text: str) -> str:
    r"""Adapter output as typed on a shell: the two characters ``\r`` / ``\n`` become CR / LF."""
    return text.replace("\\r", "\r").replace("\\n", "\n")
