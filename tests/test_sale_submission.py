"""One new-sale form makes one sale: a triple tap, a resend or Back-and-send again land on the sale it started."""

from __future__ import annotations

import re
import threading

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Sale
from portal.sales.forms import STALE_FORM_MESSAGE
from tests.conftest import csrf_token
from tests.test_sales_views import sale_form

SESSION_COOKIE = "portal_session"


def new_sale_form(client) -> dict[str, str]:
    """Open a blank New sale and fill it in: the data one tap of Show cover options sends."""
    html = client.get("/sales/new").get_data(as_text=True)
    token = re.search(r'id="submission" name="submission" type="hidden" value="([^"]+)"', html).group(1)
    return sale_form(csrf_token(client, "/sales/new"), submission=token)


def sales_stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Sale))


def sale_in(location: str) -> int:
    return int(re.search(r"/sales/(\d+)", location).group(1))


@pytest.mark.both_dbs
def test_three_identical_taps_at_once_make_one_sale(app, seller, fake):
    data = new_sale_form(seller)
    # Three requests of the one browser (the same session), as a triple tap sends them.
    taps = [seller]
    for _ in range(2):
        tap = app.test_client()
        tap.set_cookie(SESSION_COOKIE, seller.get_cookie(SESSION_COOKIE).value)
        taps.append(tap)
    barrier = threading.Barrier(len(taps))
    answers: list[tuple[int, str]] = []

    def send(client) -> None:
        barrier.wait()
        resp = client.post("/sales/new", data=data)
        answers.append((resp.status_code, resp.headers.get("Location", "")))

    threads = [threading.Thread(target=send, args=(tap,)) for tap in taps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [status for status, _ in answers] == [302, 302, 302], answers
    db.session.expire_all()
    assert sales_stored() == 1
    sale = db.session.scalar(sa.select(Sale))
    assert {sale_in(location) for _, location in answers} == {sale.id}
    assert sale.submission_token == data["submission"] and fake.count("create_quote") == 1


def test_the_same_form_sent_again_later_lands_on_its_sale(seller, fake):
    data = new_sale_form(seller)
    first = seller.post("/sales/new", data=data)
    again = seller.post("/sales/new", data=data)
    assert sale_in(again.headers["Location"]) == sale_in(first.headers["Location"])
    assert again.headers["Location"].endswith("/options")  # where that sale now stands
    assert "Already sent: this is the sale that form started." in seller.get(again.headers["Location"]).get_data(
        as_text=True
    )
    assert sales_stored() == 1 and fake.count("create_quote") == 1


def test_a_form_refused_once_keeps_its_token_and_then_makes_its_one_sale(seller, fake):
    data = new_sale_form(seller)
    refused = seller.post("/sales/new", data={**data, "email": "not-an-email"})
    assert refused.status_code == 422 and f'value="{data["submission"]}"' in refused.get_data(as_text=True)
    assert seller.post("/sales/new", data=data).status_code == 302
    assert seller.post("/sales/new", data=data).status_code == 302
    assert sales_stored() == 1


def test_each_blank_form_starts_its_own_sale(seller, fake):
    first, second = new_sale_form(seller), new_sale_form(seller)
    assert first["submission"] != second["submission"]
    seller.post("/sales/new", data=first)
    seller.post("/sales/new", data=second)
    assert sales_stored() == 2


def test_another_associates_token_finds_nothing_of_theirs(app, seller, store, make_user, fake):
    from tests.conftest import Auth

    data = new_sale_form(seller)
    seller.post("/sales/new", data=data)
    make_user("sam", "associate", store)
    sam = app.test_client()
    Auth(sam).sign_in("sam")
    resp = sam.post("/sales/new", data={**data, "csrf_token": csrf_token(sam, "/sales/new")})
    assert resp.status_code == 422 and "This form was already used" in resp.get_data(as_text=True)
    assert sales_stored() == 1


@pytest.mark.parametrize("token", ["not-a-token", "41111111-1111-4111-8111-111111111111"])
def test_a_token_the_portal_did_not_issue_is_refused_with_a_fresh_one(seller, fake, token):
    data = new_sale_form(seller)
    resp = seller.post("/sales/new", data={**data, "submission": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and STALE_FORM_MESSAGE in html
    assert token not in html and re.search(r'name="submission" type="hidden" value="[0-9a-f-]{36}"', html)
    assert sales_stored() == 0
