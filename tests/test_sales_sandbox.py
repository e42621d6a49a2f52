"""The sale against the real client and the mounted sandbox (in-process), through the screens."""

from __future__ import annotations

import re

import pytest

from portal.extensions import db
from portal.models import Sale
from tests.conftest import csrf_token
from tests.test_sales_views import choose_all, start_sale


@pytest.fixture
def app_overrides() -> dict:
    """Short XCover timeouts so the sandbox's late answers show up quickly."""
    return {"XCOVER_BOOKING_READ_TIMEOUT": 0.5, "XCOVER_RETRY_MAX_ATTEMPTS": 1}


@pytest.fixture
def seller(store, make_user, auth):
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def to_payment(client) -> tuple[int, str]:
    """Start a two-product sale, add cover for both, and return the sale id and the cover total as shown (£370.00)."""
    sale_id = start_sale(client)
    choose_all(client, sale_id)
    html = client.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    return sale_id, re.search(r'id="cover-total">(£[0-9,]+\.[0-9]{2})<', html).group(1)


def fault(sandbox, operation: str, mode: str, seconds: float) -> None:
    """Make the sandbox's next call of an operation misbehave, through its own command."""
    result = sandbox.test_cli_runner().invoke(args=["fault", operation, mode, "--seconds", str(seconds)])
    assert result.exit_code == 0, result.output


def pay(client, sale_id: int, amount: str) -> object:
    token = csrf_token(client, f"/sales/{sale_id}/payment")
    return client.post(
        f"/sales/{sale_id}/payment",
        data={"csrf_token": token, "payment_method": "card", "receipt_number": "T-1", "amount_collected": amount},
    )


@pytest.mark.both_dbs
def test_two_product_sale_books_on_the_sandbox(app, seller):
    sale_id, total = to_payment(seller)
    assert pay(seller, sale_id, total).status_code == 302
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == "booked", sale.last_error
    assert re.fullmatch(r"[A-Z0-9]{5}-[A-Z0-9]{5}-INS", sale.xcover_ref)
    page = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    assert "<svg" in page and "Covered" in page
    # The confirmation's certificate and wording links open the mounted sandbox's pages, token and all.
    links = set(re.findall(r'href="(/sandbox/xcover/en/[^"]+)"', page))
    assert any("/coi/" in link for link in links) and sum("/pds/" in link for link in links) >= 2
    for link in links:
        shown = seller.get(link.replace("&amp;", "&"))
        assert shown.status_code == 200 and sale.xcover_ref in shown.get_data(as_text=True), link


def test_unknown_outcome_then_check_again_on_the_sandbox(app, sandbox, seller):
    sale_id, total = to_payment(seller)
    fault(sandbox, "create_booking", "timeout_after_apply", 1.0)
    pay(seller, sale_id, total)
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "outcome_unknown"
    assert "Not yet confirmed, checking" in seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    seller.post(f"/sales/{sale_id}/check", data={"csrf_token": csrf_token(seller, f"/sales/{sale_id}")})
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "booked"


def test_flask_reconcile_settles_unknown_outcomes(app, sandbox, seller, runner):
    sale_id, total = to_payment(seller)
    fault(sandbox, "create_booking", "timeout_after_apply", 1.0)
    pay(seller, sale_id, total)
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == "outcome_unknown"
    result = runner.invoke(args=["reconcile"])
    assert result.exit_code == 0, result.output
    assert f"Sale {sale_id} {sale.xcover_ref}: Covered" in result.output
    assert runner.invoke(args=["reconcile"]).output.strip() == "Nothing to reconcile."
