"""The sale's limits (issue 9): bad numbers, too many rows, dates, card last four and phones get a clear answer."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Sale, SaleItem
from portal.sales import lookup, quoting
from portal.sales.machine import SaleError
from tests.conftest import Auth, csrf_token
from tests.test_sales_service import CUSTOMER, product
from tests.test_sales_views import CARD, choose_all, sale_form, start_sale


def post_new(client, **overrides: str):
    """Post screen 1 with the standard two products and customer, changed by overrides."""
    return client.post("/sales/new", data=sale_form(csrf_token(client, "/sales/new"), **overrides))


def error_beside(html: str, field: str) -> str:
    """Return the error shown beside a field ('' when there is none)."""
    match = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', html)
    return match.group(1) if match else ""


def sales_stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Sale))


# --- quantity and price --------------------------------------------------------------------------


@pytest.mark.both_dbs
@pytest.mark.parametrize("typed", ["99999999999999999999", "9" * 5000, "0", "-1", "100", "1e3", "1.5", "NaN", "½"])
def test_a_quantity_out_of_range_is_refused_beside_its_field(seller, typed):
    resp = post_new(seller, **{"items-0-quantity": typed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert error_beside(html, "items-0-quantity") == "Enter a quantity from 1 to 99."
    assert sales_stored() == 0


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("99999999999999999999", "Enter a price of at most 1,000,000 each."),
        ("9" * 40, "Enter a price of at most 1,000,000 each."),
        ("1000000.01", "Enter a price of at most 1,000,000 each."),
        ("NaN", "Enter an amount like 899.00."),
        ("inf", "Enter an amount like 899.00."),
        ("-Infinity", "Enter an amount like 899.00."),
        ("-3", "Enter an amount like 899.00."),
        ("1e309", "Enter an amount like 899.00."),
        ("0", "Enter a price above zero."),
        ("0.00", "Enter a price above zero."),
    ],
)
def test_a_price_out_of_range_is_refused_beside_its_field(seller, typed, message):
    resp = post_new(seller, **{"items-0-price": typed})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert error_beside(html, "items-0-price") == message
    assert sales_stored() == 0


def test_full_width_digits_count_as_digits_in_quantity_and_price(seller, fake):
    sale_id = start_sale(seller, **{"items-0-quantity": "２", "items-0-price": "１０００.００"})
    item = db.session.get(Sale, sale_id).items[0]
    assert (item.quantity, item.price) == (2, Decimal("1000.00"))


def test_the_largest_price_and_quantity_are_taken(seller, fake):
    sale_id = start_sale(seller, **{"items-0-quantity": "99", "items-0-price": "1,000,000.00"})
    item = db.session.get(Sale, sale_id).items[0]
    assert (item.quantity, item.price) == (99, Decimal("1000000.00"))


def test_removing_a_row_keeps_a_huge_price_as_typed_instead_of_failing(seller):
    huge = "9" * 40
    resp = post_new(seller, **{"items-1-price": huge, "items-1-quantity": "99999999999999999999", "remove_item": "0"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert 'name="items-0-product_name"' in html and 'value="Phone"' in html and 'value="Laptop"' not in html
    assert f'value="{huge}"' in html and 'value="99999999999999999999"' in html
    assert 'name="items-1-product_name"' not in html


@pytest.mark.both_dbs
def test_the_service_refuses_what_the_form_would(app, alex):
    with pytest.raises(SaleError) as refused:
        quoting.save_draft(alex, CUSTOMER, [product(quantity=10**20, price=Decimal("1e30"))])
    assert set(refused.value.field_errors) == {"items-0-quantity", "items-0-price"}
    with pytest.raises(SaleError) as refused:
        quoting.save_draft(alex, CUSTOMER, [product() for _ in range(11)])
    assert refused.value.field_errors == {"__all__": [quoting.TOO_MANY_PRODUCTS]}
    assert sales_stored() == 0


@pytest.fixture
def alex(store, make_user):
    return make_user("alex", "associate", store)


# --- how many products ---------------------------------------------------------------------------


def rows(count: int) -> dict[str, str]:
    """Form data for count product rows, each named after its number."""
    data: dict[str, str] = {}
    for i in range(count):
        data |= {
            f"items-{i}-product_name": f"Product {i}",
            f"items-{i}-category": "electronics",
            f"items-{i}-price": "100",
            f"items-{i}-quantity": "1",
            f"items-{i}-purchase_date": (date.today() - timedelta(days=1)).isoformat(),
        }
    return data


@pytest.mark.parametrize("count", [11, 200])
def test_more_products_than_a_sale_holds_are_refused_with_the_rows_kept(seller, count):
    resp = post_new(seller, **rows(count))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert f'id="too-many-products">{quoting.TOO_MANY_PRODUCTS}</p>' in html
    assert 'value="Product 9"' in html and 'value="Product 10"' not in html
    assert 'id="add-product"' not in html
    assert sales_stored() == 0


def test_adding_a_row_past_the_limit_says_why_nothing_was_added(seller):
    html = post_new(seller, **rows(12), add_item="1").get_data(as_text=True)
    assert quoting.TOO_MANY_PRODUCTS in html and 'name="items-10-product_name"' not in html


def test_ten_products_are_fine(seller, fake):
    sale_id = start_sale(seller, **{k: v for k, v in rows(10).items()})
    assert len(db.session.get(Sale, sale_id).items) == 10


@pytest.mark.parametrize(
    "extra", [{"items-²-product_name": "x"}, {"remove_item": "²"}, {"remove_item": "99999999999999999999"}]
)
def test_row_numbers_that_are_not_plain_digits_are_no_rows(seller, extra):
    resp = post_new(seller, **extra)
    assert resp.status_code in (200, 302)
    assert "Internal Server Error" not in resp.get_data(as_text=True)


# --- purchase dates ------------------------------------------------------------------------------


@pytest.mark.both_dbs
def test_a_purchase_date_after_the_stores_today_is_refused(seller, store, fake):
    today = lookup.store_today(store)
    resp = post_new(seller, **{"items-0-purchase_date": (today + timedelta(days=1)).isoformat()})
    assert resp.status_code == 422
    assert error_beside(resp.get_data(as_text=True), "items-0-purchase_date") == (
        "The purchase date cannot be in the future."
    )
    assert sales_stored() == 0 and fake.count("create_quote") == 0
    start_sale(seller, **{"items-0-purchase_date": today.isoformat()})


def test_today_is_the_stores_own_today(app, other_store, make_user, fake):
    # Sydney's today is ahead of London's and of UTC for much of the day: it is still today there.
    client = app.test_client()
    make_user("syd", "associate", other_store)
    Auth(client).sign_in("syd")
    today = lookup.store_today(other_store)
    start_sale(client, **{"items-0-purchase_date": today.isoformat(), "phone": "+61 412 345 678", "country": "AU"})
    resp = post_new(client, **{"items-0-purchase_date": (today + timedelta(days=1)).isoformat()})
    assert resp.status_code == 422


@pytest.mark.parametrize("typed", ["1999-12-31", "0001-01-01", "2000-01-01"])
def test_an_absurdly_old_purchase_date_is_refused(seller, typed):
    resp = post_new(seller, **{"items-0-purchase_date": typed})
    assert resp.status_code == 422
    assert error_beside(resp.get_data(as_text=True), "items-0-purchase_date") == (
        "Enter a purchase date within the last 5 years."
    )


def test_purchase_date_limits_are_today_and_five_years_back():
    today = date(2028, 2, 29)
    assert quoting.purchase_date_error(today, today) is None
    assert quoting.purchase_date_error(date(2023, 2, 28), today) is None
    assert quoting.purchase_date_error(date(2023, 2, 27), today)
    assert quoting.purchase_date_error(date(2028, 3, 1), today)


# --- card last four ------------------------------------------------------------------------------


def pay(client, sale_id: int, **fields: str):
    token = csrf_token(client, f"/sales/{sale_id}/payment")
    data = {"csrf_token": token, "payment_method": "card", "receipt_number": "T-1", "amount_collected": "175.00"}
    return client.post(f"/sales/{sale_id}/payment", data={**data, **fields})


@pytest.mark.both_dbs
def test_full_width_last_four_are_stored_as_ascii(seller, fake):
    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    assert pay(seller, sale_id, card_last4="４２４２").status_code == 302
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).card_last4 == "4242"


@pytest.mark.parametrize("typed", ["٤٢٤٢", "42424", "42a2", "4 2 4"])
def test_last_four_must_be_four_digits_0_to_9(seller, fake, typed):
    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    resp = pay(seller, sale_id, card_last4=typed)
    assert resp.status_code == 422
    assert error_beside(resp.get_data(as_text=True), "card_last4") == "Exactly 4 digits, or leave it empty."
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).card_last4 is None


# --- the phone field -----------------------------------------------------------------------------


@pytest.mark.both_dbs
@pytest.mark.parametrize(
    "typed",
    ["+(4111) 1111 1111 1111", "+44 7400 123456 ext. 4111111111111111", "tel:+44-7400-123456;isub=4111111111111111"],
)
def test_a_card_number_in_the_phone_reaches_neither_database_audit_nor_logs(seller, fake, caplog, typed):
    caplog.set_level(logging.DEBUG)
    resp = post_new(seller, phone=typed)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "This looks like a card number" in html
    assert CARD not in html and "4111 1111" not in html
    assert sales_stored() == 0 and fake.count("create_quote") == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SaleItem)) == 0
    assert CARD not in str(db.session.scalars(sa.select(AuditEvent.details)).all())
    assert CARD not in caplog.text and "4111 1111" not in caplog.text


def test_a_valid_foreign_mobile_is_a_phone_not_a_card_number(seller, fake):
    """+49 151 1234 5678 is Luhn-valid as a run of digits, and a valid German mobile: it is stored as typed."""
    sale_id = start_sale(seller, phone="+49 151 1234 5678")
    assert db.session.get(Sale, sale_id).phone == "+4915112345678"
    html = seller.get("/sales/", query_string={"q": "+49 151 1234 5678"}).get_data(as_text=True)
    assert "This looks like a card number" not in html and f"/sales/{sale_id}" in html


def test_a_mobile_number_has_no_extension():
    from portal.phones import InvalidPhone, to_e164

    assert to_e164("07400 123456", "GB") == "+447400123456"
    with pytest.raises(InvalidPhone):
        to_e164("+44 7400 123456 ext. 12", "GB")
