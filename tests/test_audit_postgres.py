"""PostgreSQL only: the production grants make the audit log append-only for the app's role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, ProgrammingError

from portal.audit import record
from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.vocab import AuditAction

from .audit_helpers import fill
from .conftest import ROOT


@pytest.fixture
def database_url(postgres_factory) -> str:
    """Every test here runs on PostgreSQL."""
    return postgres_factory.new()


@pytest.fixture
def app_role(app) -> Iterator[str]:
    """A login role holding exactly the grants of scripts/audit-grants.sql."""
    role = f"portal_app_{uuid.uuid4().hex[:8]}"
    script = (ROOT / "scripts" / "audit-grants.sql").read_text().replace("portal_app", role)
    db.session.execute(sa.text(f'CREATE ROLE "{role}"'))
    db.session.commit()
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute(script)
        raw.commit()
    yield role
    db.session.rollback()
    db.session.execute(sa.text("RESET ROLE"))
    db.session.execute(sa.text(f'DROP OWNED BY "{role}"'))
    db.session.execute(sa.text(f'DROP ROLE "{role}"'))
    db.session.commit()


def test_app_role_can_append_and_read_but_never_rewrite(store, app_role):
    fill(store, 2)
    db.session.execute(sa.text(f'SET ROLE "{app_role}"'))
    record(AuditAction.SIGN_IN, store_id=store.id)  # appending (chain head included) is allowed
    db.session.commit()
    assert db.session.scalar(sa.text("SELECT count(*) FROM audit_event")) >= 3
    for statement in ("UPDATE audit_event SET result = 'failure'", "DELETE FROM audit_event", "TRUNCATE audit_event"):
        with pytest.raises(ProgrammingError) as refused:
            db.session.execute(sa.text(statement))
        assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege)
        db.session.rollback()
    db.session.execute(sa.text("RESET ROLE"))
    assert all(r.ok for r in verify_chains())


def test_even_the_owner_meets_the_triggers(store):
    fill(store, 1)
    for statement in ("UPDATE audit_event SET result = 'failure'", "DELETE FROM audit_event", "TRUNCATE audit_event"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
