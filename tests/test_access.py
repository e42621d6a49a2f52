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


def _url(rule, ids: int | dict[str, int]) -> str:
    """The rule's path with each <int:name> taken from ids; a sale id alone stands for every id.

    A return, product or correction id that is not the sale's is a 404 like another store's sale.
    """

    def value(match: re.Match[str]) -> str:
        return str(ids.get(match.group(1), 1) if isinstance(ids, dict) else ids)

    return re.sub(r"<int:(\w+)>", value, rule.rule).replace("<fmt>", "csv")


@pytest.fixture
def sale_id(app, store, make_user, fake):
    make_user("alex", "associate", store)
    seller = app.test_client()
    Auth(seller).sign_in("alex")
    return start_sale(seller)


@pytest.fixture
def ids(app, sale_id, store, make_user):
    """One of everything a route can name, in the London store: its sale, store, an associate, a catalogue draft."""
    from portal.admin import catalogue
    from portal.models import User

    admin = make_user("boss", "admin")
    draft = catalogue.start_draft(admin)
    alex = db.session.scalar(sa.select(User).where(User.username == "alex"))
    return {
        "sale_id": sale_id,
        "store_id": store.id,
        "user_id": alex.id,
        "version_id": draft.id,
        "category_id": draft.categories[0].id,
    }


def test_every_route_needs_sign_in(app, client, ids):
    for rule in _app_routes(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, ids), method=method, data={})
            # POSTs without a token stop at CSRF (400); everything else sends the stranger to sign in.
            expected = {400} if method == "POST" else {302}
            assert response.status_code in expected, (method, rule.rule, response.status_code)
            if response.status_code == 302:
                assert "/auth/sign-in" in response.headers["Location"]


@pytest.mark.parametrize("username", ["sam", "boss"])
def test_every_post_needs_a_csrf_token(app, ids, store, make_user, username):
    if username == "sam":
        make_user("sam", "associate", store)
    client = app.test_client()
    Auth(client).sign_in(username)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    for rule in _app_routes(app):
        if "POST" in rule.methods:
            response = client.post(_url(rule, ids), data={})
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


def test_head_answers_like_get_on_every_route(app, ids, client):
    from tests.test_sales_views import choose_all

    seller = app.test_client()
    Auth(seller).sign_in("alex")
    choose_all(seller, ids["sale_id"])  # every screen of the sale now shows its form rather than moving on
    head_office = app.test_client()
    Auth(head_office).sign_in("boss")
    for who, browser in (("anonymous", client), ("seller", seller), ("head office", head_office)):
        for rule in _all_portal_routes(app):
            if "GET" not in rule.methods or rule.endpoint == "static":
                continue
            url = _url(rule, ids)
            before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            get = browser.get(url, buffered=True)  # an export streams: read it whole inside its request
            after_get = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            head = browser.head(url, buffered=True)
            after_head = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
            assert head.status_code == get.status_code, (who, rule.rule, get.status_code, head.status_code)
            assert head.data == b"" and after_head - after_get == after_get - before, (who, rule.rule)


def test_a_refused_method_says_which_are_allowed_on_every_route(app, client, ids):
    for rule in _all_portal_routes(app):
        for method in ("PUT", "DELETE", "PATCH", "GET", "POST"):
            if method in rule.methods:
                continue
            response = client.open(_url(rule, ids), method=method)
            assert response.status_code == 405, (method, rule.rule, response.status_code)
            allowed = {m.strip() for m in response.headers.get("Allow", "").split(",")}
            assert rule.methods <= allowed, (method, rule.rule, response.headers.get("Allow"))
            assert "text/html" in response.content_type  # still the portal's own page


