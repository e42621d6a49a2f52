"""The words kept for a cover: XCover's HTML cleaned, what is covered (from the content, else the benefits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..xcover.html import clean, plain


def _benefit(b: Any) -> dict[str, str]:
    """Turn an inclusion/exclusion (dataclass or dict) into a plain dict: a plain title, a cleaned description."""
    if isinstance(b, Mapping):
        title, description = b.get("title"), b.get("description")
    else:
        title, description = getattr(b, "title", ""), getattr(b, "description", "")
    return {"title": plain(str(title or "")), "description": clean(str(description or ""))}


def _benefit_lines(benefits: list[Any]) -> list[dict[str, str]]:
    """What the policy pays, from XCover's benefits[] (each a description and a limit), as covered lines."""
    lines = []
    for b in benefits:
        if isinstance(b, Mapping) and b.get("description"):
            limit = b.get("limit_description") or b.get("limit_formatted") or ""
            lines.append({"title": plain(str(b["description"])), "description": plain(str(limit))})
    return lines


def cover_content(quote: Any) -> dict[str, Any]:
    """The words kept for a cover: XCover's HTML cleaned; what is covered from the content, else from benefits."""
    content = quote.content
    return {
        "description": clean(content.description),
        "inclusions": [_benefit(b) for b in content.inclusions] or _benefit_lines(quote.benefits),
        "exclusions": [_benefit(b) for b in content.exclusions],
        "disclaimer": clean(content.disclaimer),
        "underwriter_name": plain(content.underwriter_name),
        "underwriter_disclaimer": clean(content.underwriter_disclaimer),
    }
