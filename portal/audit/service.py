"""Audit rules: append events to per-store hash chains, in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import AuditChainHead, AuditEvent, User, utcnow
from ..sensitive import mask_email, mask_phone, scrub
from ..vocab import AuditAction, AuditResult

log = logging.getLogger("portal.audit")

HEAD_OFFICE_CHAIN = 0
GENESIS_HASH = "0" * 64

_EMAIL_KEY = re.compile(r"e-?mail", re.I)
_PHONE_KEY = re.compile(r"phone|mobile|tel(ephone)?$", re.I)
_PENDING = "audit_pending_log_lines"
# Per transaction: chain key -> [last seq, last hash] of each chain head this transaction has locked.
_HEADS = "audit_chain_heads"


def chain_key(store_id: int | None) -> int:
    """Return the chain a store's events belong to (head office is chain 0)."""
    return store_id if store_id is not None else HEAD_OFFICE_CHAIN


def canonical_reference(fields: dict[str, Any]) -> str:
    """The canonical form as the standard library writes it: the definition every hash was made with."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


PLAIN_TYPES = frozenset({str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list})
_SAFE = PLAIN_TYPES | _CONTAINERS


def orjson_safe(value: Any) -> bool:
    """Tell whether orjson writes this value exactly as canonical_reference does.

    They agree on strings (any language), integers up to 64 bits (orjson refuses longer ones), booleans, null,
    lists and dicts with string keys (orjson refuses others); they differ on some floats (1e-07 against 1e-7)
    and on anything default=str turns into text, so those take the reference path.
    """
    kind = type(value)
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return kind in PLAIN_TYPES
    kinds = set(map(type, value))
    if kinds <= PLAIN_TYPES:
        return True
    return kinds <= _SAFE and all(orjson_safe(v) for v in value if type(v) in _CONTAINERS)


def canonical_bytes(fields: dict[str, Any], plain: bool | None = None) -> bytes:
    """Serialise event fields, UTF-8 encoded, the one way the hash is computed over (fast where it is exact).

    plain: the caller has already checked the values with orjson_safe (None: check them here).
    """
    if orjson_safe(fields) if plain is None else plain:
        try:
            return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer past 64 bits, or a key that is not a string
            pass
    return canonical_reference(fields).encode("utf-8")


def canonical(fields: dict[str, Any]) -> str:
    """Serialise event fields the one way the hash is computed over."""
    return canonical_bytes(fields).decode("utf-8")


def iso_utc(moment: datetime) -> str:
    """Format a time the way the hash and the exports spell it: 2026-05-01T09:30:00.000000Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


# The columns an event's hash covers, in the order verify reads them.
HASHED = (
    "chain_key",
    "seq",
    "store_id",
    "occurred_at",
    "actor_id",
    "actor_name",
    "actor_role",
    "action",
    "object_type",
    "object_id",
    "result",
    "request_id",
    "client_ip",
    "details",
    "prev_hash",
)
_OCCURRED_AT = HASHED.index("occurred_at")


_INSERTED = (*HASHED, "hash")


def hashed_values(values: Sequence[Any]) -> dict[str, Any]:
    """Return the hashed fields from their values in HASHED order (the fast path for verify)."""
    fields = dict(zip(HASHED, values, strict=True))
    fields["occurred_at"] = iso_utc(values[_OCCURRED_AT])
    return fields


def hashable_fields(event: Any) -> dict[str, Any]:
    """Return the fields of an event (an AuditEvent or anything with its attributes) that its hash covers."""
    return hashed_values([getattr(event, name) for name in HASHED])


def digest(fields: dict[str, Any]) -> str:
    """Return the SHA-256 of hashed fields in their canonical form."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


def compute_hash(event: Any) -> str:
    """Return the SHA-256 of an event's canonical form."""
    return digest(hashable_fields(event))


def mask_contacts(value: Any) -> Any:
    """Mask values kept under email- or phone-like keys, at any depth."""
    if isinstance(value, dict):
        masked: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, str) and _EMAIL_KEY.search(key):
                masked[key] = mask_email(item)
            elif isinstance(item, str) and _PHONE_KEY.search(key):
                masked[key] = item if item.startswith("***") else mask_phone(item)
            else:
                masked[key] = mask_contacts(item)
        return masked
    if isinstance(value, list):
        return [mask_contacts(v) for v in value]
    return value


def safe_details(details: dict[str, Any] | None) -> dict[str, Any]:
    """Return details fit for the log: secrets dropped, card numbers redacted, contacts masked, plain JSON."""
    # The JSON round trip makes what is hashed exactly what the database gives back.
    text = canonical_bytes(mask_contacts(scrub(details or {})))
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN, or an integer past 64 bits: the standard library reads those
        return json.loads(text)


