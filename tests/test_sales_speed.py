"""Lean sale screens: a fixed, small number of SQL statements per screen, the QR code drawn once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import flask_babel
import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Sale
from portal.sales import qr
from portal.sales.forms import OptionsForm, options_form_for
from tests.conftest import csrf_token
from tests.test_sales_views import choose_all, sale_form, start_sale

# The most statements each screen may send, whatever the size of the sale: the user with their store,
# then what the screen shows (the sale with its items and covers, the timeline; a search: exact keys, then the
# two name prefixes; the catalogue version in use where categories are named; whether the sale page has
# returns or corrections).
# Each page also asks whether its person could come back with a quick-switch PIN (the idle lock: the PIN is loaded
# with the person, so nothing more without one), and Options whether the customer acknowledged on the customer view.
BUDGET = {"home": 2, "index": 4, "new": 2, "edit": 5, "options": 7, "payment": 5, "show": 6}


@contextmanager
def counted() -> Iterator[list[str]]:
    """Collect the SQL statements sent while the block runs."""
    statements: list[str] = []

    def collect(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", collect)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", collect)


def pay(client, sale_id: int) -> None:
    page = client.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    amount = re.search(r'id="amount_collected"[^>]*value="([0-9.]+)"', page).group(1)
    resp = client.post(
        f"/sales/{sale_id}/payment",
        data={
            "csrf_token": csrf_token(client, f"/sales/{sale_id}/payment"),
            "payment_method": "card",
            "receipt_number": f"T-{sale_id}",
            "amount_collected": amount,
        },
    )
    assert resp.headers["Location"].endswith(f"/sales/{sale_id}")


def statements_for(client, path: str) -> list[str]:
    """Fetch a page twice (the first view may record that it was shown) and count the second."""
    assert client.get(path).status_code == 200
    with counted() as statements:
        assert client.get(path).status_code == 200
    return statements


def screens(client, products: int) -> dict[str, int]:
    """Take a sale of `products` products through every screen; return the statements each sent."""
    extra: dict[str, str] = {}
    for i in range(2, products):
        extra |= {
            f"items-{i}-product_name": f"Thing {i}",
            f"items-{i}-category": "tablets",
            f"items-{i}-price": "300",
            f"items-{i}-quantity": "1",
            f"items-{i}-purchase_date": "2026-11-27",
        }
    data = sale_form(csrf_token(client, "/sales/new"), **extra)
    data = {k: v for k, v in data.items() if products > 1 or not k.startswith("items-1-")}
    resp = client.post("/sales/new", data=data)
    sale_id = int(resp.headers["Location"].split("/")[-2])
    counts = {
        "options": len(statements_for(client, f"/sales/{sale_id}/options")),
        "edit": len(statements_for(client, f"/sales/{sale_id}/edit")),
    }
    choose_all(client, sale_id)
    counts["payment"] = len(statements_for(client, f"/sales/{sale_id}/payment"))
    pay(client, sale_id)
    counts["show"] = len(statements_for(client, f"/sales/{sale_id}"))
    counts["home"] = len(statements_for(client, "/"))
    counts["index"] = len(statements_for(client, "/sales/?q=Jane"))
    counts["new"] = len(statements_for(client, "/sales/new"))
    return counts


@pytest.mark.both_dbs
def test_each_screen_sends_a_fixed_small_number_of_statements(seller):
    one, four = screens(seller, 1), screens(seller, 4)
    start_sale(seller)  # more sales today: the lists are one query however long
    assert one == four, "a screen's statements grow with the size of the sale"
    assert {k: v for k, v in four.items() if v > BUDGET[k]} == {}, four


def test_the_qr_code_is_drawn_once_per_sale(seller, monkeypatch):
    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    pay(seller, sale_id)
    drawn: list[str] = []
    make = qr.segno.make
    monkeypatch.setattr(qr.segno, "make", lambda url, **kw: drawn.append(url) or make(url, **kw))
    first = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    second = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    assert "<svg" in first and first.count("<svg") == second.count("<svg")
    assert len(drawn) <= 1  # drawn on the first view at most (another test may have drawn it already)
    other = start_sale(seller)
    choose_all(seller, other)
    pay(seller, other)
    seller.get(f"/sales/{other}")
    seller.get(f"/sales/{other}")
    assert drawn and len(drawn) == len(set(drawn))  # the other sale's code drawn once, no code twice


def test_the_options_form_is_one_class_for_every_sale(seller, app):
    first, second = start_sale(seller), start_sale(seller, **{"items-0-product_name": "Camera"})
    with app.test_request_context():
        forms = [options_form_for(db.session.get(Sale, sale_id)) for sale_id in (first, second)]
    assert [type(f) for f in forms] == [OptionsForm, OptionsForm]
    names = [{f.name for f in form} for form in forms]
    assert names[0].isdisjoint(names[1] - {"acknowledged", "csrf_token"})  # each has its own products' fields
    assert not hasattr(OptionsForm, next(n for n in names[0] if n.startswith("choice_")))


def test_a_timeline_entry_is_drawn_once(app, seller, monkeypatch):
    sale_id = start_sale(seller)
    first = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    drawn: list[str] = []
    get_template = app.jinja_env.get_template
    monkeypatch.setattr(
        app.jinja_env, "get_template", lambda name, *a, **kw: drawn.append(name) or get_template(name, *a, **kw)
    )
    second = seller.get(f"/sales/{sale_id}").get_data(as_text=True)
    timeline = re.compile(r'<ol class="timeline.*?</ol>', re.S)
    assert timeline.search(first).group() == timeline.search(second).group()
    assert first.count('class="timeline-item"') >= 2 and "audit/_timeline_item.html" not in drawn


def test_a_person_with_a_pin_costs_only_their_sign_in_on_this_ipad_more(seller):
    # The idle-lock check on every page: the PIN comes with the person, the sign-in it rides on is one read.
    from portal.auth import pins
    from portal.models import User

    pins.set_pin(db.session.scalar(sa.select(User).where(User.username == "alex")), "480213")
    db.session.commit()
    statements = statements_for(seller, "/")
    assert len(statements) == BUDGET["home"] + 1, statements
    assert any("device_sign_in" in s for s in statements)
    assert not any(s.lstrip().upper().startswith("SELECT") and "FROM user_pin" in s for s in statements)


def test_a_page_looks_up_its_catalogue_once_for_all_its_words(seller, monkeypatch):
    sale_id = start_sale(seller)
    lookups: list[str] = []
    look_up = flask_babel.Domain.get_translations
    monkeypatch.setattr(flask_babel.Domain, "get_translations", lambda self: lookups.append("") or look_up(self))
    # Dozens of words each, and the forms' labels; Flask-Babel's own lookups were 19, 19, 63 and 82.
    for path in ("/", "/sales/", "/sales/new", f"/sales/{sale_id}/options"):
        seller.get(path)
        lookups.clear()
        assert "<form" in seller.get(path).get_data(as_text=True)
        assert len(lookups) == 1, path
