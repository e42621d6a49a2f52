"""Reading the audit log: filters, keyset pages, a sale's timeline and streamed exports."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..extensions import db
from ..models import AuditEvent, Sale, Store
from .service import HASHED, HEAD_OFFICE_CHAIN, canonical, chain_key, iso_utc

PAGE_SIZE = 50
EXPORT_BATCH = 1000
EXPORT_FIELDS = ("id", *HASHED, "hash")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class EventFilter:
    """Which events of one chain to show or export."""

    chain_key: int
    start: datetime | None = None
    end: datetime | None = None
    actor: str | None = None
    action: str | None = None
    object_id: str | None = None

    def describe(self) -> dict[str, Any]:
        """Return the filter as plain values, for the audit event that records its use."""
        values = asdict(self)
        del values["chain_key"]
        for key in ("start", "end"):
            values[key] = iso_utc(values[key]) if values[key] else None
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class Page:
    """One screenful of events, newest first, with the cursors either side."""

    events: list[AuditEvent] = field(default_factory=list)
    newer: int | None = None
    older: int | None = None


def day_bounds(first: date | None, last: date | None, tz_name: str) -> tuple[datetime | None, datetime | None]:
    """Turn an inclusive range of local dates into a UTC [start, end) pair."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(first, time.min, tz).astimezone(UTC) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, tz).astimezone(UTC) if last else None
    return start, end


def chain_timezone(key: int) -> str:
    """Return the time zone dates are read in for a chain: the store's, or UTC for head office."""
    if key == HEAD_OFFICE_CHAIN:
        return "UTC"
    return db.session.scalar(sa.select(Store.timezone).where(Store.id == key)) or "UTC"


def _conditions(f: EventFilter) -> list[sa.ColumnElement[bool]]:
    """Return the WHERE conditions of a filter."""
    where = [AuditEvent.chain_key == f.chain_key]
    if f.start is not None:
        where.append(AuditEvent.occurred_at >= f.start)
    if f.end is not None:
        where.append(AuditEvent.occurred_at < f.end)
    if f.actor:
        where.append(AuditEvent.actor_name == f.actor.strip().lower())
    if f.action:
        where.append(AuditEvent.action == f.action)
    if f.object_id:
        value = f.object_id.strip()
        # Sale events name the sale by id; an XCover reference or till receipt finds that sale's events too.
        sale_ids = [
            str(i)
            for i in db.session.scalars(
                sa.select(Sale.id).where(
                    Sale.store_id == f.chain_key, sa.or_(Sale.xcover_ref == value.upper(), Sale.receipt_number == value)
                )
            )
        ]
        matches = AuditEvent.object_id == value
        if sale_ids:
            matches = sa.or_(matches, sa.and_(AuditEvent.object_type == "sale", AuditEvent.object_id.in_(sale_ids)))
        where.append(matches)
    return where


def _position(key: int, seq: int) -> sa.ColumnElement[Any] | None:
    """Return the (time, seq) position of an event as a comparable tuple, if it exists."""
    occurred_at = db.session.scalar(
        sa.select(AuditEvent.occurred_at).where(AuditEvent.chain_key == key, AuditEvent.seq == seq)
    )
    if occurred_at is None:
        return None
    return sa.tuple_(sa.literal(occurred_at, AuditEvent.occurred_at.type), sa.literal(seq, sa.BigInteger))


def page(f: EventFilter, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE) -> Page:
    """Return one page of matching events, newest first; before/after are seq cursors."""
    position = sa.tuple_(AuditEvent.occurred_at, AuditEvent.seq)
    query = sa.select(AuditEvent).where(*_conditions(f)).limit(size + 1)
    cursor = before if before is not None else after
    anchor = _position(f.chain_key, cursor) if cursor is not None else None
    if after is not None and anchor is not None:
        rows = list(db.session.scalars(query.where(position > anchor).order_by(AuditEvent.occurred_at, AuditEvent.seq)))
        more = len(rows) > size
        events = list(reversed(rows[:size]))
        return Page(events, newer=events[0].seq if more and events else None, older=events[-1].seq if events else None)
    if anchor is not None:
        query = query.where(position < anchor)
    rows = list(db.session.scalars(query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())))
    events = rows[:size]
    return Page(
        events,
        newer=events[0].seq if anchor is not None and events else None,
        older=events[-1].seq if len(rows) > size else None,
    )


