"""Changing one's own password, and a temporary password that allows nothing but choosing one."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, SignInAddress, User
from tests.conftest import PASSWORD, Auth, csrf_token

NEW = "a-new-long-passphrase"


def change(client, current: str = PASSWORD, new: str = NEW, confirm: str | None = None):
    data = {"current_password": current, "new_password": new, "confirm": new if confirm is None else confirm}
    return client.post("/auth/password", data={"csrf_token": csrf_token(client, "/auth/password"), **data})


@pytest.mark.both_dbs
def test_changing_ones_password_keeps_this_session_and_ends_the_others(app, auth, client, store, make_user):
    make_user("ann.a", "associate", store)
    auth.sign_in("ann.a")
    other_ipad = app.test_client()
    Auth(other_ipad).sign_in("ann.a")
    response = change(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/").status_code == 200  # still signed in here
    assert other_ipad.get("/").status_code == 302  # signed out there
    assert Auth(other_ipad).sign_in("ann.a", PASSWORD).status_code == 200
    assert Auth(other_ipad).sign_in("ann.a", NEW).status_code == 302
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "auth.password_changed"))
    assert event.result == "success" and event.details == {"was_temporary": False}


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("wrong-password-1", NEW, None, "current_password", "That is not your current password."),
        (PASSWORD, NEW, "something-else-1", "confirm", "The two do not match."),
        (PASSWORD, "short", None, "new_password", "Use at least 10 characters."),
        (PASSWORD, "ann.a-forever-1", None, "new_password", "The password must not contain the username."),
        (PASSWORD, "password123", None, "new_password", "That password is too easy to guess."),
        (PASSWORD, PASSWORD, None, "new_password", "Choose a password different from the current one."),
        (PASSWORD, "4111 1111 1111 1111", None, "new_password", "This looks like a card number"),
    ],
)
def test_each_refusal_is_shown_beside_its_field_and_no_password_is_echoed(
    auth, client, store, make_user, current, new, confirm, field, message
):
    user = make_user("ann.a", "associate", store)
    auth.sign_in("ann.a")
    hash_before = user.password_hash
    response = change(client, current, new, confirm)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in re.search(f'id="{field}-error">([^<]*)<', html).group(1)
    assert current not in html and new not in html
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == hash_before


def test_wrong_current_passwords_lock_the_address_and_end_the_session(app, auth, client, store, make_user):
    user = make_user("ann.a", "associate", store)
    auth.sign_in("ann.a")
    for _ in range(9):
        assert change(client, "wrong-password-1").status_code == 422
    response = change(client, "wrong-password-1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/sign-in")
    assert client.get("/").status_code == 302
    assert db.session.get(SignInAddress, (user.id, "127.0.0.1")).locked_until is not None
    assert auth.sign_in("ann.a").status_code == 200  # this address is locked out of the account for now
    failures = db.session.scalars(
        sa.select(AuditEvent.details).where(AuditEvent.action == "auth.password_changed").order_by(AuditEvent.id)
    ).all()
    assert len(failures) == 10 and failures[-1]["locked"] == ["address"]


@pytest.mark.both_dbs
def test_a_temporary_password_leads_only_to_choosing_ones_own(app, auth, client, store, make_user):
    user = make_user("ann.a", "associate", store)
    user.must_change_password = True
    db.session.commit()
    auth.sign_in("ann.a")
    for path in ("/", "/sales/", "/sales/new", "/audit/", f"/admin/stores/{store.id}/people", "/nowhere"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/password"), path
    token = csrf_token(client, "/auth/password")
    assert client.post("/sales/new", data={"csrf_token": token}).headers["Location"].endswith("/auth/password")
    page = client.get("/auth/password").get_data(as_text=True)
    assert "Choose your password" in page and 'id="nav-audit"' not in page and "Sign out" in page
    assert change(client).status_code == 302
    assert client.get("/sales/").status_code == 200
    db.session.expire_all()
    assert not db.session.get(User, user.id).must_change_password


def test_sign_out_still_works_on_a_temporary_password(auth, client, store, make_user):
    user = make_user("ann.a", "associate", store)
    user.must_change_password = True
    db.session.commit()
    auth.sign_in("ann.a")
    response = client.post("/auth/sign-out", data={"csrf_token": csrf_token(client, "/auth/password")})
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/sign-in")


def test_everyone_can_reach_the_change_screen_from_the_nav(app, store, make_user):
    make_user("ann.a", "associate", store)
    make_user("boss", "admin")
    for name in ("ann.a", "boss"):
        client = app.test_client()
        Auth(client).sign_in(name)
        html = client.get("/").get_data(as_text=True)
        assert 'href="/auth/password"' in html
        form = client.get("/auth/password").get_data(as_text=True)
        assert 'autocomplete="current-password"' in form and form.count('autocomplete="new-password"') == 2
