"""Each table of a report as CSV: plain numbers, one currency column, every cell made safe for a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from ..audit.browse import csv_cell
from ..vocab import ReportTable
from .figures import Figures, Report

FIGURE_HEADERS = (
    "Currency",
    "Customers quoted",
    "Sales with cover",
    "Attach rate (%)",
    "Policies sold",
    "Cover revenue incl. tax",
    "Tax",
    "Cover revenue excl. tax",
    "Average cover per covered sale",
    "Products declined",
    "Returns",
    "Refunded",
    "Returns within cooling-off (%)",
    "Open exceptions",
)


def _pct(fraction: Decimal | None) -> Decimal | str:
    """A fraction as a percentage with one decimal (blank when there is none)."""
    return "" if fraction is None else (fraction * 100).quantize(Decimal("0.1"))


def _figures(currency: str, f: Figures) -> list[Any]:
    """The columns every store, person and total row has."""
    return [
        currency,
        f.quoted,
        f.covered,
        _pct(f.attach_rate),
        f.policies,
        f.revenue,
        f.tax,
        f.revenue_ex_tax,
        "" if f.average is None else f.average,
        f.declined,
        f.returns,
        f.refunded,
        _pct(f.cooling_off_share),
        f.exceptions,
    ]


def rows(report: Report, table: ReportTable) -> Iterator[list[Any]]:
    """Yield a table's header, then its rows."""
    if table == ReportTable.STORES:
        yield ["Store code", "Store", *FIGURE_HEADERS]
        for row in report.by_store:
            yield [row.store.code, row.store.name, *_figures(row.currency, row.figures)]
        for currency, totals in report.totals:
            yield ["Total", f"All stores in {currency}", *_figures(currency, totals)]
    elif table == ReportTable.ASSOCIATES:
        yield ["Store code", "Associate", "Username", *FIGURE_HEADERS]
        for row in report.by_associate:
            yield [
                row.store.code,
                row.associate.display_name,
                row.associate.username,
                *_figures(row.currency, row.figures),
            ]
    elif table == ReportTable.DAYS:
        yield ["Date", "Customers quoted", "Sales with cover", "Attach rate (%)"]
        for day in report.days:
            yield [day.day.isoformat(), day.quoted, day.covered, _pct(day.attach_rate)]
    elif table == ReportTable.POLICY_TYPES:
        yield ["Policy type", "Currency", "Policies sold", "Cover revenue incl. tax", "Tax", "Cover revenue excl. tax"]
        for p in report.policy_types:
            yield [p.policy_type, p.currency, p.policies, p.revenue, p.tax, p.revenue_ex_tax]
    elif table == ReportTable.DECLINES:
        yield ["Reason", "Reason code", "Products declined", "Customers", "Share of declines (%)"]
        for d in report.declines:
            yield [d.reason.label, d.reason.value, d.products, d.customers, _pct(d.share)]


def to_csv(report: Report, table: ReportTable) -> str:
    """Return a table as CSV text, every cell through the audit export's formula guard."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows(report, table):
        writer.writerow([csv_cell(value) for value in row])
    return buffer.getvalue()
