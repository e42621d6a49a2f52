"""The sale screens through the test client, with the fake XCover client injected."""

from __future__ import annotations

import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Sale, SaleItem
from portal.vocab import AuditAction, CoverStatus, DeclineReason, PaymentMethod, Role, SaleStatus
from tests.conftest import csrf_token

CARD = "4111111111111111"
# A purchase date in the past in any store's time zone.
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def sale_form(token: str, **overrides: str) -> dict[str, str]:
    data = {
        "csrf_token": token,
        "items-0-product_name": "Laptop",
        "items-0-category": "electronics",
        "items-0-price": "1000.00",
        "items-0-quantity": "1",
        "items-0-brand": "Acme",
        "items-0-purchase_date": YESTERDAY,
        "items-1-product_name": "Phone",
        "items-1-category": "mobile_phones",
        "items-1-price": "500",
        "items-1-quantity": "1",
        "items-1-purchase_date": YESTERDAY,
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+44 7400 123456",
        "address1": "1 High Street",
        "city": "London",
        "region": "",
        "postcode": "SW1A 1AA",
        "country": "GB",
        "language": "en",
    }
    data.update(overrides)
    return data


def start_sale(client, **overrides: str) -> int:
    resp = client.post("/sales/new", data=sale_form(csrf_token(client, "/sales/new"), **overrides))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(re.search(r"/sales/(\d+)/options", resp.headers["Location"]).group(1))


def choose_all(client, sale_id: int) -> None:
    sale = db.session.get(Sale, sale_id)
    data = {"csrf_token": csrf_token(client, f"/sales/{sale_id}/options"), "acknowledged": "y"}
    for item in sale.items:
        data[f"choice_{item.id}"] = str(item.covers[0].id)
    resp = client.post(f"/sales/{sale_id}/options", data=data)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/sales/{sale_id}/payment")


def test_new_sale_form_defaults_from_the_store(seller):
    html = seller.get("/sales/new").get_data(as_text=True)
    assert 'value="+44 "' in html
    assert re.search(r'<option selected value="GB">|<option value="GB" selected>', html)
    assert 'autocomplete="given-name"' in html and 'inputmode="decimal"' in html and 'type="tel"' in html
    assert re.search(r'name="items-0-purchase_date" required type="date" value="\d{4}-\d{2}-\d{2}"', html)


def test_add_another_product_keeps_what_was_typed(seller):
    data = sale_form(csrf_token(seller, "/sales/new"), add_item="1")
    html = seller.post("/sales/new", data=data).get_data(as_text=True)
    assert 'name="items-2-product_name"' in html and 'value="Laptop"' in html and 'value="Jane"' in html


def test_two_product_sale_end_to_end(seller, fake):
    sale_id = start_sale(seller)
    options = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert "No thanks" in options and "Policy wording" in options and "What is and is not covered" in options
    choose_all(seller, sale_id)
    page = seller.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    assert 'value="175.00"' in page
    token = csrf_token(seller, f"/sales/{sale_id}/payment")
    resp = seller.post(
        f"/sales/{sale_id}/payment",
        data={
            "csrf_token": token,
            "payment_method": "card",
            "receipt_number": "T-100",
            "amount_collected": "175.00",
            "card_last4": "4242",
        },
    )
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}")
    html = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    sale = db.session.get(Sale, sale_id)
    assert sale.status == "booked" and sale.xcover_ref in html
    assert "<svg" in html and "Confirmation emailed to" in html and "Print receipt" in html
    assert (
        html.count("<time datetime=") >= 6
    )  # the sale's timeline: saved, quoted, shown, acknowledged, paid, sent, booked
    home = seller.get("/").get_data(as_text=True)
    assert "Today's sales" in home and sale.xcover_ref in home and f"/sales/{sale_id}" in home
    token = csrf_token(seller, f"/sales/{sale_id}")
    assert seller.post(f"/sales/{sale_id}/email", data={"csrf_token": token}).status_code == 302
    assert fake.count("send_email") == 1


def test_pages_use_the_vocabularies_words(seller, fake):
    sale_id = start_sale(seller)
    options = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    for reason in DeclineReason:
        assert f'<option value="{reason.value}">{reason.label}</option>' in options
    assert f"{Role.ASSOCIATE.label} · London" in options  # who is signed in, in the header
    choose_all(seller, sale_id)
    payment = seller.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    for method in PaymentMethod:
        assert f'value="{method.value}"> <span>{method.label}</span>' in payment
    token = csrf_token(seller, f"/sales/{sale_id}/payment")
    seller.post(
        f"/sales/{sale_id}/payment",
        data={
            "csrf_token": token,
            "payment_method": "card",
            "receipt_number": "T-101",
            "amount_collected": "175.00",
            "card_last4": "4242",
        },
    )
    html = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    assert f'<span class="badge badge-ok" id="sale-status">{SaleStatus.BOOKED.label}</span>' in html
    assert html.count(f'<span class="badge badge-ok">{CoverStatus.BOOKED.label}</span>') == 2
    assert f"({PaymentMethod.CARD.label} ending 4242)" in html
    assert f'<span class="timeline-action">{AuditAction.SALE_BOOKED.label}</span>' in html
    listing = seller.get("/sales/?q=Jane").get_data(as_text=True)
    assert f'<span class="badge badge-ok">{SaleStatus.BOOKED.label}</span>' in listing