def timeline_query(object_type: str, object_id: str, store_id: int | None) -> sa.Select[tuple[AuditEvent]]:
    """Select every event about one object in a store's chain, oldest first."""
    return (
        sa.select(AuditEvent)
        .where(
            AuditEvent.chain_key == chain_key(store_id),
            AuditEvent.object_type == object_type,
            AuditEvent.object_id == str(object_id),
        )
        .order_by(AuditEvent.seq)
    )


# Built once (a sale page shows a timeline on every view): building the statement costs more than running it.
_TIMELINE = (
    sa.select(AuditEvent)
    .where(
        AuditEvent.chain_key == sa.bindparam("chain_key"),
        AuditEvent.object_type == sa.bindparam("object_type"),
        AuditEvent.object_id == sa.bindparam("object_id"),
    )
    .order_by(AuditEvent.seq)
)


def timeline_for(object_type: str, object_id: str, store_id: int) -> list[AuditEvent]:
    """Return every event about one object in a store's chain, oldest first (a sale page's timeline)."""
    values = {"chain_key": chain_key(store_id), "object_type": object_type, "object_id": str(object_id)}
    return list(db.session.scalars(_TIMELINE, values))


def escape_controls(text: str) -> str:
    """Show control characters (CR, LF, NUL, DEL, line separators...) as visible escapes."""
    return _CONTROL.sub(lambda m: _NAMED_ESCAPES.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def csv_cell(value: Any) -> Any:
    """Make a value safe for a spreadsheet: no formulas, no control characters."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = canonical(value)
    if not isinstance(value, str):
        return value
    value = escape_controls(value)
    # A leading quote stops Excel, Numbers and Sheets from reading the cell as a formula.
    return "'" + value if value.startswith(_FORMULA_START) else value


def _plain(row: Any) -> dict[str, Any]:
    """Return an exported event as plain values."""
    values = {name: getattr(row, name) for name in EXPORT_FIELDS}
    values["occurred_at"] = iso_utc(row.occurred_at)
    return values


def _stream(f: EventFilter) -> Iterator[Any]:
    """Yield matching rows oldest first through a server-side cursor, a batch at a time."""
    columns = [AuditEvent.__table__.c[name] for name in EXPORT_FIELDS]
    query = sa.select(*columns).where(*_conditions(f)).order_by(AuditEvent.occurred_at, AuditEvent.seq)
    with (
        db.engine.connect() as conn,
        conn.execution_options(stream_results=True, yield_per=EXPORT_BATCH).execute(query) as result,
    ):
        yield from result


def _chunked(lines: Iterator[str]) -> Iterator[str]:
    """Join lines into chunks of about a batch, so the response is not one write per event."""
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= EXPORT_BATCH:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def export_csv(f: EventFilter) -> Iterator[str]:
    """Yield the matching events as CSV, header first, without holding them in memory."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(EXPORT_FIELDS)
        for row in _stream(f):
            writer.writerow([csv_cell(v) for v in _plain(row).values()])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    return _chunked(lines())


def export_jsonl(f: EventFilter) -> Iterator[str]:
    """Yield the matching events as JSON Lines, one object per event."""

    def lines() -> Iterator[str]:
        for row in _stream(f):
            text = json.dumps(_plain(row), ensure_ascii=False, separators=(",", ":"))
            # JSON already escapes C0 controls; DEL, C1 and line separators are escaped too.
            yield _CONTROL_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"

    return _chunked(lines())
