"""Rules of the sale, with a small fake XCover client: status machine, catalogue mapping, card guard, booking."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from portal.extensions import db
from portal.models import AuditEvent, Sale, utcnow
from portal.sales import booking, catalogue, lookup, machine, options, quoting
from portal.sales.forms import CARD_MESSAGE, PaymentForm, SaleForm
from portal.vocab import SaleStatus
from portal.xcover.errors import XCoverOutcomeUnknown, XCoverUnavailable, XCoverValidationError
from tests.sales_fake import FakeXCover

CARD = "4111 1111 1111 1111"
CUSTOMER = {
    "first_name": "Jane",
    "last_name": "Doe",
    "email": "Jane@Example.com",
    "phone": "07400 123456",
    "address1": "1 High Street",
    "city": "London",
    "region": "",
    "postcode": "SW1A 1AA",
    "country": "GB",
    "language": "en",
}


def product(name: str = "Laptop", category: str = "electronics", price: str = "1000.00", **extra) -> dict:
    return {
        "product_name": name,
        "category": category,
        "price": Decimal(price),
        "quantity": 1,
        "brand": "Acme",
        "model": "X1",
        "sku": "123",
        "serial_number": "",
        "purchase_date": date.today() - timedelta(days=1),
        **extra,
    }


@pytest.fixture
def fake() -> FakeXCover:
    return FakeXCover()


@pytest.fixture
def alex(store, make_user):
    return make_user("alex", "associate", store)


def quoted_sale(user, fake, products=None) -> Sale:
    sale = quoting.save_draft(user, CUSTOMER, products or [product(), product("Phone", "mobile_phones", "500.00")])
    return quoting.request_quote(sale, user, fake)


def choose_first(sale: Sale, user, fake) -> Sale:
    choices = {item.id: next(c.id for c in item.covers if c.quote_id) for item in sale.items}
    return options.record_choices(sale, user, fake, choices, {}, acknowledged=True)


def paid_sale(user, fake, receipt: str) -> Sale:
    """A one-product sale with its first option chosen and the payment recorded."""
    sale = quoted_sale(user, fake, [product()])
    choose_first(sale, user, fake)
    return booking.record_payment(sale, user, "cash", receipt, lookup.cover_total(sale))


def actions(sale: Sale) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.object_type == "sale", AuditEvent.object_id == str(sale.id))
            .order_by(AuditEvent.seq)
        )
    )


# --- status machine ------------------------------------------------------------------------------


def test_status_machine_allows_only_the_sale_path():
    assert machine.can_transition("draft", "quoted")
    assert machine.can_transition("quoted", "booking")
    assert machine.can_transition("booking", "outcome_unknown")
    assert machine.can_transition("outcome_unknown", "booked")
    assert not machine.can_transition("draft", "booked")
    assert not machine.can_transition("booked", "quoted")
    assert not machine.can_transition("declined", "booking")
    assert not machine.can_transition("outcome_unknown", "declined")
    assert set(machine.TRANSITIONS) == set(SaleStatus)


def test_transition_refuses_a_wrong_move(app):
    sale = Sale(status="booked")
    with pytest.raises(machine.InvalidTransition):
        machine.transition(sale, "booking")
    assert sale.status == "booked"


# --- offer catalogue and mapping -----------------------------------------------------------------


def test_catalogue_maps_each_product_to_configured_offers(app):
    payload, lines = catalogue.build_quote_request(
        [
            product(purchase_date=date(2026, 11, 27)),
            product("Phone", "mobile_phones", "500.00", serial_number="SN1", purchase_date=date(2026, 11, 27)),
        ],
        currency="GBP",
        country="GB",
        region="",
        language="en",
    )
    assert [(line.item_position, line.offer.policy_type, line.offer.cover_term_months) for line in lines] == [
        (0, "product_warranty", 24),
        (0, "product_insurance", 12),
        (1, "device_protection", 12),
        (1, "device_protection", 24),
    ]
    first = payload["request"][0]
    assert first == {
        "policy_type": "product_warranty",
        "policy_type_version": 1,
        "cover_term_months": 24,
        "policy_start_date": "2026-11-27T00:00:00Z",
        "product_name": "Laptop",
        "product_category": "electronics",
        "product_price": 1000.0,
        "quantity": 1,
        "product_brand": "Acme",
        "product_model": "X1",
        "product_sku": "123",
        "purchase_date": "2026-11-27",
    }
    assert "serial_number" not in first and payload["request"][2]["serial_number"] == "SN1"
    assert {k: payload[k] for k in ("currency", "customer_country", "customer_language")} == {
        "currency": "GBP",
        "customer_country": "GB",
        "customer_language": "en",
    }


def publish_catalogue(mapping: dict) -> None:
    """Put a catalogue in the OFFER_CATALOGUE shape in use, as the next version."""
    from portal.admin.catalogue import import_catalogue, parse_catalogue

    import_catalogue(parse_catalogue(mapping), None, "test")
    db.session.commit()


def test_offer_catalogue_seeds_an_empty_database_and_the_field_map_comes_from_configuration(app):
    from portal.admin.catalogue import seed
    from portal.models import CatalogueVersion

    for version in db.session.scalars(sa.select(CatalogueVersion)):
        db.session.delete(version)
    db.session.commit()
    app.config["OFFER_CATALOGUE"] = {
        "bikes": {
            "label": "Bicycles",
            "offers": [{"policy_type": "product_insurance", "policy_type_version": 2, "cover_term_months": 36}],
        }
    }
    assert seed().source == "OFFER_CATALOGUE" and seed() is None  # only an empty database is seeded
    app.config["XCOVER_ITEM_FIELD_MAP"] = {"price": "item_value", "sku": None}
    payload, lines = catalogue.build_quote_request(
        [product("Bike", "bikes")], currency="GBP", country="GB", region="London", language="en"
    )
    item = payload["request"][0]
    assert item["item_value"] == 1000.0 and "product_price" not in item and "product_sku" not in item
    assert item["policy_type_version"] == 2 and payload["customer_region"] == "London"
    assert catalogue.category_choices() == [("bikes", "Bicycles")]
    assert catalogue.our_field("item_value") == "price"


# --- card-number guard ---------------------------------------------------------------------------


def _sale_formdata(**overrides: str) -> MultiDict:
    data = {
        "items-0-product_name": "Laptop",
        "items-0-category": "electronics",
        "items-0-price": "1000",
        "items-0-quantity": "1",
        "items-0-purchase_date": (date.today() - timedelta(days=1)).isoformat(),
        **{k: v for k, v in CUSTOMER.items()},
        **overrides,
    }
    return MultiDict(data)


@pytest.mark.parametrize(
    "field", ["items-0-product_name", "items-0-serial_number", "first_name", "address1", "items-0-sku", "phone"]
)
def test_card_number_in_any_sale_field_is_refused_and_blanked(app, store, field):
    with app.test_request_context(method="POST", data=_sale_formdata(**{field: f"ref {CARD} x"})):
        app.config["WTF_CSRF_ENABLED"] = False
        form = SaleForm(store=store)
        assert not form.validate()
        bad = {f.name: f for f in _all_fields(form)}[field]
        assert CARD_MESSAGE in bad.errors
        assert bad.data in (None, "") and not bad.raw_data


def test_payment_form_refuses_card_number_but_takes_last_four(app):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.test_request_context(
        method="POST",
        data={"payment_method": "card", "receipt_number": CARD, "amount_collected": "10.00", "card_last4": "1111"},
    ):
        form = PaymentForm()
        assert not form.validate()
        assert form.receipt_number.errors == [CARD_MESSAGE]
    with app.test_request_context(
        method="POST",
        data={"payment_method": "card", "receipt_number": "R-1", "amount_collected": "10.00", "card_last4": "12345"},
    ):
        form = PaymentForm()
        assert not form.validate()
        assert form.card_last4.errors == ["Exactly 4 digits, or leave it empty."]


def test_ordinary_long_numbers_are_not_card_numbers(app, store):
    app.config["WTF_CSRF_ENABLED"] = False
    with app.test_request_context(method="POST", data=_sale_formdata(**{"items-0-sku": "5012345678900"})):
        assert SaleForm(store=store).validate()


def _all_fields(form):
    from portal.sales.fields import _leaf_fields

    return list(_leaf_fields(form))


# --- quote, choose, pay, book --------------------------------------------------------------------


@pytest.mark.both_dbs
def test_two_product_sale_books_with_one_quote_request(app, alex, fake):
    sale = quoted_sale(alex, fake)
    assert fake.count("create_quote") == 1 and sale.status == "quoted" and sale.xcover_ref.endswith("-INS")
    assert sale.phone == "+447400123456" and sale.email == "jane@example.com"
    assert len(sale.covers) == 4 and sale.idempotency_key
    choose_first(sale, alex, fake)
    assert sale.ack_disclaimer_hash == options.disclaimer_hash(lookup.chosen_covers(sale))
    assert set(sale.ack_policy_versions.values()) == {"v1-product_warranty", "v1-device_protection"}
    total = lookup.cover_total(sale)
    assert total == Decimal("175.00")
    with pytest.raises(machine.SaleError) as wrong:
        booking.record_payment(sale, alex, "card", "R-1", Decimal("170.00"))
    assert "amount_collected" in wrong.value.field_errors
    booking.record_payment(sale, alex, "card", "R-1", total, "4242")
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "booked" and sale.coi_url
    sent = [c for c in fake.calls if c[0] == "create_booking"][0][1]
    assert sent["key"] == sale.idempotency_key
    assert sent["payload"]["policyholder"]["phone"] == "+447400123456"
    assert len(sent["payload"]["quotes"]) == 2
    assert all(c.status == "booked" for c in lookup.chosen_covers(sale))
    assert actions(sale) == [
        "sale.saved",
        "sale.quoted",
        "sale.acknowledged",
        "sale.payment_recorded",
        "sale.booking_sent",
        "sale.booked",
    ]
    details = db.session.scalars(sa.select(AuditEvent.details).where(AuditEvent.object_id == str(sale.id))).all()
    assert "jane@example.com" not in str(details) and "4242" not in str(details)


def test_ineligible_item_is_shown_as_unavailable(app, alex, fake):
    publish_catalogue(
        {
            **catalogue.DEFAULT_CATALOGUE,
            "boats": {"label": "Boats", "offers": [{"policy_type": "product_insurance", "cover_term_months": 12}]},
        }
    )
    sale2 = quoted_sale(alex, fake, [product(), product("Boat", "boats")])
    boat = sale2.items[1]
    assert [c.status for c in boat.covers] == ["failed"] and boat.covers[0].error == "Not eligible"
    with pytest.raises(machine.SaleError) as missing:
        options.record_choices(sale2, alex, fake, {}, {}, acknowledged=True)
    assert f"choice_{sale2.items[0].id}" in missing.value.field_errors
    assert f"choice_{boat.id}" not in missing.value.field_errors


@pytest.mark.both_dbs
def test_decline_everything_needs_a_reason_and_sends_an_opt_out(app, alex, fake):
    sale = quoted_sale(alex, fake)
    with pytest.raises(machine.SaleError) as no_reason:
        options.record_choices(sale, alex, fake, {i.id: None for i in sale.items}, {}, acknowledged=False)
    assert set(no_reason.value.field_errors) == {f"reason_{i.id}" for i in sale.items}
    reasons = {sale.items[0].id: "too_expensive", sale.items[1].id: "already_covered"}
    options.record_choices(sale, alex, fake, {i.id: None for i in sale.items}, reasons, acknowledged=False)
    assert sale.status == "declined"
    opt_out = [c for c in fake.calls if c[0] == "opt_out"][0][1]
    assert opt_out["package_id"] == sale.xcover_ref
    assert opt_out["meta"]["decline_reason"] == "already_covered,too_expensive"
    assert actions(sale)[-3:] == ["sale.declined", "sale.declined", "sale.opted_out"]


def test_opt_out_failure_keeps_the_answer_for_retry(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    fake.fail("opt_out", XCoverUnavailable("down", status=503))
    with pytest.raises(machine.XCoverDown):
        options.record_choices(sale, alex, fake, {sale.items[0].id: None}, {sale.items[0].id: "other"}, False)
    assert sale.status == "quoted" and sale.items[0].decision == "decline"
    options.send_opt_out(sale, alex, fake)
    assert sale.status == "declined"


def test_choosing_cover_needs_the_acknowledgement(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    cover = sale.items[0].covers[0]
    with pytest.raises(machine.SaleError) as err:
        options.record_choices(sale, alex, fake, {sale.items[0].id: cover.id}, {}, acknowledged=False)
    assert "acknowledged" in err.value.field_errors
    assert sale.acknowledged_at is None


def test_xcover_down_at_quote_keeps_the_draft(app, alex, fake):
    sale = quoting.save_draft(alex, CUSTOMER, [product()])
    fake.fail("create_quote", XCoverUnavailable("down", status=503))
    with pytest.raises(machine.XCoverDown):
        quoting.request_quote(sale, alex, fake)
    assert sale.status == "draft" and sale.items[0].product_name == "Laptop"
    assert quoting.request_quote(sale, alex, fake).status == "quoted"


def test_xcover_validation_errors_map_to_our_fields(app, alex, fake):
    sale = quoting.save_draft(alex, CUSTOMER, [product(), product("Phone", "mobile_phones", "500.00")])
    fake.fail(
        "create_quote",
        XCoverValidationError(
            "bad", status=422, body={"errors": {"request": [{}, {}, {"product_price": ["Too high"]}, {}]}}
        ),
    )
    with pytest.raises(machine.XCoverRejected) as err:
        quoting.request_quote(sale, alex, fake)
    assert err.value.field_errors == {"items-1-price": ["Too high"]}
    assert sale.field_errors == {"items-1-price": ["Too high"]}


def test_booking_validation_error_goes_back_to_customer_fields(app, alex, fake):
    sale = paid_sale(alex, fake, "R-2")
    fake.fail(
        "create_booking",
        XCoverValidationError("bad", status=422, body={"errors": {"policyholder": {"phone": ["Must start with +"]}}}),
    )
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "quoted" and sale.field_errors == {"phone": ["Must start with +"]}


def test_xcover_down_at_booking_retries_with_the_same_key(app, alex, fake):
    sale = paid_sale(alex, fake, "R-3")
    fake.fail("create_booking", XCoverUnavailable("down", status=503))
    assert booking.book(sale, alex, fake).sale.status == "quoted"
    assert sale.last_error == booking.DOWN_MESSAGE
    assert booking.book(sale, alex, fake).sale.status == "booked"
    keys = {c[1]["key"] for c in fake.calls if c[0] == "create_booking"}
    assert keys == {sale.idempotency_key}


@pytest.mark.both_dbs
def test_unknown_outcome_is_never_covered_nor_failed_until_reconciled(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-4", lookup.cover_total(sale))
    fake.fail("create_booking", XCoverOutcomeUnknown("timeout"), after_apply=True)
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "outcome_unknown"
    assert (sale.status.label, sale.status.tone) == ("Not yet confirmed, checking", "wait")
    fake.fail("create_booking", XCoverUnavailable("still down", status=503))
    assert booking.reconcile(sale, None, fake, timedelta(0)).sale.status == "outcome_unknown"
    settled = booking.reconcile(sale, None, fake, timedelta(0))
    assert settled.sale.status == "booked"
    assert len(fake.bookings) == 1
    assert {c[1]["key"] for c in fake.calls if c[0] == "create_booking"} == {sale.idempotency_key}
    assert actions(sale)[-3:] == ["sale.outcome_unknown", "sale.booked", "sale.reconciled"]


def test_stale_booking_is_picked_up_by_reconcile(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-5", lookup.cover_total(sale))
    sale.status = "booking"
    sale.booking_started_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    assert booking.sales_to_reconcile(timedelta(minutes=2)) == [sale]
    assert booking.reconcile(sale, None, fake, timedelta(minutes=2)).sale.status == "booked"
    assert booking.sales_to_reconcile(timedelta(minutes=2)) == []


def test_declined_booking_or_price_change_is_not_accepted(app, alex, fake):
    customer = {**CUSTOMER, "last_name": "Declineson"}
    sale = quoting.request_quote(quoting.save_draft(alex, customer, [product()]), alex, fake)
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-6", lookup.cover_total(sale))
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "failed" and result.problems
    assert all(c.status == "failed" for c in lookup.chosen_covers(sale))


def test_booking_declined_by_xcover_fails_plainly(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-8", lookup.cover_total(sale))
    fake.fail(
        "create_booking",
        XCoverValidationError("Booking declined.", status=422, body={"errors": ["The insurer declined this booking."]}),
    )
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "failed"
    assert sale.last_error == "XCover declined the booking. The insurer declined this booking."


@pytest.mark.both_dbs
def test_two_concurrent_submits_book_once(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-7", lookup.cover_total(sale))
    sale_id, user_id = sale.id, alex.id
    barrier = threading.Barrier(2)
    results: list[booking.BookingResult] = []

    def submit() -> None:
        with app.app_context():
            from portal.models import User

            barrier.wait()
            mine = db.session.get(Sale, sale_id)
            result = booking.book(mine, db.session.get(User, user_id), fake)
            results.append((result.sent, result.sale.status))
            db.session.remove()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert fake.count("create_booking") == 1
    assert sorted(sent for sent, _ in results) == [False, True]
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "booked"


def test_changing_only_the_customer_keeps_the_quote(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    ref = sale.xcover_ref
    quoting.save_draft(alex, {**CUSTOMER, "phone": "+44 7400 123999"}, [product()], sale)
    assert sale.status == "quoted" and sale.xcover_ref == ref and sale.phone == "+447400123999"
    quoting.save_draft(alex, CUSTOMER, [product(price="900.00")], sale)
    assert sale.status == "draft" and sale.xcover_ref is None and not sale.covers


@pytest.mark.both_dbs
def test_todays_sales_are_the_stores_own(app, alex, fake, other_store, make_user):
    mine = quoted_sale(alex, fake, [product()])
    sydney = make_user("syd", "associate", other_store)
    theirs = quoting.save_draft(sydney, {**CUSTOMER, "phone": "+44 7400 123456"}, [product()])
    assert [s.id for s in lookup.todays_sales(alex.store).sales] == [mine.id]
    assert lookup.get_sale(alex, theirs.id) is None
    assert [s.id for s in lookup.search_sales(alex.store, mine.xcover_ref)] == [mine.id]
    assert [s.id for s in lookup.search_sales(alex.store, "jane@example.com")] == [mine.id]


def test_two_checks_of_an_unknown_outcome_settle_it_once(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    booking.record_payment(sale, alex, "card", "R-9", lookup.cover_total(sale))
    fake.fail("create_booking", XCoverOutcomeUnknown("timeout"), after_apply=True)
    assert booking.book(sale, alex, fake).sale.status == "outcome_unknown"
    sale_id = sale.id

    def other_check() -> None:
        with app.app_context():
            booking.reconcile(db.session.get(Sale, sale_id), None, fake, timedelta(0))
            db.session.remove()

    # This page still holds the sale as "outcome unknown" while another check settles it.
    assert sale.status == "outcome_unknown"
    thread = threading.Thread(target=other_check)
    thread.start()
    thread.join(10)
    result = booking.reconcile(sale, None, fake, timedelta(0))
    assert result.sale.status == "booked" and result.message == "Settled by another check."
    assert actions(sale).count("sale.booked") == 1


def test_partly_failed_booking_is_shown_plainly(app, alex, fake):
    sale = quoted_sale(alex, fake)
    choose_first(sale, alex, fake)
    laptop_cover = lookup.chosen_covers(sale)[0]
    laptop_cover.price += Decimal("1.00")  # XCover will book at its own price, not this one
    sale.cover_total = lookup.cover_total(sale)
    db.session.commit()
    booking.record_payment(sale, alex, "card", "R-10", lookup.cover_total(sale))
    result = booking.book(sale, alex, fake)
    assert result.sale.status == "failed"
    assert [c.status for c in lookup.chosen_covers(sale)] == ["failed", "booked"]
    assert sale.last_error.startswith("Booking partly failed.") and "quoted at" in sale.last_error


def test_changing_the_cover_after_a_failed_booking_needs_a_new_payment_and_key(app, alex, fake):
    sale = paid_sale(alex, fake, "R-9")
    fake.fail("create_booking", XCoverUnavailable("down", status=503))
    assert booking.book(sale, alex, fake).sale.status == "quoted"
    first_key, paid = sale.idempotency_key, sale.amount_collected
    other = next(c for c in sale.covers if c.quote_id and c.status == "not_taken")
    options.record_choices(sale, alex, fake, {sale.items[0].id: other.id}, {}, acknowledged=True)
    assert lookup.cover_total(sale) != paid
    assert sale.payment_recorded_at is None and sale.amount_collected is None and sale.last_error is None
    assert sale.idempotency_key != first_key
    with pytest.raises(machine.InvalidTransition):
        booking.book(sale, alex, fake)
    booking.record_payment(sale, alex, "cash", "R-9", lookup.cover_total(sale))
    assert booking.book(sale, alex, fake).sale.status == "booked"
    booked = [c for c in fake.calls if c[0] == "create_booking"][-1][1]
    assert booked["key"] == sale.idempotency_key != first_key


def test_correcting_the_customer_after_a_refused_booking_books_with_a_new_key(app, alex, fake):
    sale = paid_sale(alex, fake, "R-10")
    fake.fail(
        "create_booking",
        XCoverValidationError("bad", status=422, body={"errors": {"policyholder": {"phone": ["Must start with +"]}}}),
    )
    booking.book(sale, alex, fake)
    first_key = sale.idempotency_key
    quoting.save_draft(alex, {**CUSTOMER, "phone": "+44 7400 123999"}, [product()], sale)
    assert sale.status == "quoted" and sale.idempotency_key != first_key and sale.last_error is None
    assert sale.payment_recorded_at is not None
    assert booking.book(sale, alex, fake).sale.status == "booked"


def test_a_sale_on_its_way_keeps_its_key(app, alex, fake):
    sale = quoted_sale(alex, fake, [product()])
    choose_first(sale, alex, fake)
    sale.booking_started_at = utcnow()
    db.session.commit()
    key = sale.idempotency_key
    # Another screen claimed the sale for booking after this one loaded it.
    db.session.execute(
        sa.update(Sale).where(Sale.id == sale.id).values(status="booking").execution_options(synchronize_session=False)
    )
    assert sale.status == "quoted"
    other = next(c for c in sale.covers if c.quote_id and c.status == "not_taken")
    with pytest.raises(machine.InvalidTransition):
        options.record_choices(sale, alex, fake, {sale.items[0].id: other.id}, {}, acknowledged=True)
    db.session.expire_all()
    assert db.session.get(Sale, sale.id).idempotency_key == key
