"""Audit rules: append events to per-store hash chains, in the caller's transaction."""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa
from flask import g, has_request_context

from ..extensions import db
from ..models import AuditChainHead, AuditEvent, User, utcnow
from ..sensitive import scrub

log = logging.getLogger("portal.audit")

HEAD_OFFICE_CHAIN = 0
GENESIS_HASH = "0" * 64

# The fixed vocabulary; record() refuses anything else so reports and filters stay meaningful.
ACTIONS = frozenset({
    "auth.sign_in", "auth.sign_in_failed", "auth.sign_out", "auth.locked",
    "store.created", "user.created",
    # The sale (portal/sales/service.py)
    "sale.saved", "sale.quoted", "sale.quote_failed", "sale.options_shown", "sale.acknowledged",
    "sale.declined", "sale.opted_out", "sale.payment_recorded", "sale.booking_sent", "sale.booked",
    "sale.booking_failed", "sale.outcome_unknown", "sale.reconciled", "sale.email_resent",
})


def chain_key(store_id: Optional[int]) -> int:
    """Return the chain a store's events belong to (head office is chain 0)."""
    return store_id if store_id is not None else HEAD_OFFICE_CHAIN


def canonical(fields: dict[str, Any]) -> str:
    """Serialise event fields the one way the hash is computed over."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def hashable_fields(event: AuditEvent) -> dict[str, Any]:
    """Return the fields of an event that its hash covers."""
    return {
        "chain_key": event.chain_key,
        "seq": event.seq,
        "store_id": event.store_id,
        "occurred_at": event.occurred_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "result": event.result,
        "request_id": event.request_id,
        "client_ip": event.client_ip,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event: AuditEvent) -> str:
    """Return the SHA-256 of an event's canonical form."""
    return hashlib.sha256(canonical(hashable_fields(event)).encode("utf-8")).hexdigest()


def ensure_chain(store_id: Optional[int]) -> None:
    """Create the head row of a chain if it does not exist yet (called when a store is created)."""
    key = chain_key(store_id)
    if db.session.get(AuditChainHead, key) is None:
        db.session.add(AuditChainHead(chain_key=key, seq=0, last_hash=GENESIS_HASH))
        db.session.flush()


def _advance_head(key: int) -> tuple[int, str]:
    """Lock the chain head by writing to it first, then read it: appends are serialised per chain."""
    # The UPDATE takes PostgreSQL's row lock (and SQLite's write lock) before the read, so two
    # workers can never both read the same head and fork the chain.
    bumped = db.session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.chain_key == key).values(seq=AuditChainHead.seq + 1)
    )
    if bumped.rowcount == 0:
        ensure_chain(None if key == HEAD_OFFICE_CHAIN else key)
        return _advance_head(key)
    seq, last_hash = db.session.execute(
        sa.select(AuditChainHead.seq, AuditChainHead.last_hash).where(AuditChainHead.chain_key == key)
    ).one()
    return seq, last_hash


def record(
    action: str,
    *,
    actor: Optional[User] = None,
    store_id: Optional[int] = None,
    object_type: Optional[str] = None,
    object_id: Optional[str | int] = None,
    result: str = "success",
    details: Optional[dict[str, Any]] = None,
    occurred_at: Optional[datetime] = None,
) -> AuditEvent:
    """Append one event to its store's chain in the current transaction (the caller commits)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
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
        actor_name=actor.username if actor is not None else None,
        actor_role=actor.role if actor is not None else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        result=result,
        request_id=g.get("request_id") if has_request_context() else None,
        client_ip=g.get("client_ip") if has_request_context() else None,
        details=scrub(details or {}),
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(event)
    db.session.add(event)
    db.session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.chain_key == key).values(last_hash=event.hash)
    )
    log.info("audit event", extra={"audit": hashable_fields(event) | {"hash": event.hash}})
    return event
