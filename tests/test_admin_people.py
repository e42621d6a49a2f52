"""A store's people on screen: adding with a temporary password, disabling, unlocking, resetting, signing out."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.admin import people
from portal.extensions import db
from portal.models import AuditEvent, SignInAddress, User, utcnow
from portal.stores import InvalidInput
from portal.vocab import PersonState
from tests.conftest import PASSWORD, Auth, csrf_token

CARD = "4111 1111 1111 1111"


@pytest.fixture
def manager(app, store, make_user):
    """The London store's manager, signed in."""
    make_user("meg", "manager", store)
    client = app.test_client()
    Auth(client).sign_in("meg")
    return client


def person_named(username: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def add(client, store, **fields: str):
    path = f"/admin/stores/{store.id}/people/new"
    data = {"username": "jo.b", "display_name": "Jo Bloggs", "role": "associate", "password": "", **fields}
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


def post(client, path: str, page: str, **data: str):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **data})


@pytest.mark.both_dbs
def test_a_manager_adds_an_associate_whose_made_up_password_is_shown_once_and_works_once(app, manager, store):
    response = add(manager, store)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="temporary-password">([^<]+)<', html).group(1)
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", password)
    jo = person_named("jo.b")
    assert jo.must_change_password and jo.store_id == store.id and jo.role == "associate"
    assert password not in manager.get(f"/admin/people/{jo.id}").get_data(as_text=True)  # only the once
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.object_id == str(jo.id)))
    assert event.action == "user.created" and event.actor_name == "meg" and event.store_id == store.id
    assert event.details == {
        "display_name": "Jo Bloggs",
        "must_choose_own": True,
        "role": "associate",
        "username": "jo.b",
    }
    assert password not in str(db.session.scalars(sa.select(AuditEvent.details)).all())

    associate = app.test_client()
    assert Auth(associate).sign_in("jo.b", password).headers["Location"] == "/"
    assert associate.get("/").headers["Location"].endswith("/auth/password")


def test_a_password_the_manager_types_is_kept_and_not_shown_again(manager, store):
    response = add(manager, store, password="welcome-to-london")
    jo = person_named("jo.b")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/people/{jo.id}"
    assert "welcome-to-london" not in manager.get(response.headers["Location"]).get_data(as_text=True)
    assert jo.must_change_password


def test_mistakes_are_shown_beside_their_fields_and_what_was_typed_stays(manager, store, make_user):
    make_user("taken.name", "associate", store)
    response = add(manager, store, username="taken.name", display_name="Jo Bloggs", password="short")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="username-error">The username taken.name is taken.</p>' in html
    assert 'id="password-error">Weak password: Use at least 10 characters.</p>' in html
    assert 'value="Jo Bloggs"' in html and 'value="taken.name"' in html
    assert 'autocapitalize="none"' in html  # the username keyboard
    assert person_named("taken.name").display_name == "Taken.Name"


def test_a_card_number_is_refused_in_every_field_of_the_new_person_form(manager, store):
    response = add(manager, store, display_name=f"Jo {CARD}")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "This looks like a card number" in html and CARD not in html
    assert person_named("jo.b") is None


def test_a_manager_cannot_add_a_manager_and_head_office_can(app, manager, store, make_user):
    response = add(manager, store, role="manager")
    assert response.status_code == 422 and person_named("jo.b") is None
    assert 'name="role" value="manager"' not in add(manager, store, username="x").get_data(as_text=True)
    make_user("boss", "admin")
    head_office = app.test_client()
    Auth(head_office).sign_in("boss")
    assert add(head_office, store, role="manager", username="new.manager").status_code == 200
    assert person_named("new.manager").role == "manager"
    with pytest.raises(InvalidInput):
        people.add_person(person_named("meg"), store, "sneaky", "Sneaky", "admin")


@pytest.mark.both_dbs
def test_disabling_ends_the_associates_open_session_at_the_next_tap(app, manager, store, make_user):
    jo = make_user("jo.b", "associate", store)
    ipad = app.test_client()
    Auth(ipad).sign_in("jo.b")
    assert ipad.get("/sales/").status_code == 200
    page = f"/admin/people/{jo.id}"
    assert post(manager, f"{page}/disable", page).status_code == 302
    response = ipad.get("/sales/")
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]
    assert Auth(ipad).sign_in("jo.b").status_code == 200  # and cannot sign in again
    assert people.person(person_named("jo.b")).state == PersonState.DISABLED
    post(manager, f"{page}/enable", page)
    assert Auth(ipad).sign_in("jo.b").status_code == 302
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_id == str(jo.id))).all()
    assert [a for a in actions if a.startswith("user.")] == ["user.created", "user.disabled", "user.enabled"]
    disabled = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.disabled"))
    assert disabled.details == {"changes": {"active": {"after": False, "before": True}}, "username": "jo.b"}


