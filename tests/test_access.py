"""What the route walk does not check: HEAD, refused methods, whom a manager may manage.

Sign-in, CSRF, role and store scope on every route are declared once, in tests/route_table.py, and walked by
tests/test_routes.py.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent
from tests.conftest import Auth
from tests.test_sales_views import start_sale


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