def ensure_chain(store_id: int | None) -> None:
    """Create the head row of a chain if it does not exist yet (called when a store is created)."""
    key = chain_key(store_id)
    if db.session.get(AuditChainHead, key) is None:
        db.session.add(AuditChainHead(chain_key=key, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()


_HEAD = AuditChainHead.__table__
# Built once, with bind parameters: building and keying a statement cost more than running it.
# Writing the head before reading it takes PostgreSQL's row lock (and SQLite's write lock) first,
# so two workers can never both read the same head and fork the chain. One statement: RETURNING.
_LOCK_HEAD = (
    sa.update(_HEAD)
    .where(_HEAD.c.chain_key == sa.bindparam("key"))
    .values(seq=_HEAD.c.seq)
    .returning(_HEAD.c.seq, _HEAD.c.last_hash)
)
_WRITE_HEAD = (
    sa.update(_HEAD)
    .where(_HEAD.c.chain_key == sa.bindparam("key"))
    .values(seq=sa.bindparam("new_seq"), last_hash=sa.bindparam("new_hash"))
)
_INSERT_EVENT = sa.insert(AuditEvent.__table__)


def _lock_head(key: int) -> tuple[int, str]:
    """Lock a chain's head until commit and return its seq and last hash."""
    row = db.session.execute(_LOCK_HEAD, {"key": key}).first()
    if row is None:
        ensure_chain(None if key == HEAD_OFFICE_CHAIN else key)
        return _lock_head(key)
    return row.seq, row.last_hash


def _next_link(key: int) -> list[Any]:
    """Return this transaction's [last seq, last hash] of a chain, locking its head at the first event."""
    heads: dict[int, list[Any]] = db.session.info.setdefault(_HEADS, {})
    if key not in heads:
        # The transaction's pending writes go first, so every transaction locks its business rows before the
        # head (a payment flushed its sale after the head while a booking locked the sale first: a deadlock).
        db.session.flush()
        heads[key] = list(_lock_head(key))
    return heads[key]


def record(
    action: AuditAction,
    *,
    actor: User | None = None,
    actor_name: str | None = None,
    store_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    result: AuditResult = AuditResult.SUCCESS,
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> AuditEvent:
    """Append one event to its store's chain in the current transaction (the caller commits).

    actor_name names an actor who is not a person signed in to the portal (XCover, for its webhooks).
    """
    if not isinstance(action, AuditAction):
        raise TypeError(f"audit actions are AuditAction members, not {action!r}")
    if AuditResult.get(result) is None:
        raise ValueError(f"unknown audit result {result!r}")
    if store_id is None and actor is not None:
        store_id = actor.store_id
    key = chain_key(store_id)
    link = _next_link(key)
    prev_hash = link[1]
    event = AuditEvent(
        chain_key=key,
        seq=link[0] + 1,
        store_id=store_id,
        occurred_at=occurred_at or utcnow(),
        actor_id=actor.id if actor is not None else None,
        actor_name=actor.username if actor is not None else actor_name,
        actor_role=str(actor.role) if actor is not None else None,
        action=str(action),
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        result=str(result),
        request_id=g.get("request_id") if has_request_context() else None,
        client_ip=g.get("client_ip") if has_request_context() else None,
        details=safe_details(details),
        prev_hash=prev_hash,
    )
    fields = hashable_fields(event)
    event.hash = digest(fields)
    # Inserted at once as a plain row (the unit of work's flush cost more than the rest of an append); the event
    # returned is a detached copy of it.
    inserted = db.session.execute(_INSERT_EVENT, {name: getattr(event, name) for name in _INSERTED})
    event.id = inserted.inserted_primary_key[0]
    # The head row is written once, at commit, for every event of the transaction (_write_heads).
    link[0], link[1] = event.seq, event.hash
    # Logged once the transaction commits, so a rolled-back change never shows in the log either.
    db.session.info.setdefault(_PENDING, []).append(fields | {"hash": event.hash})
    return event


@sa.event.listens_for(Session, "before_commit")
def _write_heads(session: Session) -> None:
    """Move each locked chain head to the transaction's last event, in one statement per chain."""
    heads = session.info.pop(_HEADS, None)
    if not heads:
        return
    for key, (seq, last_hash) in heads.items():
        session.execute(_WRITE_HEAD, {"key": key, "new_seq": seq, "new_hash": last_hash})


@sa.event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    """Write one JSON log line per event the transaction just committed."""
    for line in session.info.pop(_PENDING, []):
        log.info("audit event", extra={"audit": line})


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    """Drop the log lines and head positions of events rolled back with their change (to a savepoint: only theirs)."""
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        session.info.pop(_HEADS, None)
        return
    heads = session.info.get(_HEADS)
    if not heads or not session.is_active:
        return
    # Each locked chain goes on from its last event that survived (the head row is only written at commit).
    events, head = AuditEvent.__table__, AuditChainHead.__table__
    for key in heads:
        last = (
            session.execute(
                sa.select(events.c.seq, events.c.hash)
                .where(events.c.chain_key == key)
                .order_by(events.c.seq.desc())
                .limit(1)
            ).first()
            or session.execute(sa.select(head.c.seq, head.c.last_hash).where(head.c.chain_key == key)).first()
        )
        heads[key] = [last[0], last[1]]
    kept = [line for line in session.info.get(_PENDING, []) if line["seq"] <= heads.get(line["chain_key"], [0])[0]]
    session.info[_PENDING] = kept
