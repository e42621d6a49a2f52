"""Chain verification: recompute every hash and link, and name the first event that breaks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..extensions import db
from ..models import AuditChainHead, AuditEvent, Store
from .service import GENESIS_HASH, HASHED, HEAD_OFFICE_CHAIN, PLAIN_TYPES, canonical_bytes, iso_utc, orjson_safe

BATCH = 5000
_DETAILS = HASHED.index("details")
_OCCURRED_AT = HASHED.index("occurred_at")


def _select(dialect: str) -> str:
    """Select id and hash, then the hashed columns in order, for the driver itself (no ORM, no type decoding)."""
    columns = [f"{name}::text" if name == "details" and dialect == "postgresql" else name for name in HASHED]
    marker = "%s" if dialect == "postgresql" else "?"
    # The columns are the fixed HASHED names and the chain key is a bound parameter.
    return f"SELECT id, hash, {', '.join(columns)} FROM audit_event WHERE chain_key = {marker} ORDER BY seq"  # nosec B608


def _moment(value: Any) -> str:
    """Spell a stored occurred_at as the hash does, from SQLite's text or PostgreSQL's datetime."""
    if isinstance(value, str):
        # SQLAlchemy writes SQLite timestamps in UTC as "2026-05-01 09:30:00.123456".
        if len(value) == 26 and value[10] == " " and value[19] == ".":
            return f"{value[:10]}T{value[11:]}Z"
        value = datetime.fromisoformat(value)
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return iso_utc(value)


def _details(value: Any) -> Any:
    """Read stored details (JSON text from the driver) back into values."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # NaN, or an integer past 64 bits: the standard library reads those
        return json.loads(value)


def row_digest(values: Sequence[Any]) -> tuple[dict[str, Any], str]:
    """Return a driver row's hashed fields (in HASHED order) and the SHA-256 of their canonical form."""
    fields = dict(zip(HASHED, values, strict=True))
    moment = values[_OCCURRED_AT]
    # SQLite's text as SQLAlchemy writes it ("2026-05-01 09:30:00.123456", UTC) is respelt in place; the rest parsed.
    if type(moment) is str and len(moment) == 26 and moment[10] == " " and moment[19] == ".":
        fields["occurred_at"] = f"{moment[:10]}T{moment[11:]}Z"
    else:
        fields["occurred_at"] = _moment(moment)
    # Checked once the time is text (PostgreSQL's driver gives a datetime, which sent every event down the slow
    # reference path before) and while the details are still their JSON text; then the details' values.
    plain = PLAIN_TYPES.issuperset(map(type, fields.values()))
    fields["details"] = details = _details(values[_DETAILS])
    return fields, hashlib.sha256(canonical_bytes(fields, plain and orjson_safe(details))).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """What verifying one chain found."""

    chain_key: int
    label: str
    events: int
    broken_id: int | None = None
    broken_seq: int | None = None
    problem: str | None = None
    last_hash: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the chain is intact."""
        return self.problem is None

    def describe(self) -> str:
        """Say in one line what was found."""
        if self.ok:
            return f"{self.label}: {self.events} events, chain intact, last hash {self.last_hash}."
        where = (
            f"event id {self.broken_id} (seq {self.broken_seq})"
            if self.broken_id is not None
            else f"the chain head (after seq {self.broken_seq})"
        )
        return f"{self.label}: BROKEN at {where}: {self.problem}"


def check_chain(key: int, label: str, rows: Iterable[Sequence[Any]], head: tuple[int, str] | None) -> ChainReport:
    """Walk one chain's rows in seq order and return the first break, if any."""
    expected_seq, prev_hash, last_id, count = 1, GENESIS_HASH, None, 0
    for row in rows:
        count += 1
        event_id, stored_hash = row[0], row[1]
        fields, computed = row_digest(row[2:])
        seq = fields["seq"]
        problem = None
        if seq < expected_seq:
            problem = f"seq {seq} repeats or goes backwards (expected {expected_seq}): reordered or inserted"
        elif seq > expected_seq:
            problem = f"seq jumps from {expected_seq - 1} to {seq}: events were deleted before it"
        elif fields["prev_hash"] != prev_hash:
            problem = (
                "prev_hash does not match the previous event's hash: an event before it was "
                "inserted, deleted, edited or moved"
            )
        elif computed != stored_hash:
            problem = "hash does not match the event's contents: the event was edited or moved"
        elif last_id is not None and event_id <= last_id:
            problem = f"id {event_id} is not after the previous event's id {last_id}: events were reordered"
        if problem:
            return ChainReport(key, label, count, event_id, seq, problem)
        expected_seq, prev_hash, last_id = seq + 1, stored_hash, event_id
    last_seq = expected_seq - 1
    if head is None:
        if count:
            return ChainReport(key, label, count, None, last_seq, "the chain has events but no head row")
        return ChainReport(key, label, count, last_hash=prev_hash)
    head_seq, head_hash = head
    if head_seq > last_seq:
        return ChainReport(
            key,
            label,
            count,
            None,
            last_seq,
            f"the head says {head_seq} events but only {last_seq} exist: the last events were deleted",
        )
    if head_seq < last_seq:
        return ChainReport(
            key,
            label,
            count,
            None,
            head_seq,
            f"{last_seq - head_seq} events after the head's seq {head_seq}: inserted at the end",
        )
    if head_hash != prev_hash:
        return ChainReport(
            key,
            label,
            count,
            None,
            last_seq,
            "the head's hash differs from the last event's hash: the last event was replaced",
        )
    return ChainReport(key, label, count, last_hash=prev_hash)


def _snapshot(conn: Connection) -> None:
    """Read every chain from one consistent snapshot, so appends made meanwhile cannot look like tampering."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    elif conn.dialect.name == "sqlite":
        # pysqlite only opens transactions before writes; a read transaction must be asked for.
        conn.exec_driver_sql("BEGIN")


def _rows(conn: Connection, key: int) -> Iterator[Any]:
    """Stream one chain's events in seq order, as the driver's own tuples, without holding them all in memory."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    # A named (server-side) cursor on PostgreSQL; the snapshot's transaction is already open on this connection.
    cursor = raw.cursor(name=f"audit_verify_{key}") if conn.dialect.name == "postgresql" else raw.cursor()
    try:  # closed even when the walk stops at a break
        cursor.execute(_select(conn.dialect.name), (key,))
        while batch := cursor.fetchmany(BATCH):
            yield from batch
    finally:
        cursor.close()


def chain_labels(conn: Connection) -> dict[int, str]:
    """Name every chain: its store code, or head office."""
    labels = {HEAD_OFFICE_CHAIN: "Head office"}
    for store_id, code in conn.execute(sa.select(Store.id, Store.code)):
        labels[store_id] = f"Store {code}"
    return labels


def verify_chains(keys: list[int] | None = None) -> list[ChainReport]:
    """Verify the given chains (default: every chain with a head or an event)."""
    with db.engine.connect() as conn:
        _snapshot(conn)
        labels = chain_labels(conn)
        heads = {
            k: (s, h)
            for k, s, h in conn.execute(
                sa.select(AuditChainHead.chain_key, AuditChainHead.seq, AuditChainHead.last_hash)
            )
        }
        if keys is None:
            present = set(conn.scalars(sa.select(AuditEvent.chain_key).distinct()))
            keys = sorted(present | set(heads))
        reports = []
        for key in keys:
            rows = _rows(conn, key)
            reports.append(check_chain(key, labels.get(key, f"Chain {key}"), rows, heads.get(key)))
            rows.close()
        conn.rollback()
    return reports
