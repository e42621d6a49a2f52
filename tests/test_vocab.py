"""The closed vocabularies: the strings the database already holds, the words people see, CHECKs that match."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from portal.audit import record
from portal.audit.service import canonical, digest, hashable_fields
from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.models import Correction, Cover, PolicyReturn, ReturnLine, Sale, SaleItem
from portal.vocab import (
    AuditAction,
    AuditResult,
    CatalogueStatus,
    CorrectionStatus,
    CoverStatus,
    Decision,
    DeclineReason,
    LineCheck,
    PaymentMethod,
    ReturnReason,
    ReturnStatus,
    RichStrEnum,
    Role,
    SaleStatus,
    TonedStrEnum,
)

# What release 1 wrote to the database and into the hashed audit chain; a value that changes breaks old rows.
STORED = {
    SaleStatus: ["draft", "quoted", "declined", "booking", "booked", "outcome_unknown", "failed", "cancelled"],
    CoverStatus: ["quoted", "chosen", "not_taken", "booked", "failed", "returning", "cancelling", "cancelled"],
    ReturnStatus: ["previewed", "approved", "confirming", "confirmed", "refused", "expired", "failed", "withdrawn"],
    ReturnReason: ["product_returned", "changed_mind", "bought_twice", "other"],
    CorrectionStatus: ["quoted", "confirming", "confirmed", "failed", "discarded"],
    Role: ["associate", "manager", "admin"],
    Decision: ["add", "decline"],
    DeclineReason: ["already_covered", "too_expensive", "not_interested", "decide_later", "other"],
    PaymentMethod: ["card", "cash", "other"],
    AuditResult: ["success", "failure", "pending"],
    AuditAction: [
        "auth.sign_in",
        "auth.sign_in_failed",
        "auth.sign_out",
        "auth.locked",
        "store.created",
        "user.created",
        "audit.viewed",
        "audit.exported",
        "sale.saved",
        "sale.quoted",
        "sale.quote_failed",
        "sale.options_shown",
        "sale.acknowledged",
        "sale.declined",
        "sale.opted_out",
        "sale.payment_recorded",
        "sale.booking_sent",
        "sale.booked",
        "sale.booking_failed",
        "sale.outcome_unknown",
        "sale.reconciled",
        "sale.email_resent",
        "auth.password_changed",
        "store.updated",
        "store.deactivated",
        "store.reactivated",
        "user.disabled",
        "user.enabled",
        "user.unlocked",
        "user.password_reset",
        "user.signed_out",
        "catalogue.drafted",
        "catalogue.edited",
        "catalogue.checked",
        "catalogue.published",
        "catalogue.discarded",
        "return.requested",
        "return.previewed",
        "return.preview_failed",
        "return.approved",
        "return.refused",
        "return.approval_denied",
        "return.confirmed",
        "return.refunded",
        "return.outcome_unknown",
        "return.failed",
        "return.expired",
        "return.withdrawn",
        "correction.quoted",
        "correction.confirmed",
        "correction.failed",
        "correction.discarded",
        "correction.outcome_unknown",
        "sale.refund_recorded",
        "xcover.booking_updated",
        "xcover.booking_cancelled",
    ],
    CatalogueStatus: ["draft", "published", "retired", "discarded"],
    LineCheck: ["unchecked", "accepted", "refused"],
}


@pytest.mark.parametrize("vocabulary", list(STORED), ids=lambda v: v.__name__)
def test_values_are_the_strings_already_stored_and_each_has_words(vocabulary: type[RichStrEnum]):
    assert [m.value for m in vocabulary] == STORED[vocabulary]
    labels = [m.label for m in vocabulary]
    assert all(label.strip() and label[0].isupper() for label in labels)
    if issubclass(vocabulary, TonedStrEnum):
        assert {m.tone for m in vocabulary} <= {"neutral", "wait", "ok", "bad"}
    else:
        assert len(set(labels)) == len(labels)  # a filter or a choice list never shows the same words twice


def test_lookups_never_raise_and_old_values_still_show():
    assert SaleStatus.get("booked") is SaleStatus.BOOKED and SaleStatus.get("teleported") is None
    assert SaleStatus.get(None) is None
    assert AuditAction.label_of("sale.booked") == "Booked"
    assert AuditAction.label_of("sale.retired_action") == "sale.retired_action"
    assert DeclineReason.choices()[0] == ("already_covered", "Already covered")
    assert SaleStatus.sql_in("status") == (
        "status IN ('draft', 'quoted', 'declined', 'booking', 'booked', 'outcome_unknown', 'failed', 'cancelled')"
    )


def _sale_with_a_cover(store, user) -> Sale:
    sale = Sale(
        store_id=store.id,
        associate_id=user.id,
        currency="GBP",
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        phone="+447700900123",
        address1="1 High Street",
        city="London",
        postcode="SW1A 1AA",
        country="GB",
        language="en",
    )
    item = SaleItem(
        position=0,
        product_name="Laptop",
        category="electronics",
        price=Decimal("999.00"),
        purchase_date=date(2026, 11, 27),
    )
    sale.items.append(item)
    sale.covers.append(Cover(item=item, quote_index=0, policy_type="product_warranty"))
    db.session.add(sale)
    db.session.commit()
    return sale


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    ("table", "column", "vocabulary"),
    [
        ("sale", "status", SaleStatus),
        ("cover", "status", CoverStatus),
        ("sale_item", "decision", Decision),
        ("user_account", "role", Role),
    ],
)
def test_the_database_checks_accept_every_member_and_nothing_else(store, make_user, table, column, vocabulary):
    _sale_with_a_cover(store, make_user("ann", "associate", store))
    where = " WHERE role <> 'admin'" if table == "user_account" else ""  # an admin has no store: keep the rule
    for member in vocabulary:
        if table == "user_account" and member == Role.ADMIN:
            continue
        db.session.execute(sa.text(f"UPDATE {table} SET {column} = :value{where}"), {"value": member.value})
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.text(f"UPDATE {table} SET {column} = 'nope'"))  # short enough for every column
        db.session.flush()
    db.session.rollback()


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    ("table", "vocabulary"), [("policy_return", ReturnStatus), ("sale_correction", CorrectionStatus)]
)
def test_the_after_sale_checks_accept_every_member_and_nothing_else(store, make_user, table, vocabulary):
    ann = make_user("ann", "associate", store)
    sale = _sale_with_a_cover(store, ann)
    cover = sale.covers[0]
    row = (
        PolicyReturn(
            sale=sale,
            reason=ReturnReason.OTHER,
            requested_by_id=ann.id,
            cancellation_id="a-CCL",
            currency="GBP",
            total_refund=Decimal("1.00"),
            idempotency_key="k",
            lines=[ReturnLine(cover=cover, refund=Decimal("1.00"))],
        )
        if table == "policy_return"
        else Correction(
            sale=sale,
            item=cover.item,
            requested_by_id=ann.id,
            changes={},
            update_id="u-UPD",
            price_diff=0,
            idempotency_key="k",
        )
    )
    db.session.add(row)
    db.session.commit()
    for member in vocabulary:
        db.session.execute(sa.text(f"UPDATE {table} SET status = :value"), {"value": member.value})
    db.session.commit()
    with pytest.raises(IntegrityError):
        db.session.execute(sa.text(f"UPDATE {table} SET status = 'nope'"))
        db.session.flush()
    db.session.rollback()


@pytest.mark.both_dbs
def test_members_are_stored_as_plain_text_and_read_back_as_members(store, make_user):
    sale = _sale_with_a_cover(store, make_user("ann", "associate", store))
    sale.status = "quoted"  # a plain string is taken in as its member at once
    assert sale.status is SaleStatus.QUOTED and sale.status.label == "Options shown"
    sale.items[0].decision, sale.items[0].decline_reason = "decline", DeclineReason.TOO_EXPENSIVE
    db.session.commit()
    raw = db.session.execute(
        sa.text(
            "SELECT s.status, i.decision, i.decline_reason, c.status, u.role FROM sale s "
            "JOIN sale_item i ON i.sale_id = s.id JOIN cover c ON c.sale_id = s.id "
            "JOIN user_account u ON u.id = s.associate_id"
        )
    ).one()
    assert tuple(raw) == ("quoted", "decline", "too_expensive", "quoted", "associate")
    assert all(type(value) is str for value in raw)
    db.session.expire_all()
    loaded = db.session.get(Sale, sale.id)
    assert (loaded.status, loaded.items[0].decision, loaded.covers[0].status, loaded.associate.role) == (
        SaleStatus.QUOTED,
        Decision.DECLINE,
        CoverStatus.QUOTED,
        Role.ASSOCIATE,
    )
    assert loaded.covers[0].status.tone == "neutral" and loaded.items[0].decline_reason.label == "Too expensive"
    with pytest.raises(ValueError):
        loaded.status = "teleported"


def test_a_fixed_event_hashes_the_same_with_members_as_with_plain_strings():
    fields = {
        "chain_key": 1,
        "seq": 7,
        "store_id": 1,
        "occurred_at": "2026-05-01T09:30:00.000000Z",
        "actor_id": 3,
        "actor_name": "ann",
        "actor_role": "associate",
        "action": "sale.booked",
        "object_type": "sale",
        "object_id": "42",
        "result": "success",
        "request_id": None,
        "client_ip": None,
        "details": {"xcover_ref": "ABCDE-12345-INS"},
        "prev_hash": "0" * 64,
    }
    members = {**fields, "actor_role": Role.ASSOCIATE, "action": AuditAction.SALE_BOOKED, "result": AuditResult.SUCCESS}
    assert canonical(members) == canonical(fields)
    # Computed with the release before the vocabularies became enums: events written then still verify.
    assert digest(members) == digest(fields) == "703ff371b8d9dd5d1a38afcf17ee552cb679310b4a8644d16e8118481eef8360"


@pytest.mark.both_dbs
def test_record_takes_members_only_and_writes_their_plain_values(store, make_user):
    ann = make_user("ann", "associate", store)
    event = record(AuditAction.SIGN_IN, actor=ann, result=AuditResult.PENDING)
    db.session.commit()
    fields = hashable_fields(event)
    assert (fields["action"], fields["actor_role"], fields["result"]) == ("auth.sign_in", "associate", "pending")
    assert all(type(fields[k]) is str for k in ("action", "actor_role", "result"))
    assert event.hash == digest({**fields, "action": "auth.sign_in", "actor_role": "associate", "result": "pending"})
    with pytest.raises(TypeError):
        record("auth.sign_in", actor=ann)  # type: ignore[arg-type]
    db.session.rollback()
    assert all(r.ok for r in verify_chains())
