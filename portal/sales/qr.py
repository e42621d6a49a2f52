"""QR codes drawn on the server as inline SVG (no scripts, no external services)."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(url: str, title: str = "QR code to the policy") -> Markup:
    """Return an inline SVG QR code that opens the url."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title=title, dark="#14202b")
    return Markup(svg)  # nosec B704 # segno escapes the title; the rest is drawn, not user text
