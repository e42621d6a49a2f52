"""XCover's words are HTML (`content.disclaimer`, sometimes `description`): cleaned to a small allow-list to show.

nh3 (the Rust ammonia sanitiser) parses the text as a browser would and keeps only the tags and attributes
below; everything else, scripts and event handlers included, is dropped, and bare text comes out escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import nh3
from markupsafe import Markup

TAGS = frozenset({"p", "br", "strong", "b", "em", "i", "u", "small", "sub", "sup", "span", "ul", "ol", "li", "a"})
ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_BLOCK = re.compile(r"^\s*<(p|ul|ol)[\s>]")
_BREAK = re.compile(r"<br\s*/?>|</(p|li|div|h[1-6])>", re.IGNORECASE)


# The same few disclaimers and descriptions come back on every view of a sale: cleaned once each.
CLEANED = 1024


def clean(text: str | None) -> str:
    """The text as safe HTML: allowed tags kept, links made noopener, all else dropped or escaped."""
    if not text:
        return ""
    return _clean(str(text))


@lru_cache(maxsize=CLEANED)
def _clean(text: str) -> str:
    """clean(), once per text (nh3 is pure: the same text always comes out the same)."""
    return nh3.clean(
        text,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def plain(text: str | None) -> str:
    """The text with every tag removed and entities decoded (for titles and one-line places)."""
    if not text:
        return ""
    return " ".join(html.unescape(nh3.clean(_BREAK.sub(" ", str(text)), tags=set())).split())


def markup(text: str | None) -> Markup:
    """{{ text|xcover_html }}: the cleaned HTML, marked safe for Jinja."""
    return Markup(clean(text))  # nosec B704 # clean() keeps only nh3's allow-list of tags and attributes


def _block(fragment: str) -> str:
    """A cleaned fragment as a block: wrapped in a paragraph unless it starts with one (or a list)."""
    return fragment if _BLOCK.match(fragment) else f"<p>{fragment}</p>"


def disclaimer_fragment(disclaimer: str | None, underwriter_disclaimer: str | None = None) -> Markup:
    """Exactly what the page shows as a cover's disclaimer: XCover's disclaimer, then the underwriter's."""
    parts = [_block(part) for part in (clean(disclaimer), clean(underwriter_disclaimer)) if part]
    return Markup("\n".join(parts))  # nosec B704 # each part went through clean() (nh3 allow-list)


def content_disclaimer(content: Mapping[str, Any] | None) -> Markup:
    """{{ cover.content|xcover_disclaimer }}: the disclaimer fragment of a cover's stored words."""
    content = content or {}
    return disclaimer_fragment(content.get("disclaimer"), content.get("underwriter_disclaimer"))
