"""The report's charts as plain geometry for the SVG templates (templates/reports/_charts.html): no JavaScript.

Every chart has a fixed viewBox and scales to its box; its colours come from the portal's stylesheet (classes,
no inline style), so the Content-Security-Policy needs nothing new.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..i18n import N_
from ..intl import number, percent, short_date
from .service import AssociateRow, DayRow, DeclineRow, StoreRow

WIDTH = 600
ROW = 44  # one horizontal bar and its gap, in viewBox units
LABEL = 170  # room for a name left of a horizontal bar
MAX_LABELS = 10  # day labels on the axis at most; every bar keeps its title


@dataclass(frozen=True)
class Bar:
    """One bar: where it is, how long, and what it says."""

    x: float
    y: float
    width: float
    height: float
    title: str
    label: str = ""
    value: str = ""
    css: str = "chart-bar"


@dataclass
class Chart:
    """A chart's size, bars, grid lines and axis labels."""

    title: str
    description: str
    height: float
    bars: list[Bar] = field(default_factory=list)
    grid: list[tuple[float, str]] = field(default_factory=list)
    ticks: list[tuple[float, str, str]] = field(default_factory=list)  # x, label, text-anchor
    width: float = WIDTH
    empty: bool = False


def attach_by_day(days: list[DayRow], store: Any = None) -> Chart:
    """Vertical bars: the attach rate of each local day, 0 to 100 %."""
    left, right, top, bottom, height = 56.0, 8.0, 12.0, 36.0, 260.0
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    chart = Chart(
        N_("Attach rate by day"),
        N_("Sales with cover as a share of customers quoted, each day of the period."),
        height,
        empty=not any(d.quoted for d in days),
    )
    chart.grid = [(top + plot_h * (1 - q / 4), percent(Decimal(q) / 4, store, 0)) for q in range(5)]
    slot = plot_w / max(len(days), 1)
    every = max(1, -(-len(days) // MAX_LABELS))
    for i, day in enumerate(days):
        rate = day.attach_rate or Decimal(0)
        h = float(rate) * plot_h
        shown = short_date(day.day, store)
        title = (
            f"{shown}: {percent(day.attach_rate, store)} ({number(day.covered, store)} of {number(day.quoted, store)})"
        )
        chart.bars.append(Bar(left + slot * (i + 0.15), top + plot_h - h, slot * 0.7, h, title))
        if i % every == 0:
            x = left + slot * (i + 0.5)
            # A label near either edge is anchored inside the chart rather than cut off.
            anchor = "start" if x < left + 30 else "end" if x > WIDTH - right - 30 else "middle"
            chart.ticks.append((left + slot * i if anchor == "start" else x, shown, anchor))
    return chart


def _horizontal(title: str, description: str, rows: list[tuple[str, int, int | None, str]]) -> Chart:
    """Horizontal bars, one row each: (label, value, inner value drawn over it or None, value text)."""
    top = 8.0
    height = top * 2 + ROW * max(len(rows), 1)
    chart = Chart(title, description, height, empty=not any(value for _, value, _, _ in rows))
    longest = max((value for _, value, _, _ in rows), default=0) or 1
    span = WIDTH - LABEL - 110
    for i, (label, value, inner, text) in enumerate(rows):
        y = top + ROW * i + 6
        w = span * value / longest
        chart.bars.append(
            Bar(
                LABEL,
                y,
                w,
                ROW - 14,
                f"{label}: {text}",
                label,
                text,
                "chart-bar chart-bar-light" if inner is not None else "chart-bar",
            )
        )
        if inner is not None:
            chart.bars.append(Bar(LABEL, y, span * inner / longest, ROW - 14, f"{label}: {text}", css="chart-bar"))
    return chart


def declines_by_reason(declines: list[DeclineRow], store: Any = None) -> Chart:
    """Horizontal bars: products declined for each reason."""
    rows = [(d.reason.label, d.products, None, number(d.products, store)) for d in declines]
    return _horizontal(
        N_("Declines by reason"), N_("Products the customer said no thanks to, by the reason given."), rows
    )


def _sales_rows(pairs: list[tuple[str, int, int]], store: Any) -> list[tuple[str, int, int | None, str]]:
    """Rows of customers quoted with the sales with cover drawn over them."""
    return [
        (name, quoted, covered, f"{number(covered, store)} of {number(quoted, store)}")
        for name, quoted, covered in pairs
    ]


def sales_per_associate(rows: list[AssociateRow], store: Any = None) -> Chart:
    """Horizontal bars: each person's customers quoted, with their sales with cover drawn over them."""
    merged: dict[int, list[Any]] = defaultdict(lambda: ["", 0, 0])
    for row in rows:  # one person may have sold in two currencies: counts add up
        entry = merged[row.associate.id]
        entry[0] = row.associate.display_name
        entry[1] += row.figures.quoted
        entry[2] += row.figures.covered
    pairs = sorted(((n, q, c) for n, q, c in merged.values()), key=lambda p: (-p[1], p[0].casefold()))
    return _horizontal(
        N_("Sales per associate"),
        N_("Each person's customers quoted (light) and sales with cover (dark)."),
        _sales_rows(pairs, store),
    )


def sales_per_store(rows: list[StoreRow]) -> Chart:
    """Horizontal bars: each store's customers quoted, with its sales with cover drawn over them."""
    merged: dict[int, list[Any]] = defaultdict(lambda: ["", 0, 0])
    for row in rows:
        entry = merged[row.store.id]
        entry[0] = row.store.code
        entry[1] += row.figures.quoted
        entry[2] += row.figures.covered
    pairs = [(n, q, c) for n, q, c in merged.values()]
    return _horizontal(
        N_("Sales per store"),
        N_("Each store's customers quoted (light) and sales with cover (dark)."),
        _sales_rows(pairs, None),
    )
