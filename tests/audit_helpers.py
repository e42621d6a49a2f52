"""Helpers for the audit tests: fill a chain, and tamper with it behind the triggers' back."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from portal.audit import record
from portal.extensions import db
from portal.models import AuditEvent, Store
from portal.vocab import AuditAction


def fill(store: Store, count: int, action: AuditAction = AuditAction.SIGN_IN, **kwargs: Any) -> list[AuditEvent]:
    """Append `count` events to a store's chain, committing each as a request would."""
    events = []
    for i in range(count):
        events.append(record(action, store_id=store.id, object_type="user", object_id=i, **kwargs))
        db.session.commit()
    return events


def chain(store_id: int) -> list[AuditEvent]:
    """Return a chain's events in seq order, freshly read."""
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(AuditEvent).where(AuditEvent.chain_key == store_id).order_by(AuditEvent.seq))
    )


def tamper(*statements: tuple[str, dict[str, Any]]) -> None:
    """Run statements against audit_event with the append-only triggers out of the way."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_event DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        for sql, params in statements:
            conn.execute(sa.text(sql), params)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_event ENABLE TRIGGER USER")
    db.session.expire_all()
