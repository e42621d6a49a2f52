"""Every state-changing route, checked together: CSRF, sign-in, role and store scope."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Sale
from tests.conftest import Auth
from tests.test_sales_views import start_sale

# Routes that take no sign-in by design; XCover's webhook is signed by XCover instead (tests/test_webhooks.py).
PUBLIC = {"auth.sign_in", "main.healthz", "static", "webhooks.xcover"}


def _app_routes(app):
    """The portal's own routes (the sandbox stands in for XCover and has its own signed auth)."""
    return [r for r in app.url_map.iter_rules() if not r.rule.startswith("/sandbox/") and r.endpoint not in PUBLIC]


def _url(rule, sale_id: int) -> str:
    # A return, product or correction id that is not the sale's is a 404 like another store's sale.
    return re.sub(r"<int:\w+>", str(sale_id), rule.rule).replace("<fmt>", "csv")


@pytest.fixture
def sale_id(app, store, make_user, fake):
    make_user("alex", "associate", store)
    seller = app.test_client()
    Auth(seller).sign_in("alex")
    return start_sale(seller)


def test_every_route_needs_sign_in(app, client, sale_id):
    for rule in _app_routes(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, sale_id), method=method, data={})
            # POSTs without a token stop at CSRF (400); everything else sends the stranger to sign in.
            expected = {400} if method == "POST" else {302}
            assert response.status_code in expected, (method, rule.rule, response.status_code)
            if response.status_code == 302:
                assert "/auth/sign-in" in response.headers["Location"]


def test_every_post_needs_a_csrf_token(app, sale_id, store, make_user):
    make_user("sam", "associate", store)
    client = app.test_client()
    Auth(client).sign_in("sam")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    for rule in _app_routes(app):
        if "POST" in rule.methods:
            response = client.post(_url(rule, sale_id), data={})
            assert response.status_code == 400, rule.rule
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before


@pytest.mark.parametrize("who", ["other_store_associate", "admin"])
def test_sale_routes_are_store_scoped_and_for_sellers(app, sale_id, other_store, make_user, who):
    from tests.conftest import csrf_token

    if who == "admin":
        make_user("boss", "admin")
        username, expected = "boss", 403
    else:
        make_user("syd", "associate", other_store)
        username, expected = "syd", 404
    client = app.test_client()
    Auth(client).sign_in(username)
    token = csrf_token(client, "/")
    status_before = db.session.get(Sale, sale_id).status
    for rule in _app_routes(app):
        if "<int:sale_id>" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, sale_id), method=method, data={"csrf_token": token})
            assert response.status_code == expected, (who, method, rule.rule, response.status_code)
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == status_before


def test_associates_cannot_open_the_audit_log(app, store, make_user):
    make_user("ann", "associate", store)
    client = app.test_client()
    Auth(client).sign_in("ann")
    for path in ("/audit/", "/audit/export.csv", "/audit/export.jsonl"):
        assert client.get(path).status_code == 403, path


def _all_portal_routes(app):
    """Every route of the portal itself, public ones included (not the sandbox, which stands in for XCover)."""
    return [r for r in app.url_map.iter_rules() if not r.rule.startswith("/sandbox/")]


def test_head_answers_like_get_on_every_route(app, sale_id, client):
    from tests.test_sales_views import choose_all

    seller = app.test_client()
    Auth(seller).sign_in("alex")
    choose_all(seller, sale_id)  # every screen of the sale now shows its form rather than moving on
    for who, browser in (("anonymous", client), ("seller", seller)):
        for rule in _all_portal_routes(app):
            if "GET" not in rule.methods or rule.endpoint == "static":
                continue
            url = _url(rule, sale_id)
            before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            get = browser.get(url)
            after_get = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            head = browser.head(url)
            after_head = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            assert head.status_code == get.status_code, (who, rule.rule, get.status_code, head.status_code)
            assert head.data == b"" and after_head - after_get == after_get - before, (who, rule.rule)


def test_a_refused_method_says_which_are_allowed_on_every_route(app, client, sale_id):
    for rule in _all_portal_routes(app):
        for method in ("PUT", "DELETE", "PATCH", "GET", "POST"):
            if method in rule.methods:
                continue
            response = client.open(_url(rule, sale_id), method=method)
            assert response.status_code == 405, (method, rule.rule, response.status_code)
            allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
            assert rule.methods <= allowed, (method, rule.rule, response.headers.get("Allow"))
            assert "text/html" in response.content_type  # still the portal's own page


def test_after_sale_routes_answer_404_for_another_stores_sale_to_its_manager_too(app, sale_id, other_store, make_user):
    from tests.conftest import csrf_token

    make_user("sydney", "manager", other_store)
    client = app.test_client()
    Auth(client).sign_in("sydney")
    token = csrf_token(client, "/")
    for rule in _app_routes(app):
        if not rule.endpoint.startswith("policies.") or "<int:sale_id>" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, sale_id), method=method, data={"csrf_token": token})
            assert response.status_code == 404, (method, rule.rule, response.status_code)


def test_the_webhook_takes_no_sign_in_but_refuses_what_xcover_did_not_sign(client):
    response = client.post("/webhooks/xcover", json={"event": "BOOKING_CANCELLED", "payload": {"id": "X"}})
    assert response.status_code == 401
