"""Recording audit events: same transaction, hash chain, what never goes in, log lines, concurrency."""

from __future__ import annotations

import hashlib
import json
import logging
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from portal.audit import record
from portal.audit.service import GENESIS_HASH, canonical, compute_hash, hashable_fields
from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.logs import JsonFormatter
from portal.models import AuditChainHead, AuditEvent, User
from portal.stores import create_user
from portal.vocab import AuditAction

from .audit_helpers import chain, fill


def count_events() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


@pytest.mark.both_dbs
def test_event_carries_every_field_and_links_to_the_previous(store, make_user):
    ann = make_user("ann", "associate", store)
    first, second = fill(store, 2, actor=ann)
    events = chain(store.id)
    assert [e.seq for e in events] == [1, 2, 3]  # user.created, then the two sign-ins
    assert events[0].prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and first.prev_hash == events[0].hash
    loaded = events[-1]
    assert (loaded.store_id, loaded.actor_id, loaded.actor_name, loaded.actor_role) == (
        store.id,
        ann.id,
        "ann",
        "associate",
    )
    assert loaded.occurred_at.utcoffset().total_seconds() == 0
    expected = hashlib.sha256(canonical(hashable_fields(loaded)).encode()).hexdigest()
    assert loaded.hash == compute_hash(loaded) == expected
    head = db.session.get(AuditChainHead, store.id)
    assert (head.seq, head.last_hash) == (3, loaded.hash)


@pytest.mark.both_dbs
def test_head_office_and_each_store_have_their_own_chain(store, other_store, make_user):
    make_user("boss", "admin")
    fill(store, 2)
    fill(other_store, 1)
    assert [e.seq for e in chain(store.id)] == [1, 2]
    assert [e.seq for e in chain(other_store.id)] == [1]
    head_office = chain(0)
    # The catalogue `flask init-db` seeded comes first: it is head office's too.
    assert [e.action for e in head_office] == ["catalogue.published", "store.created", "store.created", "user.created"]
    assert all(r.ok for r in verify_chains())


@pytest.mark.both_dbs
def test_event_rolls_back_with_the_change_it_describes(store):
    before_events = count_events()
    head_before = db.session.get(AuditChainHead, store.id).seq
    with pytest.raises(RuntimeError):
        create_user("ann", "Ann", "associate", "correct-horse-battery", store.code)  # business write + record
        raise RuntimeError("injected failure after the business write")
    db.session.rollback()
    assert db.session.scalar(sa.select(User).where(User.username == "ann")) is None
    assert count_events() == before_events
    db.session.expire_all()
    assert db.session.get(AuditChainHead, store.id).seq == head_before
    fill(store, 1)
    assert all(r.ok for r in verify_chains())


def test_unknown_action_and_result_are_refused(store):
    with pytest.raises(TypeError):
        record("sale.teleported", store_id=store.id)
    with pytest.raises(TypeError):  # the right words are not enough: only the vocabulary's members go in
        record("auth.sign_in", store_id=store.id)
    with pytest.raises(ValueError):
        record(AuditAction.SIGN_IN, store_id=store.id, result="maybe")


@pytest.mark.both_dbs
def test_secrets_cards_and_contacts_never_go_in(store):
    event = record(
        AuditAction.SIGN_IN,
        store_id=store.id,
        details={
            "password": "hunter2-hunter2",
            "api_secret": "s3cret",
            "session_id": "abc123",
            "cvv": "123",
            "note": "paid with 4111 1111 1111 1111",
            "customer": {"email": "alice@example.com", "mobile_phone": "+44 7700 900123"},
            "amount": "12.50",
        },
    )
    db.session.commit()
    db.session.expire_all()
    stored = json.dumps(db.session.get(AuditEvent, event.id).details)
    for secret in ("hunter2", "s3cret", "abc123", "4111 1111", "alice@", "900123", '"123"'):
        assert secret not in stored
    details = db.session.get(AuditEvent, event.id).details
    assert details["customer"] == {"email": "a***@example.com", "mobile_phone": "***123"}
    assert details["amount"] == "12.50"
    assert all(r.ok for r in verify_chains())


@pytest.fixture
def audit_lines() -> list[dict]:
    """Capture the audit logger's output as parsed JSON lines."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("portal.audit")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def test_each_committed_event_is_one_json_log_line(store, audit_lines):
    event = record(AuditAction.SIGN_IN, store_id=store.id, details={"password": "nope-nope"})
    assert audit_lines == []  # nothing is logged before the commit
    db.session.commit()
    assert len(audit_lines) == 1 and "\n" not in audit_lines[0]
    line = json.loads(audit_lines[0])
    assert line["audit"]["hash"] == event.hash and line["audit"]["action"] == "auth.sign_in"
    assert "nope-nope" not in audit_lines[0]


def test_rolled_back_events_are_not_logged(store, audit_lines):
    record(AuditAction.SIGN_IN, store_id=store.id)
    db.session.rollback()
    db.session.commit()
    assert audit_lines == []


@pytest.mark.both_dbs
@pytest.mark.parametrize("statement", ["UPDATE audit_event SET result = 'failure'", "DELETE FROM audit_event"])
def test_triggers_refuse_update_and_delete(store, statement):
    fill(store, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert count_events() >= 1


@pytest.mark.both_dbs
def test_concurrent_appends_never_fork_a_chain(app, store):
    """Several workers appending to one store's chain at once leave one unbroken chain."""
    workers, each, store_id = 6, 15, store.id
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def append() -> None:
        try:
            with app.app_context():
                start.wait()
                for _ in range(each):
                    record(AuditAction.SIGN_IN, store_id=store_id)
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=append) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = chain(store_id)
    assert [e.seq for e in events] == list(range(1, workers * each + 1))
    assert len({e.prev_hash for e in events}) == len(events)  # no two events share a parent: no fork
    assert all(r.ok for r in verify_chains([store.id]))
