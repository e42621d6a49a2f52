"""The fast audit paths: the canonical form is byte for byte the old one, one head write per transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.audit import record
from portal.audit.service import canonical, canonical_bytes, canonical_reference, compute_hash, hashable_fields
from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.vocab import AuditAction

from .audit_helpers import chain

PLAIN = SimpleNamespace(
    chain_key=3,
    seq=42,
    store_id=3,
    occurred_at=datetime(2026, 5, 1, 9, 30, 0, 123456, tzinfo=UTC),
    actor_id=7,
    actor_name="zoë",
    actor_role="associate",
    action="sale.booked",
    object_type="sale",
    object_id="17",
    result="success",
    request_id="0b6c7d7e-1b8a-4c3e-9d7e-2f1e8d9c0a11",
    client_ip="10.0.0.5",
    details={
        "premium": "12.50",
        "names": ["Ærø", "東京", "emoji 🎉", "tab\there", 'quote"\\'],
        "n": None,
        "ok": True,
        "count": 3,
        "nested": {"b": 1, "a": [-5, 2**40]},
    },
    prev_hash="ab" * 32,
)
FLOATS = SimpleNamespace(
    **{**vars(PLAIN), "details": {"ratio": 0.1, "big": 1e16, "tiny": 1e-7, "small": 1e-5, "z": -0.0}}
)


def test_hashes_made_before_the_fast_path_are_unchanged():
    # Computed by the json.dumps-only code this replaced; a change here would break every stored chain.
    assert compute_hash(PLAIN) == "11d0de156710b9b3a366fff2ff5060d6d044ccaf8b8f98f8c7f57c72b5110d01"
    assert compute_hash(FLOATS) == "e5dea14a40e1a856a3cabf86d044cc2b694fbd0ee13a93358f4ba3caa03fc0cb"


@pytest.mark.parametrize(
    "occurred_at",
    [PLAIN.occurred_at, "2026-05-01 09:30:00.123456"],
    ids=["postgresql datetime", "sqlite text"],
)
def test_verify_hashes_a_driver_row_on_the_fast_path_as_the_reference(occurred_at, monkeypatch):
    import json

    from portal.audit import service
    from portal.audit.verify import row_digest

    values = [occurred_at if name == "occurred_at" else getattr(PLAIN, name) for name in service.HASHED]
    values[service.HASHED.index("details")] = json.dumps(PLAIN.details)  # the drivers give the JSON as text
    reference = service.canonical_reference

    def slow(fields):
        raise AssertionError("a plain row took the reference path")

    monkeypatch.setattr(service, "canonical_reference", slow)
    fields, digest = row_digest(values)
    assert digest == compute_hash(PLAIN) and canonical_bytes(fields) == reference(fields).encode()


def test_floats_that_orjson_spells_differently_take_the_reference_path():
    fields = hashable_fields(FLOATS)
    assert '"tiny":1e-07' in canonical(fields) and '"small":1e-05' in canonical(fields)
    assert canonical_bytes(fields) == canonical_reference(fields).encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(details=json_values, name=st.text(st.characters(exclude_categories=("Cs",)), max_size=12))
def test_canonical_form_is_byte_for_byte_the_reference(details, name):
    fields = hashable_fields(SimpleNamespace(**{**vars(PLAIN), "details": details, "actor_name": name}))
    assert canonical_bytes(fields) == canonical_reference(fields).encode("utf-8")


@pytest.mark.both_dbs
def test_every_event_kind_hashes_as_the_reference_once_stored(store):
    details = {"reason": "naïve café ☕", "amount": "12.50", "items": [1, 2], "ratio": 0.25, "tiny": 1e-7}
    for action in AuditAction:
        record(action, store_id=store.id, object_type="sale", object_id=1, details=details)
    db.session.commit()
    events = chain(store.id)
    assert {e.action for e in events} == {str(a) for a in AuditAction}
    for event in events:
        fields = hashable_fields(event)
        assert canonical_bytes(fields) == canonical_reference(fields).encode("utf-8")
    assert all(r.ok for r in verify_chains())


def _statements_on_head(app) -> list[str]:
    """Start collecting the statements sent that touch audit_chain_head."""
    seen: list[str] = []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def collect(conn, cursor, statement, parameters, context, executemany):
        if "audit_chain_head" in statement:
            seen.append(statement.split()[0].upper())

    return seen


@pytest.mark.both_dbs
def test_a_transaction_locks_and_writes_each_head_once_whatever_it_records(app, store):
    seen = _statements_on_head(app)
    for i in range(5):
        record(AuditAction.SIGN_IN, store_id=store.id, object_type="user", object_id=i)
    record(AuditAction.SIGN_IN, store_id=None)  # a second chain: head office
    db.session.commit()
    assert seen == ["UPDATE", "UPDATE", "UPDATE", "UPDATE"]  # lock store, lock head office, then one write each
    assert [e.seq for e in chain(store.id)] == [1, 2, 3, 4, 5]
    assert all(r.ok for r in verify_chains())


@pytest.mark.both_dbs
def test_a_rolled_back_savepoint_leaves_the_chain_whole(store):
    record(AuditAction.SIGN_IN, store_id=store.id, object_id="kept-1")
    savepoint = db.session.begin_nested()
    record(AuditAction.SIGN_IN, store_id=store.id, object_id="dropped")
    savepoint.rollback()
    record(AuditAction.SIGN_IN, store_id=store.id, object_id="kept-2")
    with db.session.begin_nested():
        record(AuditAction.SIGN_IN, store_id=store.id, object_id="kept-3")
    record(AuditAction.SIGN_IN, store_id=store.id, object_id="kept-4")
    db.session.commit()
    events = chain(store.id)
    assert [(e.seq, e.object_id) for e in events] == [(1, "kept-1"), (2, "kept-2"), (3, "kept-3"), (4, "kept-4")]
    assert all(r.ok for r in verify_chains())


@pytest.mark.both_dbs
def test_concurrent_transactions_of_several_events_never_fork_a_chain(app, store):
    """Workers each committing several events per transaction, to one chain and head office, at once."""
    workers, each, per_transaction, store_id = 5, 8, 3, store.id
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def append() -> None:
        try:
            with app.app_context():
                start.wait()
                for _ in range(each):
                    for _ in range(per_transaction):
                        record(AuditAction.SIGN_IN, store_id=store_id)
                    record(AuditAction.SIGN_IN, store_id=None)
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
    assert [e.seq for e in events] == list(range(1, workers * each * per_transaction + 1))
    assert len({e.prev_hash for e in events}) == len(events)
    assert all(r.ok for r in verify_chains())
