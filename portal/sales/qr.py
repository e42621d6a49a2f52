"""QR codes drawn on the server as inline SVG (no scripts, no external services), once per sale."""

from __future__ import annotations

from functools import lru_cache

import segno
from markupsafe import Markup

# Drawing a code costs more than the rest of the sale page; a booked sale's proof link never changes.
CACHED_CODES = 1024


@lru_cache(maxsize=CACHED_CODES)
def qr_svg(url: str, title: str = "QR code to the policy") -> Markup:
    """Return an inline SVG QR code that opens the url (drawn once per url, which is the sale's own)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title=title, dark="#14202b")
    return Markup(svg)  # nosec B704 # segno escapes the title; the rest is drawn, not user text