# Every administration route, in the order walked: GET and POST (a CSRF token, nothing else) for the London
# store's associate, its manager, the Sydney store's manager and head office. "ok" is an answer on the screen
# (200, a 302 after the action, or 422 for a form sent empty); a number is the refusal expected.
ADMIN_ACCESS = {
    "auth.change_password": ("ok", "ok", "ok", "ok"),
    "admin.people_list": ("403", "ok", "404", "ok"),
    "admin.new_person": ("403", "ok", "404", "ok"),
    "admin.person": ("403", "ok", "404", "ok"),
    "admin.disable_person": ("403", "ok", "404", "ok"),
    "admin.enable_person": ("403", "ok", "404", "ok"),
    "admin.unlock_person": ("403", "ok", "404", "ok"),
    "admin.sign_out_person": ("403", "ok", "404", "ok"),
    "admin.reset_password": ("403", "ok", "404", "ok"),
    "admin.stores": ("403", "403", "403", "ok"),
    "admin.new_store": ("403", "403", "403", "ok"),
    "admin.store": ("403", "ok", "404", "ok"),
    "admin.store_settings": ("403", "ok", "404", "ok"),
    "admin.deactivate_store": ("403", "403", "404", "ok"),
    "admin.reactivate_store": ("403", "403", "404", "ok"),
    "catalogue.index": ("403", "403", "403", "ok"),
    "catalogue.version": ("403", "403", "403", "ok"),
    "catalogue.start_draft": ("403", "403", "403", "ok"),
    "catalogue.new_category": ("403", "403", "403", "ok"),
    "catalogue.edit_category": ("403", "403", "403", "ok"),
    "catalogue.check": ("403", "403", "403", "ok"),
    "catalogue.publish": ("403", "403", "403", "ok"),
    "catalogue.delete_category": ("403", "403", "403", "ok"),
    "catalogue.discard": ("403", "403", "403", "ok"),
}
WHO = {"associate": ("alex", 0), "manager": ("meg", 1), "other_manager": ("syd", 2), "admin": ("boss", 3)}


def test_the_access_table_names_every_administration_route(app):
    routes = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in ("admin", "catalogue")}
    assert routes | {"auth.change_password"} == set(ADMIN_ACCESS)


@pytest.mark.parametrize("who", list(WHO))
def test_administration_routes_by_role_and_store(app, ids, store, other_store, make_user, who):
    from tests.conftest import csrf_token

    make_user("meg", "manager", store)
    make_user("syd", "manager", other_store)
    username, column = WHO[who]
    client = app.test_client()
    Auth(client).sign_in(username)
    token = csrf_token(client, "/")
    rules = {r.endpoint: r for r in app.url_map.iter_rules()}
    for endpoint, expected in ADMIN_ACCESS.items():
        rule = rules[endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, ids), method=method, data={"csrf_token": token})
            got, want = response.status_code, expected[column]
            assert got in {200, 302, 422} if want == "ok" else got == int(want), (who, method, rule.rule, got)


@pytest.mark.parametrize("target", ["meg", "max"])
def test_a_manager_manages_associates_only_and_not_themselves(app, store, make_user, target):
    from portal.models import User
    from tests.conftest import csrf_token

    make_user("meg", "manager", store)
    if target == "max":
        make_user("max", "manager", store)
    client = app.test_client()
    Auth(client).sign_in("meg")
    person = db.session.scalar(sa.select(User).where(User.username == target))
    assert client.get(f"/admin/people/{person.id}").status_code == 200  # seen on the People screen
    token = csrf_token(client, "/")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    for action in ("disable", "enable", "unlock", "sign-out", "password"):
        response = client.post(f"/admin/people/{person.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 403, action
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
    assert db.session.get(User, person.id).active


def test_nobody_manages_head_office_accounts_from_a_store(app, store, make_user):
    from tests.conftest import csrf_token

    boss = make_user("boss", "admin")
    make_user("meg", "manager", store)
    for username in ("meg", "boss"):
        client = app.test_client()
        Auth(client).sign_in(username)
        assert client.get(f"/admin/people/{boss.id}").status_code == 404
        token = csrf_token(client, "/")
        assert client.post(f"/admin/people/{boss.id}/disable", data={"csrf_token": token}).status_code == 404


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