@pytest.mark.both_dbs
def test_unlock_clears_the_address_lock_and_the_account_lock(app, manager, store, make_user):
    jo = make_user("jo.b", "associate", store)
    ipad = app.test_client()
    for _ in range(10):
        Auth(ipad).sign_in("jo.b", "wrong-password-here")
    jo.locked_until = utcnow() + timedelta(hours=1)  # as guesses from many addresses would
    db.session.commit()
    assert Auth(ipad).sign_in("jo.b").status_code == 200  # locked
    listing = manager.get(f"/admin/stores/{store.id}/people").get_data(as_text=True)
    assert re.search(r'id="person-jo.b".*?Locked', listing, re.S)
    page = f"/admin/people/{jo.id}"
    assert post(manager, f"{page}/unlock", page).status_code == 302
    db.session.expire_all()
    assert db.session.get(SignInAddress, (jo.id, "127.0.0.1")).locked_until is None
    assert person_named("jo.b").locked_until is None
    assert Auth(ipad).sign_in("jo.b").status_code == 302
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.unlocked"))
    assert event.details["before"] == {"account_locked": True, "addresses_locked": 1}


def test_a_reset_gives_a_temporary_password_ends_sessions_and_lifts_locks(app, manager, store, make_user):
    jo = make_user("jo.b", "associate", store)
    ipad = app.test_client()
    Auth(ipad).sign_in("jo.b")
    db.session.add(SignInAddress(user_id=jo.id, client="10.0.0.9", failures=0, locked_until=utcnow() + timedelta(1)))
    db.session.commit()
    page = f"/admin/people/{jo.id}"
    html = post(manager, f"{page}/password", page, password="").get_data(as_text=True)
    password = re.search(r'id="temporary-password">([^<]+)<', html).group(1)
    db.session.expire_all()
    assert db.session.get(SignInAddress, (jo.id, "10.0.0.9")).locked_until is None
    assert ipad.get("/").status_code == 302  # the old session is over
    assert Auth(ipad).sign_in("jo.b", PASSWORD).status_code == 200  # the old password too
    assert Auth(ipad).sign_in("jo.b", password).status_code == 302
    assert ipad.get("/sales/").headers["Location"].endswith("/auth/password")
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.password_reset"))
    assert event.details == {"made_up": True, "unlocked": True, "username": "jo.b"}


def test_a_typed_reset_password_follows_the_policy(manager, store, make_user):
    jo = make_user("jo.b", "associate", store)
    page = f"/admin/people/{jo.id}"
    response = post(manager, f"{page}/password", page, password="jo.b-is-my-name")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The password must not contain the username." in html and 'value="jo.b-is-my-name"' in html
    assert not person_named("jo.b").must_change_password


def test_sign_out_everywhere_ends_sessions_but_not_the_account(app, manager, store, make_user):
    jo = make_user("jo.b", "associate", store)
    ipad, till = app.test_client(), app.test_client()
    Auth(ipad).sign_in("jo.b")
    Auth(till).sign_in("jo.b")
    page = f"/admin/people/{jo.id}"
    post(manager, f"{page}/sign-out", page)
    assert ipad.get("/").status_code == 302 and till.get("/").status_code == 302
    assert Auth(ipad).sign_in("jo.b").status_code == 302


def test_the_people_screen_shows_each_state_and_last_sign_in(app, manager, store, make_user):
    for name in ("ann.a", "bob.b", "cat.c", "dan.d"):
        make_user(name, "associate", store)
    Auth(app.test_client()).sign_in("ann.a")
    bob, cat, dan = (person_named(name) for name in ("bob.b", "cat.c", "dan.d"))
    bob.active = False
    cat.must_change_password = True
    dan.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    states = {p.user.username: p.state for p in people.people_of(store)}
    assert states == {
        "meg": PersonState.ACTIVE,
        "ann.a": PersonState.ACTIVE,
        "bob.b": PersonState.DISABLED,
        "cat.c": PersonState.TEMPORARY,
        "dan.d": PersonState.LOCKED,
    }
    assert [p.user.username for p in people.people_of(store)][0] == "meg"  # managers first
    html = manager.get(f"/admin/stores/{store.id}/people").get_data(as_text=True)
    ann = re.search(r'id="person-ann.a".*?</a>', html, re.S).group(0)
    assert "Last signed in" in ann and "Active" in ann
    assert "Never signed in" in re.search(r'id="person-bob.b".*?</a>', html, re.S).group(0)
    assert "Must choose a password" in html and "Disabled" in html and "until" in html
