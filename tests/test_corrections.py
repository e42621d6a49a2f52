"""Corrections of a booked product's details against the mounted sandbox: priced, shown, then applied."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Correction, Cover, SaleItem
from portal.sales.forms import CARD_MESSAGE
from tests.returns_support import actions_since, book_sale, last_event_id, post
from xcover_sandbox import control
from xcover_sandbox.extensions import db as sandbox_db
from xcover_sandbox.models import SandboxPackage


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """One attempt per call: the sandbox's faults settle at once."""
    return {"XCOVER_RETRY_MAX_ATTEMPTS": 1}


@pytest.fixture
def seller(app, store, make_user, auth):
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def correction_form(item: SaleItem, **changes: str) -> dict[str, str]:
    """The correction form as the product stands, with some details changed."""
    data = {
        "serial_number": item.serial_number,
        "brand": item.brand,
        "model": item.model,
        "sku": item.sku,
        "price": f"{item.price:.2f}",
    }
    return {**data, **changes}


def correct(client: Any, item: SaleItem, **changes: str) -> Any:
    path = f"/sales/{item.sale_id}/items/{item.id}/correct"
    return post(client, path, correction_form(item, **changes), path)


def latest() -> Correction:
    db.session.expire_all()
    return db.session.scalar(sa.select(Correction).order_by(Correction.id.desc()))


def page_of(correction: Correction) -> str:
    return f"/sales/{correction.sale_id}/corrections/{correction.id}"


def sandbox_item(sandbox: Any, ref: str, quote_id: str) -> dict[str, Any]:
    """What the sandbox now holds for the product behind one policy."""
    with sandbox.app_context():
        doc = sandbox_db.session.get(SandboxPackage, ref).doc
    key = next(k for k, q in doc["quotes"].items() if q and q["id"] == quote_id)
    return doc["_items"][int(key)]


@pytest.mark.both_dbs
def test_a_serial_number_added_after_the_sale_reaches_xcover(app, sandbox, seller):
    sale = book_sale(seller)
    laptop = sale.items[0]
    cover = next(c for c in laptop.covers if c.status == "booked")
    assert f'id="correct-{laptop.id}"' in seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    before = last_event_id()
    response = correct(seller, laptop, serial_number="SN-12345")
    assert response.status_code == 302
    assert actions_since(before) == ["correction.quoted"]
    correction = latest()
    assert correction.changes == {"serial_number": ["", "SN-12345"]} and correction.price_diff == 0
    assert "serial_number" not in sandbox_item(sandbox, sale.xcover_ref, cover.quote_id)  # priced, not applied
    page = seller.get(page_of(correction)).get_data(as_text=True)
    assert "No price difference" in page and "SN-12345" in page and 'name="till_reference"' not in page

    before = last_event_id()
    post(seller, page_of(correction) + "/confirm", {}, page_of(correction))
    assert actions_since(before) == ["correction.confirmed"]
    assert latest().status == "confirmed"
    db.session.expire_all()
    assert db.session.get(SaleItem, laptop.id).serial_number == "SN-12345"
    assert sandbox_item(sandbox, sale.xcover_ref, cover.quote_id)["serial_number"] == "SN-12345"
    assert "Jane Doe" in seller.get("/sales/?q=sn-12345").get_data(as_text=True)  # found by its serial number