def test_validation_errors_keep_what_was_typed(seller):
    data = sale_form(csrf_token(seller, "/sales/new"), **{"items-1-price": "", "email": "not-an-email"})
    resp = seller.post("/sales/new", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Enter the price." in html and "Enter an email address" in html
    assert 'value="Laptop"' in html and 'value="Phone"' in html and 'value="not-an-email"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sale)) == 0


def test_card_number_never_reaches_the_database_audit_or_logs(seller, caplog):
    caplog.set_level(logging.DEBUG)
    data = sale_form(
        csrf_token(seller, "/sales/new"),
        **{"items-0-serial_number": CARD, "address1": f"Card {CARD[:4]} {CARD[4:8]} {CARD[8:12]} {CARD[12:]}"},
    )
    resp = seller.post("/sales/new", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "This looks like a card number" in html
    assert CARD not in html and CARD[:4] + " " + CARD[4:8] not in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Sale)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SaleItem)) == 0
    audit = db.session.scalars(sa.select(AuditEvent.details)).all()
    assert CARD not in str(audit)
    assert CARD not in caplog.text and CARD[:4] + " " + CARD[4:8] not in caplog.text


def test_decline_asks_for_a_reason_and_opts_out(seller, fake):
    sale_id = start_sale(seller)
    sale = db.session.get(Sale, sale_id)
    token = csrf_token(seller, f"/sales/{sale_id}/options")
    data = {"csrf_token": token, **{f"choice_{i.id}": "none" for i in sale.items}}
    resp = seller.post(f"/sales/{sale_id}/options", data=data)
    assert resp.status_code == 422 and "choose a reason" in resp.get_data(as_text=True)
    data.update({f"reason_{i.id}": "too_expensive" for i in sale.items})
    resp = seller.post(f"/sales/{sale_id}/options", data=data)
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "declined" and fake.count("opt_out") == 1


def test_sales_are_store_scoped_and_admins_do_not_sell(app, seller, other_store, make_user, fake):
    from tests.conftest import Auth

    sale_id = start_sale(seller)
    make_user("syd", "associate", other_store)
    make_user("boss", "admin")
    other = app.test_client()
    Auth(other).sign_in("syd")
    assert other.get(f"/sales/{sale_id}").status_code == 404
    assert other.get(f"/sales/{sale_id}/options").status_code == 404
    assert sale_id not in [s for s in re.findall(r"/sales/(\d+)", other.get("/sales/").get_data(as_text=True))]
    admin = app.test_client()
    Auth(admin).sign_in("boss")
    assert admin.get("/sales/new").status_code == 403
    assert admin.get(f"/sales/{sale_id}").status_code == 403


@pytest.mark.both_dbs
def test_two_concurrent_payment_submits_book_once(app, seller, store, make_user, fake):
    from tests.conftest import Auth

    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    make_user("sam", "associate", store)
    second = app.test_client()
    Auth(second).sign_in("sam")
    clients = [seller, second]
    tokens = [csrf_token(c, f"/sales/{sale_id}/payment") for c in clients]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def submit(client, token) -> None:
        barrier.wait()
        resp = client.post(
            f"/sales/{sale_id}/payment",
            data={
                "csrf_token": token,
                "payment_method": "cash",
                "receipt_number": "T-200",
                "amount_collected": "175.00",
            },
        )
        statuses.append(resp.status_code)

    threads = [threading.Thread(target=submit, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert statuses == [302, 302]
    assert fake.count("create_booking") == 1
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "booked"


def test_xcover_errors_show_beside_their_fields_and_down_offers_retry(seller, fake):
    from portal.xcover.errors import XCoverUnavailable, XCoverValidationError

    fake.fail(
        "create_quote",
        XCoverValidationError(
            "bad",
            status=422,
            body={"errors": {"request": [{}, {}, {"product_price": ["Ensure this value is greater than 0."]}]}},
        ),
    )
    resp = seller.post("/sales/new", data=sale_form(csrf_token(seller, "/sales/new")))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'id="items-1-price-error">Ensure this value is greater than 0.', html)
    assert 'value="Phone"' in html and 'value="Jane"' in html
    sale_id = db.session.scalar(sa.select(Sale.id))
    fake.fail("create_quote", XCoverUnavailable("down", status=503))
    resp = seller.post(f"/sales/{sale_id}/quote", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}/edit")})
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}/edit")
    page = seller.get(f"/sales/{sale_id}/edit").get_data(as_text=True)
    assert "XCover is not answering" in page and 'id="retry-quote"' in page and 'value="Laptop"' in page
    resp = seller.post(f"/sales/{sale_id}/quote", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}/edit")})
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}/options")


