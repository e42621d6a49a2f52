"""The customer view: shown from Options, in the customer's language, acknowledged by the customer, locked until
the associate's password unlocks it."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from babel import Locale
from flask import Flask
from flask.testing import FlaskClient

from portal import intl
from portal.auth.pins import verify_unlock
from portal.extensions import db
from portal.models import AuditEvent, Sale, User
from portal.sales import customer_view
from portal.sales.machine import InvalidTransition
from portal.sales.options import disclaimer_hash
from portal.vocab import AuditAction, AuditResult, SaleStatus
from tests.conftest import PASSWORD, csrf_token
from tests.test_sales_views import start_sale


def events(sale_id: int, action: AuditAction) -> list[AuditEvent]:
    """The sale's events of one action, oldest first."""
    db.session.expire_all()
    return list(
        db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_id == str(sale_id), AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def show(client: FlaskClient, sale_id: int) -> None:
    """Tap "Show the customer" on Options."""
    token = csrf_token(client, f"/sales/{sale_id}/options")
    resp = client.post(f"/sales/{sale_id}/customer-view", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/customer-view"), resp.status_code


def token_on_view(client: FlaskClient) -> str:
    """The CSRF token of the customer view (the only page a locked session gets)."""
    return csrf_token(client, "/customer-view")


def acknowledge(client: FlaskClient) -> None:
    """The customer's tap."""
    resp = client.post("/customer-view/acknowledge", data={"csrf_token": token_on_view(client)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/customer-view")


def unlock(client: FlaskClient, secret: str = PASSWORD):
    """The associate's unlock."""
    return client.post("/customer-view/unlock", data={"csrf_token": token_on_view(client), "secret": secret})


# Service


def test_verify_unlock_takes_the_password_only(app: Flask, store, make_user) -> None:
    user = make_user("ann", "associate", store)
    assert verify_unlock(user, PASSWORD)
    assert not verify_unlock(user, "wrong-password-1")
    assert not verify_unlock(user, "")
    user.active = False
    assert not verify_unlock(user, PASSWORD)


@pytest.mark.both_dbs
def test_acknowledge_records_versions_and_disclaimer_hash_once(seller: FlaskClient) -> None:
    sale_id = start_sale(seller)
    sale = db.session.get(Sale, sale_id)
    user = db.session.scalar(sa.select(User).where(User.username == "alex"))
    assert customer_view.customer_acknowledgement(sale) is None
    customer_view.acknowledge(sale, user)
    customer_view.acknowledge(sale, user)  # a second tap adds nothing
    [event] = events(sale_id, AuditAction.SALE_CUSTOMER_ACKNOWLEDGED)
    covers = customer_view.offered(sale)
    assert len(covers) == 4  # two products, two options each
    assert event.details["policy_versions"] == {c.quote_id: c.policy_version for c in covers}
    assert event.details["disclaimer_sha256"] == disclaimer_hash(covers)
    assert event.details["xcover_ref"] == sale.xcover_ref
    assert customer_view.customer_acknowledgement(sale).id == event.id


def test_only_open_options_can_be_shown(seller: FlaskClient) -> None:
    sale = db.session.get(Sale, start_sale(seller))
    user = db.session.scalar(sa.select(User).where(User.username == "alex"))
    sale.status = SaleStatus.DECLINED
    db.session.commit()
    with pytest.raises(InvalidTransition):
        customer_view.show(sale, user)
    with pytest.raises(InvalidTransition):
        customer_view.acknowledge(sale, user)


def test_unlock_is_audited_and_gives_up_after_five(seller: FlaskClient) -> None:
    sale_id = start_sale(seller)
    user = db.session.scalar(sa.select(User).where(User.username == "alex"))
    assert customer_view.unlock(sale_id, user, "nope-nope-nope", 0) == (False, False)
    assert customer_view.unlock(sale_id, user, "nope-nope-nope", 4) == (False, True)
    assert customer_view.unlock(sale_id, user, PASSWORD, 0) == (True, False)
    tries = events(sale_id, AuditAction.CUSTOMER_VIEW_UNLOCKED)
    assert [e.result for e in tries] == [AuditResult.FAILURE, AuditResult.FAILURE, AuditResult.SUCCESS]
    assert tries[1].details["signed_out"] is True and "signed_out" not in tries[0].details


# Views


def test_show_the_customer_button_is_on_options(seller: FlaskClient) -> None:
    sale_id = start_sale(seller)
    page = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert 'id="show-customer"' in page and f'action="/sales/{sale_id}/customer-view"' in page


def test_customer_view_needs_a_show(seller: FlaskClient) -> None:
    resp = seller.get("/customer-view")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/")


def test_every_other_route_redirects_while_locked(app: Flask, seller: FlaskClient, store) -> None:
    sale_id = start_sale(seller)
    show(seller, sale_id)
    ids = {"sale_id": sale_id, "store_id": store.id}
    # Signing out is let through: it ends the session (tested below), so nothing more is reachable.
    allowed = {"customer.view", "customer.acknowledge", "customer.unlock", "static", "main.healthz", "auth.sign_out"}
    token = token_on_view(seller)
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/sandbox/") or rule.endpoint in allowed:
            continue
        path = re.sub(r"<int:(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule).replace("<fmt>", "csv")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = seller.open(path, method=method, data={"csrf_token": token})
            assert resp.status_code == 302, (method, rule.rule, resp.status_code)
            assert resp.headers["Location"].endswith("/customer-view"), (method, rule.rule)
            checked += 1
    assert checked > 40
    assert seller.get("/healthz").status_code == 200
    # Nothing changed behind the lock: the sale is still waiting for its options.
    assert db.session.get(Sale, sale_id).status == SaleStatus.QUOTED
    assert seller.get("/customer-view").status_code == 200
    assert seller.post("/auth/sign-out", data={"csrf_token": token}).status_code == 302
    assert seller.get("/customer-view").headers["Location"].split("?")[0].endswith("/auth/sign-in")  # session gone
    assert seller.get(f"/sales/{sale_id}").headers["Location"].split("?")[0].endswith("/auth/sign-in")


def test_a_french_customer_reads_and_acknowledges_in_french(seller: FlaskClient) -> None:
    sale_id = start_sale(seller, language="fr")
    show(seller, sale_id)
    page = seller.get("/customer-view").get_data(as_text=True)
    assert '<html lang="fr">' in page
    for words in ("Vos options de garantie", "Ce qui est couvert", "Ce qui n’est pas couvert", "J’ai lu"):
        assert words in page, words
    assert "Read the policy wording." in page  # XCover's own words, shown as XCover sent them
    assert "Sign out" not in page and 'href="/sales/' not in page  # nothing of the portal
    cover = customer_view.offered(db.session.get(Sale, sale_id))[0]
    assert intl.money(cover.price, "GBP", locale=Locale("fr")) in page  # money as French writes it
    assert intl.money(cover.price, "GBP", locale=Locale("en", "GB")) not in page
    assert [e.details["language"] for e in events(sale_id, AuditAction.CUSTOMER_VIEW_SHOWN)] == ["fr"]
    acknowledge(seller)
    page = seller.get("/customer-view").get_data(as_text=True)
    assert "Merci. Vous avez confirmé" in page and 'id="customer-acknowledge"' not in page
    # The associate unlocks and finds the acknowledgement on Options, ticked, then records the choice.
    resp = unlock(seller)
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/sales/{sale_id}/options")
    options = seller.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert 'id="customer-acknowledged"' in options
    assert re.search(r'id="acknowledged"[^>]*checked|checked[^>]*id="acknowledged"', options)
    sale = db.session.get(Sale, sale_id)
    data = {"csrf_token": csrf_token(seller, f"/sales/{sale_id}/options")}
    data.update({f"choice_{item.id}": str(item.covers[0].id) for item in sale.items})
    resp = seller.post(f"/sales/{sale_id}/options", data=data)  # the box need not be ticked again
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/payment")
    [ack] = events(sale_id, AuditAction.SALE_ACKNOWLEDGED)
    assert ack.details["acknowledged_on"] == "customer_view"


def test_wrong_password_keeps_the_lock(seller: FlaskClient) -> None:
    sale_id = start_sale(seller, language="de")
    show(seller, sale_id)
    resp = unlock(seller, "wrong-password-1")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Das ist nicht das Passwort" in page
    assert seller.get("/").headers["Location"].endswith("/customer-view")


def test_five_wrong_passwords_sign_out(seller: FlaskClient) -> None:
    sale_id = start_sale(seller)
    show(seller, sale_id)
    for _ in range(4):
        assert unlock(seller, "wrong-password-1").status_code == 422
    resp = unlock(seller, "wrong-password-1")
    assert resp.status_code == 302 and "/auth/sign-in" in resp.headers["Location"]
    assert seller.get("/sales/").status_code == 302 and "/auth/sign-in" in seller.get("/sales/").headers["Location"]
    assert len(events(sale_id, AuditAction.CUSTOMER_VIEW_UNLOCKED)) == 5


def test_another_stores_sale_cannot_be_shown(app: Flask, seller: FlaskClient, other_store, make_user) -> None:
    from tests.conftest import Auth

    sale_id = start_sale(seller)
    make_user("syd", "associate", other_store)
    other = app.test_client()
    Auth(other).sign_in("syd")
    resp = other.post(f"/sales/{sale_id}/customer-view", data={"csrf_token": csrf_token(other, "/")})
    assert resp.status_code == 404
    assert events(sale_id, AuditAction.CUSTOMER_VIEW_SHOWN) == []