def test_a_price_difference_is_shown_and_needs_the_tills_reference(app, sandbox, seller):
    sale = book_sale(seller)
    laptop = sale.items[0]
    cover = next(c for c in laptop.covers if c.status == "booked")
    old_price = cover.price
    correct(seller, laptop, price="1200.00")
    correction = latest()
    assert correction.price_diff > 0
    page = seller.get(page_of(correction)).get_data(as_text=True)
    assert f"goes up by <strong>£{correction.price_diff:,.2f}</strong>" in page and "collect it at the till" in page
    before = last_event_id()
    response = post(seller, page_of(correction) + "/confirm", {}, page_of(correction))
    assert response.status_code == 422 and "the till" in response.get_data(as_text=True)
    response = post(
        seller, page_of(correction) + "/confirm", {"till_reference": "4111111111111111"}, page_of(correction)
    )
    assert response.status_code == 422 and CARD_MESSAGE in response.get_data(as_text=True)
    assert actions_since(before) == []
    post(seller, page_of(correction) + "/confirm", {"till_reference": "T-9"}, page_of(correction))
    correction = latest()
    assert (correction.status, correction.till_reference) == ("confirmed", "T-9")
    db.session.expire_all()
    assert db.session.get(Cover, cover.id).price == old_price + correction.price_diff
    assert db.session.get(SaleItem, laptop.id).price == Decimal("1200.00")


def test_xcover_refusing_a_change_is_shown_and_nothing_changes(app, seller):
    sale = book_sale(seller)
    laptop = sale.items[0]
    with app.extensions["xcover_sandbox_app"].app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], "quote_for_update", "decline", count=1)
    before = last_event_id()
    response = correct(seller, laptop, serial_number="SN-1")
    assert response.status_code == 422 and "XCover refused the change" in response.get_data(as_text=True)
    assert actions_since(before) == ["correction.failed"]
    assert 'value="SN-1"' in response.get_data(as_text=True)  # what was typed stays on screen
    db.session.expire_all()
    assert db.session.get(SaleItem, laptop.id).serial_number == ""


def test_nothing_changed_and_card_numbers_are_refused_before_xcover(app, seller):
    sale = book_sale(seller)
    laptop = sale.items[0]
    before = last_event_id()
    assert "Nothing was changed" in correct(seller, laptop).get_data(as_text=True)
    response = correct(seller, laptop, serial_number="4111 1111 1111 1111")
    assert response.status_code == 422 and CARD_MESSAGE in response.get_data(as_text=True)
    assert actions_since(before) == [] and latest() is None


def test_a_priced_correction_can_be_discarded(app, sandbox, seller):
    sale = book_sale(seller)
    laptop = sale.items[0]
    correct(seller, laptop, brand="Other brand")
    correction = latest()
    before = last_event_id()
    post(seller, page_of(correction) + "/discard", {}, page_of(correction))
    assert actions_since(before) == ["correction.discarded"] and latest().status == "discarded"
    db.session.expire_all()
    assert db.session.get(SaleItem, laptop.id).brand == "Acme"


@pytest.mark.parametrize("app_overrides", [{"XCOVER_BOOKING_READ_TIMEOUT": 2.0, "XCOVER_RETRY_MAX_ATTEMPTS": 1}])
def test_flask_reconcile_applies_a_correction_whose_answer_was_lost(app, sandbox, seller, runner):
    sale = book_sale(seller)
    laptop = sale.items[0]
    cover = next(c for c in laptop.covers if c.status == "booked")
    correct(seller, laptop, serial_number="SN-777")
    correction = latest()
    with app.extensions["xcover_sandbox_app"].app_context():
        # Applied at XCover, answered after the portal stopped waiting (2 s).
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], "confirm_update", "timeout_after_apply", seconds=4.0)
    before = last_event_id()
    post(seller, page_of(correction) + "/confirm", {}, page_of(correction))
    assert actions_since(before) == ["correction.outcome_unknown"]
    assert latest().status == "confirming"
    assert sandbox_item(sandbox, sale.xcover_ref, cover.quote_id)["serial_number"] == "SN-777"
    before = last_event_id()
    result = runner.invoke(args=["reconcile", "--stale-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert f"Correction {correction.id} of sale {sale.id} {sale.xcover_ref}: Applied" in result.output
    assert actions_since(before) == ["correction.confirmed"]
    db.session.expire_all()
    assert db.session.get(SaleItem, laptop.id).serial_number == "SN-777"
    assert "Nothing to reconcile." in runner.invoke(args=["reconcile", "--stale-seconds", "0"]).output
