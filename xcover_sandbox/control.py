"""Idempotency keys and injected faults, kept in the database so every worker process agrees."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import SandboxFault, SandboxIdempotency

KEEP_FOR = timedelta(hours=48)
# An in-flight key older than this belongs to a request that died; a new one may take it over.
ABANDONED_AFTER = timedelta(seconds=120)

OPERATIONS = (
    "create_quote",
    "get_quote",
    "update_quote",
    "opt_out",
    "create_booking",
    "confirm_booking",
    "get_booking",
    "list_bookings",
    "modify_booking",
    "quote_for_update",
    "confirm_update",
    "cancel",
    "confirm_cancellation",
    "send_email",
)
MODES = ("latency", "error_500", "error_502", "error_503", "error_504", "rate_limit", "timeout_after_apply", "decline")
# Bounds on a fault: enough for any demo or test, small enough for the database and for time.sleep().
MAX_COUNT = 1000
MAX_SECONDS = 120.0


@dataclass(frozen=True)
class Replay:
    """What to answer for a key seen before: the stored response (409), or 423 while it is still running."""

    status: int
    body: str | None


def request_hash(method: str, path: str, body: bytes) -> str:
    """Fingerprint of a request: the same key must come with the same method, path and body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def begin(partner: str, key: str, fingerprint: str, now: datetime) -> Replay | None:
    """Claim the key for this request (committed at once); or say how to answer a repeat."""
    for _ in range(3):
        db.session.add(
            SandboxIdempotency(partner=partner, key=key, request_hash=fingerprint, state="in_flight", created_at=now)
        )
        try:
            db.session.commit()
            return None
        except IntegrityError:
            db.session.rollback()
        row = db.session.scalar(
            sa.select(SandboxIdempotency).where(SandboxIdempotency.partner == partner, SandboxIdempotency.key == key)
        )
        if row is None:
            continue
        stale = row.created_at < now - KEEP_FOR or (row.state == "in_flight" and row.created_at < now - ABANDONED_AFTER)
        if stale:
            db.session.delete(row)
            db.session.commit()
            continue
        if row.request_hash != fingerprint:
            return Replay(
                409,
                json.dumps(
                    {
                        "type": "idempotency_error",
                        "message": "This idempotency key was already used with a different request.",
                        "errors": {},
                    }
                ),
            )
        if row.state == "in_flight":
            return Replay(
                423,
                json.dumps(
                    {
                        "type": "locked",
                        "message": "A request with this idempotency key is still in progress.",
                        "errors": {},
                    }
                ),
            )
        return Replay(409, row.response)
    raise RuntimeError("could not claim the idempotency key")


def finish(partner: str, key: str, status: int, body: str | None) -> None:
    """Store the answer with the key, in the caller's transaction (so the change and its answer commit together)."""
    db.session.execute(
        sa.update(SandboxIdempotency)
        .where(SandboxIdempotency.partner == partner, SandboxIdempotency.key == key)
        .values(state="done", status_code=status, response=body)
        .execution_options(synchronize_session=False)
    )


def release(partner: str, key: str) -> None:
    """Forget a key whose request failed, so a retry runs afresh; commits."""
    db.session.rollback()
    db.session.execute(
        sa.delete(SandboxIdempotency).where(
            SandboxIdempotency.partner == partner,
            SandboxIdempotency.key == key,
            SandboxIdempotency.state == "in_flight",
        )
    )
    db.session.commit()


def purge(now: datetime) -> int:
    """Delete keys older than 48 hours; commits."""
    done = db.session.execute(sa.delete(SandboxIdempotency).where(SandboxIdempotency.created_at < now - KEEP_FOR))
    db.session.commit()
    return done.rowcount or 0


def inject_fault(partner: str, operation: str, mode: str, count: int = 1, seconds: float = 0.0) -> SandboxFault:
    """Make the next `count` calls of `operation` ("*" for any) misbehave; commits."""
    if operation != "*" and operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)} or *")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be a whole number from 1 to {MAX_COUNT}")
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or not 0 <= seconds <= MAX_SECONDS
    ):
        raise ValueError(f"seconds must be a number from 0 to {MAX_SECONDS:g}")
    fault = SandboxFault(partner=partner, operation=operation, mode=mode, remaining=count, seconds=float(seconds))
    db.session.add(fault)
    db.session.commit()
    return fault


def clear_faults(partner: str | None = None) -> int:
    """Remove injected faults (of one partner, or all); commits."""
    stmt = sa.delete(SandboxFault)
    if partner is not None:
        stmt = stmt.where(SandboxFault.partner == partner)
    done = db.session.execute(stmt)
    db.session.commit()
    return done.rowcount or 0


def list_faults(partner: str) -> list[dict[str, Any]]:
    """The partner's faults still waiting to fire."""
    rows = db.session.scalars(
        sa.select(SandboxFault)
        .where(SandboxFault.partner == partner, SandboxFault.remaining > 0)
        .order_by(SandboxFault.id)
    )
    return [
        {"id": f.id, "operation": f.operation, "mode": f.mode, "remaining": f.remaining, "seconds": f.seconds}
        for f in rows
    ]


def take_fault(partner: str, operation: str) -> SandboxFault | None:
    """Consume one firing of the oldest matching fault, atomically across processes; commits."""
    candidates = db.session.scalars(
        sa.select(SandboxFault)
        .where(
            SandboxFault.partner == partner, SandboxFault.remaining > 0, SandboxFault.operation.in_((operation, "*"))
        )
        .order_by(SandboxFault.id)
    ).all()
    for fault in candidates:
        taken = db.session.execute(
            sa.update(SandboxFault)
            .where(SandboxFault.id == fault.id, SandboxFault.remaining > 0)
            .values(remaining=SandboxFault.remaining - 1)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:
            db.session.commit()
            return fault
    db.session.rollback()
    return None
