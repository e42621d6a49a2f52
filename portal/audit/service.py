"""Audit rules: append events to per-store hash chains, in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

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


def chain_key(store_id: int | None) -> int:
    """Return the chain a store's events belong to (head office is chain 0)."""
    return store_id if store_id is not None else HEAD_OFFICE_CHAIN


def canonical(fields: dict[str, Any]) -> str:
    """Serialise event fields the one way the hash is computed over."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


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
    return json.loads(canonical(mask_contacts(scrub(details or {}))))


def ensure_chain(store_id: int | None) -> None:
    """Create the head row of a chain if it does not exist yet (called when a store is created)."""
    key = chain_key(store_id)
    if db.session.get(AuditChainHead, key) is None:
        db.session.add(AuditChainHead(chain_key=key, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()


def _advance_head(key: int) -> tuple[int, str]:
    """Take the next seq of a chain and its last hash, locking the chain head until commit."""
    # Writing the head before reading it takes PostgreSQL's row lock (and SQLite's write lock) first,
    # so two workers can never both read the same head and fork the chain. One statement: RETURNING.
    head = AuditChainHead.__table__
    row = db.session.execute(
        sa.update(head)
        .where(head.c.chain_key == key)
        .values(seq=head.c.seq + 1)
        .returning(head.c.seq, head.c.last_hash)
    ).first()
    if row is None:
        ensure_chain(None if key == HEAD_OFFICE_CHAIN else key)
        return _advance_head(key)
    return row.seq, row.last_hash


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
    seq, prev_hash = _advance_head(key)
    event = AuditEvent(
        chain_key=key,
        seq=seq,
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
    event.hash = compute_hash(event)
    db.session.add(event)
    head = AuditChainHead.__table__
    db.session.execute(sa.update(head).where(head.c.chain_key == key).values(last_hash=event.hash))
    # Logged once the transaction commits, so a rolled-back change never shows in the log either.
    db.session.info.setdefault(_PENDING, []).append(hashable_fields(event) | {"hash": event.hash})
    return event


@sa.event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    """Write one JSON log line per event the transaction just committed."""
    for line in session.info.pop(_PENDING, []):
        log.info("audit event", extra={"audit": line})


@sa.event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    """Drop the log lines of events that were rolled back with their change."""
    session.info.pop(_PENDING, None)