def test_confirmation_shows_the_booking_time_in_the_store_time_zone(seller, store, fake):
    from datetime import datetime

    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    token = csrf_token(seller, f"/sales/{sale_id}/payment")
    seller.post(
        f"/sales/{sale_id}/payment",
        data={"csrf_token": token, "payment_method": "cash", "receipt_number": "T-7", "amount_collected": "175.00"},
    )
    sale = db.session.get(Sale, sale_id)
    sale.booked_at = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    store.country, store.timezone = "AU", "Australia/Sydney"  # en_AU writes times with am/pm
    db.session.commit()
    html = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    # CLDR puts a narrow no-break space before am/pm.
    booked = '<time datetime="2026-11-27T23:30:00+00:00">28 Nov 2026, 10:30\u202fam AEDT</time>'
    assert f'id="booked-at">Booked {booked}' in html
    assert "(Cash)" in html


def test_prices_are_typed_as_text_and_read_as_people_write_them(seller, fake):
    html = seller.get("/sales/new").get_data(as_text=True)
    price = re.search(r'<input[^>]*id="items-0-price"[^>]*>', html).group()
    assert 'type="text"' in price and 'inputmode="decimal"' in price
    data = sale_form(csrf_token(seller, "/sales/new"), **{"items-0-price": "1,299.99", "items-1-price": "12,5O"})
    resp = seller.post("/sales/new", data=data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="items-1-price-error">Enter an amount like 899.00.</p>' in html
    assert 'value="12,5O"' in html and 'value="1,299.99"' in html
    data["items-1-price"] = "12,50"
    sale_id = int(re.search(r"/sales/(\d+)/", seller.post("/sales/new", data=data).headers["Location"]).group(1))
    assert [i.price for i in db.session.get(Sale, sale_id).items] == [Decimal("1299.99"), Decimal("12.50")]


def test_payment_errors_come_all_at_once_with_the_amount(seller, fake):
    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    token = csrf_token(seller, f"/sales/{sale_id}/payment")
    resp = seller.post(
        f"/sales/{sale_id}/payment",
        data={"csrf_token": token, "payment_method": "card", "receipt_number": "", "amount_collected": "1.00"},
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="receipt_number-error">Enter the receipt number.' in html
    assert 'id="amount_collected-error">Must be exactly £175.00, the cover total.' in html
    assert 'value="1.00"' in html


def test_a_card_number_typed_into_the_sale_search_is_refused_and_not_echoed(seller, fake):
    html = seller.get(f"/sales/?q={CARD}").get_data(as_text=True)
    assert "This looks like a card number" in html and CARD not in html
    assert 'aria-invalid="true"' in html


def test_a_failed_opt_out_keeps_its_retry_through_a_reload(seller, fake):
    from portal.xcover.errors import XCoverUnavailable

    sale_id = start_sale(seller)
    sale = db.session.get(Sale, sale_id)
    data = {
        "csrf_token": csrf_token(seller, f"/sales/{sale_id}/options"),
        **{f"choice_{i.id}": "none" for i in sale.items},
        **{f"reason_{i.id}": "not_interested" for i in sale.items},
    }
    fake.fail("opt_out", XCoverUnavailable("down", status=503))
    resp = seller.post(f"/sales/{sale_id}/options", data=data)
    assert resp.status_code == 503 and f'action="/sales/{sale_id}/opt-out"' in resp.get_data(as_text=True)
    page = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert "XCover did not receive the opt-out" in page and f'action="/sales/{sale_id}/opt-out"' in page
    resp = seller.post(
        f"/sales/{sale_id}/opt-out", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}/options")}
    )
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}")
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "declined"


def test_todays_sales_show_store_times_with_the_zone(seller, store, fake):
    from zoneinfo import ZoneInfo

    sale_id = start_sale(seller)
    store.country, store.timezone = "AU", "Australia/Sydney"
    db.session.commit()
    sale = db.session.get(Sale, sale_id)
    local = sale.created_at.astimezone(ZoneInfo("Australia/Sydney"))
    shown = f"{local.hour % 12 or 12}:{local:%M}\u202f{'am' if local.hour < 12 else 'pm'} {local.tzname()}"
    assert f">{shown}</time>" in seller.get("/sales/?q=Jane").get_data(as_text=True)


def test_a_booking_refused_for_a_customer_field_names_it_in_plain_words(seller, fake):
    from portal.xcover.errors import XCoverValidationError

    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    fake.fail(
        "create_booking",
        XCoverValidationError(
            "bad",
            status=422,
            body={"errors": {"policyholder": {"address1": ["Too long."], "phone": ["Must start with +."]}}},
        ),
    )
    token = csrf_token(seller, f"/sales/{sale_id}/payment")
    resp = seller.post(
        f"/sales/{sale_id}/payment",
        data={"csrf_token": token, "payment_method": "cash", "receipt_number": "T-8", "amount_collected": "175.00"},
    )
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}/payment")
    html = seller.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    assert "<li>Address: Too long.</li>" in html and "<li>Mobile phone: Must start with +.</li>" in html
    edit = seller.get(f"/sales/{sale_id}/edit").get_data(as_text=True)
    assert 'id="address1-error">Too long.' in edit and 'id="phone-error">Must start with +.' in edit
