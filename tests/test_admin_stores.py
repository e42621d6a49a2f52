"""Stores on screen: head office's overview, opening, changing and closing stores; a manager's store settings."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.admin.stores import overview
from portal.extensions import db
from portal.models import AuditEvent, Sale, Store, User, utcnow
from portal.stores import InvalidInput, create_store, update_store
from tests.conftest import Auth, csrf_token
from tests.test_sales_views import sale_form

NEW_STORE = {
    "code": "man01",
    "name": "Manchester",
    "country": "GB",
    "currency": "GBP",
    "language": "en",
    "timezone": "Europe/London",
    "phone_country": "GB",
}


@pytest.fixture
def head_office(app, make_user):
    make_user("boss", "admin")
    client = app.test_client()
    Auth(client).sign_in("boss")
    return client


def post(client, path: str, page: str | None = None, **data: str):
    return client.post(path, data={"csrf_token": csrf_token(client, page or path), **data})


def a_sale(store: Store, user: User, status: str, **fields) -> Sale:
    sale = Sale(
        store_id=store.id,
        associate_id=user.id,
        status=status,
        currency=store.currency,
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        phone="+447400123456",
        address1="1 High Street",
        city="London",
        postcode="SW1A 1AA",
        country=store.country,
        language="en",
        **fields,
    )
    db.session.add(sale)
    db.session.commit()
    return sale


@pytest.mark.both_dbs
def test_the_stores_screen_counts_todays_sales_and_open_exceptions_per_store(
    head_office, store, other_store, make_user
):
    ann, syd = make_user("ann.a", "associate", store), make_user("syd.s", "associate", other_store)
    a_sale(store, ann, "booked")
    a_sale(store, ann, "outcome_unknown")
    a_sale(store, ann, "quoted", payment_recorded_at=utcnow())  # paid, not covered yet
    a_sale(store, ann, "quoted")  # not paid: not an exception
    a_sale(store, ann, "failed", created_at=utcnow() - timedelta(days=3))  # an old one still open
    a_sale(other_store, syd, "declined")
    figures = {f.store.code: (f.sales_today, f.open_exceptions, f.people) for f in overview()}
    assert figures == {"LDN01": (4, 3, 1), "SYD01": (1, 0, 1)}
    html = head_office.get("/admin/stores/").get_data(as_text=True)
    london = re.search(r'id="store-LDN01".*?</a>', html, re.S).group(0)
    assert re.search(r'class="sales-today">4<', london) and re.search(r'class="exceptions is-bad">3<', london)


@pytest.mark.both_dbs
def test_head_office_opens_a_store_checked_against_cldr_and_iana(head_office):
    response = post(head_office, "/admin/stores/new", **NEW_STORE)
    man = db.session.scalar(sa.select(Store).where(Store.code == "MAN01"))
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/stores/{man.id}"
    assert (man.country, man.currency, man.timezone, man.phone_country, man.active) == (
        "GB",
        "GBP",
        "Europe/London",
        "GB",
        True,
    )
    event = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "store.created").order_by(AuditEvent.id.desc())
    )
    assert event.actor_name == "boss" and event.details["dialling_country"] == "GB"


def test_a_new_store_form_shows_every_mistake_beside_its_field_and_keeps_the_rest(head_office, store):
    bad = {**NEW_STORE, "code": "LDN01", "timezone": "Mars/Olympus", "currency": "MXV", "name": "Leeds"}
    response = post(head_office, "/admin/stores/new", **bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="timezone-error">' in html and 'id="currency-error">' in html
    assert 'value="Leeds"' in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Store)) == 1
    response = post(head_office, "/admin/stores/new", **{**NEW_STORE, "code": "LDN01"})
    assert 'id="code-error">A store with code LDN01 already exists.</p>' in response.get_data(as_text=True)


def test_the_store_rules_refuse_what_cldr_and_iana_do_not_know(app, store, make_user):
    manager = make_user("meg", "manager", store)
    admin = make_user("boss", "admin")
    with pytest.raises(InvalidInput) as wrong:
        update_store(store, admin, {"timezone": "Europe/Londres", "phone_country": "XX", "currency": "ABC"})
    assert set(wrong.value.errors) == {"timezone", "phone_country", "currency"}
    with pytest.raises(PermissionError):
        update_store(store, manager, {"currency": "EUR"})  # a manager sets the everyday settings only
    with pytest.raises(InvalidInput, match="Unknown time zone"):
        create_store("X1", "X", "GB", "GBP", "en", "Nowhere/Special")
    assert update_store(store, manager, {"name": "London", "timezone": "Europe/London"}) == {}  # nothing changed


@pytest.mark.both_dbs
def test_a_manager_changes_the_store_settings_and_the_change_is_audited_before_and_after(app, store, make_user):
    make_user("meg", "manager", store)
    client = app.test_client()
    Auth(client).sign_in("meg")
    page = f"/admin/stores/{store.id}/settings"
    html = client.get(page).get_data(as_text=True)
    assert 'name="currency"' not in html and 'name="country"' not in html  # head office's
    assert '<optgroup label="In United Kingdom">' in html
    settings = {"name": "London Oxford St", "timezone": "Europe/Dublin", "language": "fr", "phone_country": "IE"}
    response = post(client, page, **settings, currency="EUR")
    assert response.status_code == 302
    db.session.expire_all()
    changed = db.session.get(Store, store.id)
    assert (changed.name, changed.timezone, changed.language, changed.phone_country, changed.currency) == (
        "London Oxford St",
        "Europe/Dublin",
        "fr",
        "IE",
        "GBP",
    )
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "store.updated"))
    assert event.store_id == store.id and event.details["changes"] == {
        "name": {"before": "London", "after": "London Oxford St"},
        "timezone": {"before": "Europe/London", "after": "Europe/Dublin"},
        "language": {"before": "en", "after": "fr"},
        "dialling_country": {"before": "GB", "after": "IE"},
    }


def test_the_phone_country_decides_how_a_number_without_a_plus_is_read(app, store, make_user, fake):
    make_user("meg", "manager", store)
    make_user("ann.a", "associate", store)
    manager = app.test_client()
    Auth(manager).sign_in("meg")
    page = f"/admin/stores/{store.id}/settings"
    post(manager, page, name="London", timezone="Europe/London", language="en", phone_country="IE")
    seller = app.test_client()
    Auth(seller).sign_in("ann.a")
    assert 'value="+353 "' in seller.get("/sales/new").get_data(as_text=True)
    token = csrf_token(seller, "/sales/new")
    response = seller.post("/sales/new", data=sale_form(token, phone="085 123 4567"))
    assert response.status_code == 302
    assert db.session.scalar(sa.select(Sale.phone)) == "+353851234567"


def test_settings_errors_stay_beside_their_fields(app, store, make_user):
    make_user("meg", "manager", store)
    client = app.test_client()
    Auth(client).sign_in("meg")
    page = f"/admin/stores/{store.id}/settings"
    response = post(client, page, name="", timezone="Mars/Olympus", language="en", phone_country="GB")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="name-error">Enter the store name.</p>' in html and 'id="timezone-error">' in html
    response = post(
        client, page, name="London 4111 1111 1111 1111", timezone="Europe/London", language="en", phone_country="GB"
    )
    assert response.status_code == 422 and "This looks like a card number" in response.get_data(as_text=True)


@pytest.mark.both_dbs
def test_a_deactivated_store_signs_its_people_out_keeps_them_out_and_its_history_readable(
    app, head_office, store, make_user
):
    make_user("ann.a", "associate", store)
    ipad = app.test_client()
    Auth(ipad).sign_in("ann.a")
    assert ipad.get("/sales/").status_code == 200
    page = f"/admin/stores/{store.id}"
    assert post(head_office, f"{page}/deactivate", page).status_code == 302
    assert ipad.get("/sales/").status_code == 302  # signed out at the next tap
    assert Auth(ipad).sign_in("ann.a").status_code == 200
    refused = db.session.scalar(
        sa.select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed").order_by(AuditEvent.id.desc())
    )
    assert refused.details == {"reason": "store_inactive"}
    assert "Deactivated" in head_office.get(page).get_data(as_text=True)
    assert head_office.get(f"/audit/?store={store.id}").status_code == 200
    assert head_office.get(f"{page}/people").status_code == 200
    post(head_office, f"{page}/reactivate", page)
    assert Auth(ipad).sign_in("ann.a").status_code == 302
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.store_id == store.id, AuditEvent.action.like("store.%"))
    ).all()
    assert actions == ["store.deactivated", "store.reactivated"]
