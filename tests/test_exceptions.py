"""The manager's exceptions list: every sale that needs a person, with the one action that settles it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from portal.extensions import db
from portal.models import Sale
from tests.conftest import Auth, csrf_token
from tests.returns_support import book_sale, post, request_return
from tests.test_sales_views import choose_all, start_sale
from xcover_sandbox import control


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"XCOVER_RETRY_MAX_ATTEMPTS": 1}


@pytest.fixture
def seller(app, store, make_user, auth):
    make_user("alex", "associate", store)
    make_user("meg", "manager", store)
    auth.sign_in("alex")
    return auth.client


@pytest.fixture
def manager(app, seller):
    client = app.test_client()
    Auth(client).sign_in("meg")
    return client


def fault(app: Any, operation: str, mode: str) -> None:
    with app.extensions["xcover_sandbox_app"].app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], operation, mode, count=1)


def pay(client: Any, sale_id: int) -> None:
    """Record the till payment (the amount the page shows), which books the cover."""
    html = client.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    total = re.search(r'id="cover-total">£([0-9,]+\.[0-9]{2})<', html).group(1).replace(",", "")
    form = f"/sales/{sale_id}/payment"
    post(client, form, {"payment_method": "card", "receipt_number": "T-1", "amount_collected": total}, form)


def paid_sale(app: Any, client: Any, booking_fault: str) -> int:
    """A sale whose booking met a sandbox fault after the till took the money."""
    sale_id = start_sale(client)
    choose_all(client, sale_id)
    fault(app, "create_booking", booking_fault)
    pay(client, sale_id)
    return sale_id


def rows(manager: Any) -> dict[str, tuple[str, str]]:
    """The list on the manager's home: kind -> (the sale link, the action's words)."""
    html = manager.get("/").get_data(as_text=True)
    count = int(re.search(r'id="exceptions-count">(\d+)<', html).group(1))
    found = {}
    for row in re.findall(r'<li class="card attention" data-kind="([a-z_]+)">(.*?)</li>', html, re.S):
        kind, body = row
        sale = re.search(r'href="(/sales/\d+)"', body).group(1)
        action = re.search(r'class="btn btn-primary"[^>]*>([^<]+)<', body).group(1)
        found[kind] = (sale, action)
    assert count == len(found)
    return found


@pytest.mark.both_dbs
def test_each_kind_of_trouble_is_listed_with_the_action_that_settles_it(app, seller, manager):
    assert rows(manager) == {} and "Nothing needs attention" in manager.get("/").get_data(as_text=True)
    unpaid = paid_sale(app, seller, "rate_limit")  # XCover busy: paid, not booked, nothing applied
    unknown = paid_sale(app, seller, "error_503")  # the answer never came
    failed = paid_sale(app, seller, "decline")  # XCover declined after the till took the money
    returned = book_sale(seller)
    request_return(seller, returned, next(c.id for c in returned.covers if c.status == "booked"))
    declined = start_sale(seller)
    sale = db.session.get(Sale, declined)
    data = {f"choice_{i.id}": "none" for i in sale.items} | {f"reason_{i.id}": "too_expensive" for i in sale.items}
    fault(app, "opt_out", "error_503")
    post(seller, f"/sales/{declined}/options", data, f"/sales/{declined}/options")

    listed = rows(manager)
    assert listed == {
        "paid_not_covered": (f"/sales/{unpaid}", "Finish the booking"),
        "outcome_unknown": (f"/sales/{unknown}", "Check again"),
        "failed": (f"/sales/{failed}", "Record the refund"),
        "return_previewed": (f"/sales/{returned.id}", "Approve or refuse"),
        "opt_out": (f"/sales/{declined}", "Send the opt-out"),
    }
    assert "Needs attention" not in seller.get("/").get_data(as_text=True)  # the manager's list

    # Each action settles its row.
    token = csrf_token(manager, "/")
    manager.post(f"/sales/{unknown}/check", data={"csrf_token": token})
    manager.post(f"/sales/{declined}/opt-out", data={"csrf_token": token})
    post(manager, f"/sales/{failed}/refund", {"refund_reference": "R-9"}, f"/sales/{failed}/refund")
    pay(manager, unpaid)
    ret = returned.returns[0]
    page = f"/sales/{returned.id}/returns/{ret.id}"
    post(manager, f"{page}/decide", {"decision": "refuse"}, page)
    assert rows(manager) == {}
    db.session.expire_all()
    assert [db.session.get(Sale, i).status for i in (unpaid, unknown, failed, declined)] == [
        "booked",
        "booked",
        "failed",
        "declined",
    ]
    assert db.session.get(Sale, failed).refund_reference == "R-9"


def test_another_stores_trouble_is_not_listed(app, seller, other_store, make_user):
    paid_sale(app, seller, "decline")
    make_user("sydney", "manager", other_store)
    client = app.test_client()
    Auth(client).sign_in("sydney")
    assert rows(client) == {}
