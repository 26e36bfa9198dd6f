"""The passport's QR code (the EU passport's data carrier on the battery label), by segno."""

from __future__ import annotations

import io
from typing import Final

import segno

ERROR_LEVEL: Final = "m"  # 15 % recovery: survives a scuffed label, stays a small symbol


def passport_url(base_url: str, battery_id: str) -> str:
    return f"{base_url.rstrip('/')}/p/{battery_id}"


def qr_code(url: str) -> segno.QRCode:
    return segno.make(url, error=ERROR_LEVEL, micro=False)


def svg(url: str) -> bytes:
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="svg", scale=4, border=4, xmldecl=False, title=url)
    return buffer.getvalue()


def png(url: str) -> bytes:
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()


def svg_inline(url: str) -> str:
    """The SVG without an XML declaration, for embedding in the page."""
    buffer = io.BytesIO()
    qr_code(url).save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        xmldecl=False,
        svgns=True,
        svgclass="qr",
        lineclass=None,
    )
    return buffer.getvalue().decode("utf-8")
