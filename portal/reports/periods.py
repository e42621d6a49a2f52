"""The date range of a report, read in each store's own time zone, and a sale's local day in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from ..audit.browse import day_bounds
from ..intl import store_locale
from ..models import Store
from ..vocab import ReportPeriod

# A custom range longer than this is refused beside its field: a year and a day covers any year.
MAX_DAYS = 366


@dataclass(frozen=True)
class Window:
    """One store's part of a report: its local dates, their UTC bounds and the UTC offsets in force between them."""

    store_id: int
    zone: str
    first: date
    last: date
    start: datetime
    end: datetime
    # (from this UTC instant, offset in seconds), oldest first; the first starts at `start`.
    offsets: tuple[tuple[datetime, int], ...]

    @property
    def days(self) -> int:
        """Return how many local days the window covers."""
        return (self.last - self.first).days + 1


def local_dates(
    period: ReportPeriod, today: date, week_start: int = 0, first: date | None = None, last: date | None = None
) -> tuple[date, date]:
    """Return the first and last local date (inclusive) of a period, seen from a store's today.

    week_start: the store locale's first day of the week (0 is Monday, 6 is Sunday).
    """
    if period == ReportPeriod.TODAY:
        return today, today
    if period in (ReportPeriod.THIS_WEEK, ReportPeriod.LAST_WEEK):
        monday = today - timedelta(days=(today.weekday() - week_start) % 7)
        if period == ReportPeriod.LAST_WEEK:
            return monday - timedelta(days=7), monday - timedelta(days=1)
        return monday, today
    if period == ReportPeriod.THIS_MONTH:
        return today.replace(day=1), today
    if period == ReportPeriod.LAST_MONTH:
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if first is None or last is None:
        raise ValueError("a custom period needs its first and last date")
    return first, last


def _offset(moment: datetime, zone: ZoneInfo) -> int:
    """Return a zone's UTC offset at an instant, in seconds."""
    return int(moment.astimezone(zone).utcoffset().total_seconds())


def offsets(zone_name: str, start: datetime, end: datetime) -> tuple[tuple[datetime, int], ...]:
    """Return the UTC offsets a zone has between two instants, each with the instant it starts (to the second)."""
    zone = ZoneInfo(zone_name)
    found = [(start, _offset(start, zone))]
    step = timedelta(hours=12)  # no zone changes its offset twice in twelve hours
    left = start
    while left < end:
        right = min(left + step, end)
        if _offset(right, zone) != found[-1][1]:
            low, high = left, right  # the change lies in (low, high]: halve to the second
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset(middle, zone) == found[-1][1]:
                    low = middle
                else:
                    high = middle
            # Zones change on a whole second: the first second after the last instant with the old offset.
            since = low.replace(microsecond=0) + timedelta(seconds=1)
            found.append((since, _offset(since, zone)))
        left = right
    return tuple(found)


def window(
    store: Store, period: ReportPeriod, first: date | None = None, last: date | None = None, now: datetime | None = None
) -> Window:
    """Return a store's window for a period: its dates in its own zone and locale, and their UTC bounds."""
    zone = ZoneInfo(store.timezone)
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    first, last = local_dates(period, today, store_locale(store).first_week_day, first, last)
    start, end = day_bounds(first, last, store.timezone)
    return Window(store.id, store.timezone, first, last, start, end, offsets(store.timezone, start, end))


def within(windows: list[Window], store_column: Any, time_column: Any) -> ColumnElement[bool]:
    """The condition a row of one of the windows' stores, timed inside that store's window, meets."""
    groups: dict[tuple[datetime, datetime], list[int]] = {}
    for w in windows:
        groups.setdefault((w.start, w.end), []).append(w.store_id)
    return sa.or_(
        *(
            sa.and_(store_column.in_(ids), time_column >= start, time_column < end)
            for (start, end), ids in groups.items()
        )
    )


def _offset_of(w: Window, time_column: Any) -> ColumnElement[int]:
    """The UTC offset in force at a row's time, inside one window."""
    if len(w.offsets) == 1:
        return sa.literal_column(str(w.offsets[0][1]), sa.Integer)
    whens = [
        (time_column < since, sa.literal_column(str(before[1]), sa.Integer))
        for before, (since, _) in zip(w.offsets, w.offsets[1:], strict=False)
    ]
    return sa.case(*whens, else_=sa.literal_column(str(w.offsets[-1][1]), sa.Integer))


class _LocalDate(FunctionElement):
    """A UTC timestamp moved by an offset in seconds, as a date (compiled per database below)."""

    inherit_cache = True
    name = "local_date"


@compiles(_LocalDate, "sqlite")
def _local_date_sqlite(element: _LocalDate, compiler: Any, **kw: Any) -> str:
    """SQLite keeps UTC timestamps as text: date(t, 'N seconds')."""
    moment, seconds = list(element.clauses)
    return f"date({compiler.process(moment, **kw)}, ({compiler.process(seconds, **kw)}) || ' seconds')"


@compiles(_LocalDate, "postgresql")
def _local_date_postgresql(element: _LocalDate, compiler: Any, **kw: Any) -> str:
    """PostgreSQL: the timestamp in UTC, plus the offset, as a date (never the session's time zone)."""
    moment, seconds = list(element.clauses)
    return (
        f"CAST(timezone('UTC', {compiler.process(moment, **kw)}) "
        f"+ ({compiler.process(seconds, **kw)}) * INTERVAL '1 second' AS DATE)"
    )


def local_day(windows: list[Window], store_column: Any, time_column: Any) -> ColumnElement[Any]:
    """A row's date in its store's time zone (windows name every store the rows can belong to)."""
    offset: ColumnElement[int]
    if len({w.offsets for w in windows}) == 1:
        offset = _offset_of(windows[0], time_column)
    else:
        offset = sa.case(*((store_column == w.store_id, _offset_of(w, time_column)) for w in windows), else_=0)
    return _LocalDate(time_column, offset)


def as_date(value: Any) -> date:
    """Read back a local day: PostgreSQL gives a date, SQLite its ISO text."""
    return value if isinstance(value, date) else date.fromisoformat(value)
