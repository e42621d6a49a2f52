"""`flask audit verify`: passes an honest log, names the first broken event for each kind of tampering."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from portal.audit.service import compute_hash
from portal.audit.verify import verify_chains
from portal.models import AuditEvent

from .audit_helpers import chain, fill, tamper


def snapshot(store_id: int) -> list[SimpleNamespace]:
    """Return a chain's events as plain values that stay as they were when the rows change."""
    columns = [c.name for c in AuditEvent.__table__.columns]
    return [SimpleNamespace(**{c: getattr(e, c) for c in columns}) for e in chain(store_id)]


def _forged(like: SimpleNamespace, seq: int, prev_hash: str) -> dict:
    """Return the columns of a well-formed fake event, hash and all, as an attacker would compute it."""
    fake = AuditEvent(
        chain_key=like.chain_key,
        seq=seq,
        store_id=like.store_id,
        occurred_at=like.occurred_at,
        actor_id=None,
        actor_name="ghost",
        actor_role="manager",
        action="auth.sign_in",
        object_type=None,
        object_id=None,
        result="success",
        request_id=None,
        client_ip=None,
        details={},
        prev_hash=prev_hash,
    )
    fake.hash = compute_hash(fake)
    return {
        "chain_key": fake.chain_key,
        "seq": seq,
        "store_id": fake.store_id,
        "occurred_at": like.occurred_at,
        "actor_name": "ghost",
        "actor_role": "manager",
        "action": "auth.sign_in",
        "result": "success",
        "details": "{}",
        "prev_hash": prev_hash,
        "hash": fake.hash,
    }


INSERT = (
    "INSERT INTO audit_event (chain_key, seq, store_id, occurred_at, actor_name, actor_role, action, result, "
    "details, prev_hash, hash) VALUES (:chain_key, :seq, :store_id, :occurred_at, :actor_name, :actor_role, "
    ":action, :result, :details, :prev_hash, :hash)"
)


def _edit(events: list[SimpleNamespace]) -> tuple[int, str]:
    tamper(
        (
            "UPDATE audit_event SET details = :d WHERE id = :id",
            {"d": json.dumps({"note": "nothing to see"}), "id": events[2].id},
        )
    )
    return events[2].seq, "hash does not match"


def _delete_middle(events: list[SimpleNamespace]) -> tuple[int, str]:
    tamper(("DELETE FROM audit_event WHERE id = :id", {"id": events[2].id}))
    return events[3].seq, "deleted"


def _delete_last(events: list[SimpleNamespace]) -> tuple[int, str]:
    tamper(("DELETE FROM audit_event WHERE id = :id", {"id": events[-1].id}))
    return events[-2].seq, "last events were deleted"


def _insert_middle(events: list[SimpleNamespace]) -> tuple[int, str]:
    later = [e.id for e in events[2:]]
    shift = f"UPDATE audit_event SET seq = seq + :by WHERE id IN ({','.join(str(i) for i in later)})"
    tamper((shift, {"by": 1000}), (shift, {"by": -999}), (INSERT, _forged(events[2], events[2].seq, events[1].hash)))
    return events[2].seq + 1, "prev_hash does not match"


def _insert_last(events: list[SimpleNamespace]) -> tuple[int, str]:
    tamper((INSERT, _forged(events[-1], events[-1].seq + 1, events[-1].hash)))
    return events[-1].seq, "inserted at the end"


def _swap_seq(events: list[SimpleNamespace]) -> tuple[int, str]:
    a, b = events[2], events[3]
    tamper(
        ("UPDATE audit_event SET seq = -1 WHERE id = :id", {"id": a.id}),
        ("UPDATE audit_event SET seq = :seq WHERE id = :id", {"seq": a.seq, "id": b.id}),
        ("UPDATE audit_event SET seq = :seq WHERE id = :id", {"seq": b.seq, "id": a.id}),
    )
    return a.seq, "prev_hash does not match"


def _swap_ids(events: list[SimpleNamespace]) -> tuple[int, str]:
    a, b = events[2], events[3]
    tamper(
        ("UPDATE audit_event SET id = -1 WHERE id = :id", {"id": a.id}),
        ("UPDATE audit_event SET id = :new WHERE id = :old", {"new": a.id, "old": b.id}),
        ("UPDATE audit_event SET id = :new WHERE id = -1", {"new": b.id}),
    )
    return b.seq, "reordered"


TAMPERING = {
    "edited": _edit,
    "deleted": _delete_middle,
    "deleted_last": _delete_last,
    "inserted": _insert_middle,
    "inserted_last": _insert_last,
    "reordered_seq": _swap_seq,
    "reordered_ids": _swap_ids,
}


@pytest.mark.both_dbs
def test_honest_log_passes(runner, store, other_store, make_user):
    make_user("ann", "associate", store)
    fill(store, 5)
    fill(other_store, 2)
    assert all(r.ok for r in verify_chains())
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    last = chain(store.id)[-1]
    assert f"Store LDN01: 6 events, chain intact, last hash {last.hash}." in result.output
    assert "Head office: 3 events, chain intact, last hash " in result.output  # the seeded catalogue, 2 stores


@pytest.mark.both_dbs
@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_each_kind_of_tampering_is_caught(runner, store, other_store, kind):
    fill(store, 6)
    fill(other_store, 3)
    events = snapshot(store.id)
    broken_seq, reason = TAMPERING[kind](events)

    (report,) = verify_chains([store.id])
    assert not report.ok
    assert report.broken_seq == broken_seq
    assert reason in report.problem

    result = runner.invoke(args=["audit", "verify", "--store", "ldn01"])
    assert result.exit_code == 1
    assert (
        "Store LDN01: BROKEN at " in result.output
        and f"(seq {broken_seq})" in result.output
        or f"(after seq {broken_seq})" in result.output
    )

    # Every other chain still verifies, and a full run fails because of this one.
    others = runner.invoke(args=["audit", "verify", "--store", "SYD01"])
    assert others.exit_code == 0 and "chain intact" in others.output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1


def test_broken_event_is_named_by_id(runner, store):
    events = fill(store, 4)
    _edit(snapshot(store.id))
    result = runner.invoke(args=["audit", "verify", "--store", "LDN01"])
    assert f"BROKEN at event id {events[2].id} (seq 3): hash does not match" in result.output


def test_unknown_store_is_a_usage_error(runner, store):
    result = runner.invoke(args=["audit", "verify", "--store", "NOPE"])
    assert result.exit_code == 2 and "no store with code" in result.output


def test_head_office_only(runner, store):
    result = runner.invoke(args=["audit", "verify", "--head-office"])
    # The catalogue `flask init-db` seeded, and the store.
    assert result.exit_code == 0 and result.output.startswith("Head office: 2 events, chain intact, last hash ")
    assert len(result.output.strip().splitlines()) == 1
