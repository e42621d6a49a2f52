"""Quick switch on a shared iPad: PINs, the device cookie, locking, the names screen and switching person."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from portal.auth import pins, service
from portal.auth.passwords import verify_password
from portal.extensions import db
from portal.models import AuditEvent, DeviceSignIn, Sale, User, UserPin, utcnow

from .conftest import PASSWORD, Auth, csrf_token

PIN = "284710"
SAM_PIN = "593017"


def events(action: str) -> list[AuditEvent]:
    """Every event of one action, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def user(username: str) -> User:
    """Load a person afresh."""
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def set_pin(client: FlaskClient, pin: str = PIN, confirm: str | None = None) -> Any:
    """Post the Set PIN form."""
    token = csrf_token(client, "/auth/pin")
    return client.post("/auth/pin", data={"pin": pin, "confirm": confirm or pin, "csrf_token": token})


def lock(client: FlaskClient, next_: str = "") -> Any:
    """Tap Lock in the header."""
    token = csrf_token(client, "/")
    return client.post("/auth/lock", data={"csrf_token": token, "next": next_})


def unlock(client: FlaskClient, person: User, pin: str = PIN) -> Any:
    """Tap a name on the names screen and type the PIN."""
    token = csrf_token(client)  # any page of the session (the pad itself is not shown to a blocked PIN)
    return client.post(f"/auth/locked/{person.id}", data={"pin": pin, "csrf_token": token})


def device_of(client: FlaskClient) -> str:
    """The device id in the client's signed device cookie."""
    from portal.auth.device import _serializer

    cookie = client.get_cookie("portal_device")
    assert cookie is not None
    return _serializer().loads(cookie.value)


def names(client: FlaskClient) -> str:
    """The names screen's HTML."""
    return client.get("/auth/locked").get_data(as_text=True)


@pytest.fixture
def ipad(app, store, make_user) -> FlaskClient:
    """One shared iPad: Alex signed in with a password and set a PIN, then Sam did the same (the iPad is Sam's now)."""
    make_user("alex", "associate", store)
    make_user("sam", "associate", store)
    client = app.test_client()
    Auth(client).sign_in("alex")
    assert set_pin(client).status_code == 302
    lock(client)
    Auth(client).sign_in("sam")
    assert set_pin(client, SAM_PIN).status_code == 302
    return client


# --- the service ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pin",
    [
        "000000",
        "111111",
        "123456",
        "654321",
        "890123",
        "121212",
        "123123",
        "112233",
        "111222",
        "159753",
        "12345",
        "1234567",
        "abcdef",
        "２８４７１０",
        "28 471",
        "",
    ],  # fmt: skip
)
def test_trivial_or_malformed_pins_are_refused(app, pin):
    assert pins.pin_problem(pin) is not None


@pytest.mark.parametrize("pin", [PIN, SAM_PIN, "730194", "046281"])
def test_ordinary_pins_are_accepted(app, pin):
    assert pins.pin_problem(pin) is None


def test_a_pin_is_hashed_like_a_password_and_setting_it_is_recorded(app, store, make_user):
    alex = make_user("alex", "associate", store)
    pins.set_pin(alex, PIN)
    stored = db.session.get(UserPin, alex.id)
    assert stored.pin_hash.startswith("$argon2id$") and PIN not in stored.pin_hash
    assert verify_password(stored.pin_hash, PIN) and not verify_password(stored.pin_hash, SAM_PIN)
    pins.set_pin(alex, SAM_PIN)
    assert [e.details["replaced"] for e in events("auth.pin_set")] == [False, True]
    assert PIN not in str([e.details for e in events("auth.pin_set")])


def test_head_office_and_trivial_pins_are_refused_by_the_service(app, store, make_user):
    boss = make_user("boss", "admin")
    with pytest.raises(pins.PinRefused):
        pins.set_pin(boss, PIN)
    alex = make_user("alex", "associate", store)
    with pytest.raises(pins.PinRefused):
        pins.set_pin(alex, "123456")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserPin)) == 0


def _ready(make_user, store, username: str = "alex", device: str = "device-one-0123456789") -> User:
    """A person with a PIN who signed in with a password on the device just now (their account a day old)."""
    person = make_user(username, "associate", store)
    person.sessions_valid_after = utcnow() - timedelta(days=1)
    db.session.commit()
    pins.set_pin(person, PIN)
    pins.note_full_sign_in(person, device)
    return person


def test_five_wrong_pins_block_the_pin_until_a_password_sign_in(app, store, make_user):
    alex = _ready(make_user, store)
    device = "device-one-0123456789"
    for left in (4, 3, 2, 1):
        check = pins.check_pin(alex, "999000", device)
        assert (check.ok, check.reason, check.failures_left) == (False, "bad_pin", left)
    check = pins.check_pin(alex, "999000", device)
    assert (check.ok, check.reason, check.failures_left) == (False, "blocked", 0)
    assert pins.check_pin(alex, PIN, device).reason == "blocked"  # the right PIN, too late
    wrong = [e.details for e in events("auth.pin_failed") if e.details["reason"] == "bad_pin"]
    assert [d["consecutive_failures"] for d in wrong] == [1, 2, 3, 4]
    blocked = events("auth.pin_blocked")
    assert len(blocked) == 1 and blocked[0].details["consecutive_failures"] == 5
    assert events("auth.pin_failed")[-1].details["reason"] == "blocked"
    assert pins.quick_switch_people(device, store.id) == []
    pins.note_full_sign_in(alex, device)  # the password, on any device
    assert pins.check_pin(alex, PIN, device).ok


def test_a_right_pin_resets_the_count(app, store, make_user):
    alex = _ready(make_user, store)
    device = "device-one-0123456789"
    for _ in range(4):
        pins.check_pin(alex, "999000", device)
    assert pins.check_pin(alex, PIN, device).ok
    db.session.commit()
    assert db.session.get(UserPin, alex.id).failures == 0
    assert pins.check_pin(alex, "999000", device).failures_left == 4


def test_a_pin_works_only_within_twelve_hours_of_a_password_sign_in_on_that_device(app, store, make_user):
    alex = _ready(make_user, store)
    device = "device-one-0123456789"
    here = db.session.get(DeviceSignIn, (device, alex.id))
    here.signed_in_at = utcnow() - timedelta(hours=11, minutes=59)
    db.session.commit()
    assert pins.check_pin(alex, PIN, device).ok
    db.session.commit()
    here = db.session.get(DeviceSignIn, (device, alex.id))
    here.signed_in_at = utcnow() - timedelta(hours=12, minutes=1)
    db.session.commit()
    check = pins.check_pin(alex, PIN, device)
    assert (check.ok, check.reason) == (False, "not_on_this_device")
    assert pins.quick_switch_people(device, store.id) == []
    assert db.session.get(UserPin, alex.id).failures == 0  # a refusal for the device is not a wrong PIN


@pytest.mark.parametrize("app_overrides", [{"QUICK_SWITCH_HOURS": 2}])
def test_the_window_is_configurable(app, store, make_user):
    alex = _ready(make_user, store)
    here = db.session.get(DeviceSignIn, ("device-one-0123456789", alex.id))
    here.signed_in_at = utcnow() - timedelta(hours=2, minutes=1)
    db.session.commit()
    assert pins.check_pin(alex, PIN, "device-one-0123456789").reason == "not_on_this_device"


def test_a_pin_is_bound_to_the_device_the_person_signed_in_on(app, store, make_user):
    alex = _ready(make_user, store)
    assert pins.check_pin(alex, PIN, "device-two-0123456789").reason == "not_on_this_device"
    assert pins.check_pin(alex, PIN, None).reason == "not_on_this_device"
    assert [p.username for p in pins.quick_switch_people("device-one-0123456789", store.id)] == ["alex"]
    assert pins.quick_switch_people("device-two-0123456789", store.id) == []


@pytest.mark.parametrize("ending", ["sign_out", "disable", "temporary", "store_closed"])
def test_ending_a_persons_sessions_ends_their_pin_on_every_device(app, store, make_user, ending):
    alex = _ready(make_user, store)
    here = db.session.get(DeviceSignIn, ("device-one-0123456789", alex.id))
    here.signed_in_at = utcnow() - timedelta(minutes=1)  # the ending comes after the sign-in, as it does in life
    db.session.commit()
    if ending == "sign_out":
        service.sign_out(alex)
    elif ending == "disable":
        alex.active = False
    elif ending == "temporary":
        alex.must_change_password = True
    else:
        store.active = False
    db.session.commit()
    assert not pins.check_pin(alex, PIN, "device-one-0123456789").ok
    assert pins.quick_switch_people("device-one-0123456789", store.id) == []


def test_the_names_are_the_stores_people_with_a_pin_who_signed_in_here(app, store, other_store, make_user):
    device = "device-one-0123456789"
    _ready(make_user, store, "zoe", device)
    _ready(make_user, store, "alex", device)
    make_user("nopin", "associate", store)
    pins.note_full_sign_in(user("nopin"), device)
    _ready(make_user, other_store, "syd", device)
    assert [p.username for p in pins.quick_switch_people(device, store.id)] == ["alex", "zoe"]
    assert pins.device_store(device) == other_store.id  # the latest password sign-in here


def hammer_pins(app: Any, user_id: int, tries: int) -> None:
    """Type one wrong PIN per thread, all at once (each a worker's request)."""
    start = threading.Barrier(tries)
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            with app.app_context():
                start.wait()
                pins.check_pin(db.session.get(User, user_id), "999000", "device-one-0123456789")
                db.session.remove()
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(tries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


@pytest.mark.both_dbs
def test_concurrent_wrong_pins_are_all_counted_and_block_exactly_once(app, store, make_user):
    alex = _ready(make_user, store)
    hammer_pins(app, alex.id, 12)
    db.session.expire_all()
    assert db.session.get(UserPin, alex.id).failures == 5
    blocked = events("auth.pin_blocked")
    assert len(blocked) == 1 and blocked[0].details["consecutive_failures"] == 5
    failed = events("auth.pin_failed")
    wrong = [e.details["consecutive_failures"] for e in failed if e.details["reason"] == "bad_pin"]
    assert sorted(wrong) == [1, 2, 3, 4]
    assert sum(e.details["reason"] == "blocked" for e in failed) == 7
    from portal.audit.verify import verify_chains

    assert all(report.ok for report in verify_chains())


# --- the screens ----------------------------------------------------------------------------------------------------


def test_two_associates_take_turns_on_one_ipad(app, ipad):
    alex, sam = user("alex"), user("sam")
    response = lock(ipad)
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked")
    html = names(ipad)
    assert "Alex" in html and "Sam" in html and f"/auth/locked/{alex.id}" in html
    before = csrf_token(ipad, f"/auth/locked/{alex.id}")
    response = unlock(ipad, alex)
    assert response.status_code == 302
    assert "Hello, Alex" in ipad.get("/").get_data(as_text=True)
    assert csrf_token(ipad, "/") != before  # a new session: a new CSRF token
    switched = events("auth.user_switched")
    assert len(switched) == 1
    assert switched[0].actor_name == "alex" and switched[0].store_id == alex.store_id
    assert switched[0].details["from"] == "sam" and switched[0].details["to"] == "alex"
    assert switched[0].details["from_user_id"] == sam.id and len(switched[0].details["device"]) == 12
    lock(ipad)
    unlock(ipad, sam, SAM_PIN)
    assert "Hello, Sam" in ipad.get("/").get_data(as_text=True)
    assert [e.details["from"] for e in events("auth.user_switched")] == ["sam", "alex"]
    assert [e.actor_name for e in events("auth.device_locked")] == ["alex", "sam", "alex"]
    assert {e.details["reason"] for e in events("auth.device_locked")} == {"button"}


def test_a_locked_ipad_reaches_nothing_but_the_names_pin_pad_and_sign_in(app, ipad):
    lock(ipad)
    alex = user("alex")
    for path in ("/", "/sales/new", "/sales/", "/auth/password", "/auth/pin", f"/admin/people/{alex.id}", "/audit/"):
        response = ipad.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked"), path
    token = csrf_token(ipad, f"/auth/locked/{alex.id}")
    for path in ("/auth/lock", "/auth/pin", "/auth/activity", "/sales/new"):
        response = ipad.post(path, data={"csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked"), path
    assert ipad.get("/auth/locked").status_code == 200
    assert ipad.get(f"/auth/locked/{alex.id}").status_code == 200
    assert ipad.get("/auth/sign-in").status_code == 200
    with ipad.get("/static/css/app.css") as static:
        assert static.status_code == 200
    assert ipad.get("/healthz").status_code == 200


def test_someone_else_signs_in_with_a_password_from_the_locked_screen(app, ipad, store, make_user):
    make_user("joe", "associate", store)
    lock(ipad)
    assert 'id="someone-else"' in names(ipad)
    assert 'id="quick-switch"' in ipad.get("/auth/sign-in").get_data(as_text=True)
    response = Auth(ipad).sign_in("joe")
    assert response.status_code == 302
    assert "Hello, Joe" in ipad.get("/").get_data(as_text=True)  # the lock is gone with the old session


def test_an_idle_session_locks_on_its_next_request_without_the_script(app, ipad):
    with ipad.session_transaction() as session:
        session["seen_at"] = time.time() - 121
    response = ipad.get("/sales/?q=4111111111111111")
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked")
    locked = events("auth.device_locked")[-1]
    assert locked.actor_name == "sam" and locked.details["reason"] == "idle"
    response = unlock(ipad, user("sam"), SAM_PIN)
    assert response.status_code == 302 and response.headers["Location"].endswith("/sales/")  # back where Sam was
    assert "4111" not in str(response.headers)  # the query (what was typed into a search) is not kept


def test_an_idle_session_without_a_pin_is_not_locked(app, store, make_user):
    make_user("alex", "associate", store)
    client = app.test_client()
    Auth(client).sign_in("alex")
    with client.session_transaction() as session:
        session["seen_at"] = time.time() - 300
    assert client.get("/").status_code == 200  # the 15-minute idle limit applies instead
    assert events("auth.device_locked") == []
    assert b"data-lock-after" not in client.get("/").data


@pytest.mark.parametrize("app_overrides", [{"LOCK_IDLE_SECONDS": 600}])
def test_the_idle_lock_is_configurable_and_told_to_the_page(app, ipad):
    html = ipad.get("/").get_data(as_text=True)
    assert 'data-lock-after="600"' in html and "js/lock.js" in html
    with ipad.session_transaction() as session:
        session["seen_at"] = time.time() - 300
    assert ipad.get("/").status_code == 200


def test_a_reported_tap_keeps_the_session_from_idling(app, ipad):
    with ipad.session_transaction() as session:
        session["seen_at"] = time.time() - 100
    token = csrf_token(ipad, "/")
    assert ipad.post("/auth/activity", headers={"X-CSRFToken": token}).status_code == 204
    with ipad.session_transaction() as session:
        assert time.time() - session["seen_at"] < 10
    assert ipad.post("/auth/activity").status_code == 400  # no token
    assert len(events("auth.device_locked")) == 1  # Alex's, in the fixture


def test_the_resume_place_is_each_persons_own(app, ipad, fake):
    from tests.test_sales_views import start_sale

    sale_id = start_sale(ipad)  # Sam's sale
    lock(ipad, next_=f"/sales/{sale_id}/options")
    unlock(ipad, user("alex"))
    assert ipad.get("/").status_code == 200  # Alex lands on the home screen, not on Sam's sale
    lock(ipad, next_="https://evil.example/")
    response = unlock(ipad, user("sam"), SAM_PIN)
    assert response.headers["Location"].endswith(f"/sales/{sale_id}/options")
    response = lock(ipad)
    response = unlock(ipad, user("alex"))
    assert response.headers["Location"].endswith("/")  # the foreign address was not kept


def test_the_resume_place_survives_someone_elses_password_sign_in(app, ipad, store, make_user):
    make_user("joe", "associate", store)
    lock(ipad, next_="/sales/")
    Auth(ipad).sign_in("joe")
    lock(ipad)
    response = unlock(ipad, user("sam"), SAM_PIN)
    assert response.headers["Location"].endswith("/sales/")


def test_wrong_pins_on_the_pad_then_the_password(app, ipad):
    alex = user("alex")
    lock(ipad)
    for left in (4, 3, 2, 1):
        response = unlock(ipad, alex, "999000")
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert f"That PIN is not right. {left} more tr" in html and 'id="pin-error"' in html
    response = unlock(ipad, alex, "999000")
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/sign-in")
    assert "Too many wrong PINs" in ipad.get("/auth/sign-in").get_data(as_text=True)
    assert f"/auth/locked/{alex.id}" not in names(ipad)
    assert ipad.get(f"/auth/locked/{alex.id}").status_code == 302  # the pad sends Alex to the password
    response = unlock(ipad, alex, PIN)
    assert response.status_code == 302 and "/auth/locked/" not in response.headers["Location"]
    assert events("auth.user_switched") == []
    Auth(ipad).sign_in("alex")
    lock(ipad)
    assert unlock(ipad, alex).status_code == 302
    assert len(events("auth.user_switched")) == 1


def test_a_malformed_pin_stays_beside_the_field_and_is_not_counted(app, ipad):
    alex = user("alex")
    lock(ipad)
    response = unlock(ipad, alex, "12ab")
    assert response.status_code == 422 and "A PIN is 6 digits." in response.get_data(as_text=True)
    assert db.session.get(UserPin, alex.id).failures == 0


def test_the_unlock_form_needs_its_csrf_token(app, ipad):
    alex = user("alex")
    lock(ipad)
    assert ipad.post(f"/auth/locked/{alex.id}", data={"pin": PIN}).status_code == 400
    assert events("auth.user_switched") == []


def test_another_ipad_cannot_use_the_pin(app, ipad, store, make_user):
    alex = user("alex")
    other = app.test_client()
    assert other.get(f"/auth/locked/{alex.id}").status_code == 404  # no device: no store, no names
    make_user("meg", "manager", store)
    Auth(other).sign_in("meg")  # the other iPad now belongs to the store
    lock(other)
    assert "Alex" not in names(other)
    assert other.get(f"/auth/locked/{alex.id}").status_code == 302
    response = unlock(other, alex)
    assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked")
    refused = events("auth.pin_failed")[-1]
    assert refused.details["reason"] == "not_on_this_device" and refused.details["from"] == "meg"
    assert events("auth.user_switched") == []


def test_a_forged_or_foreign_device_cookie_is_ignored(app, ipad):
    alex = user("alex")
    other = app.test_client()
    other.set_cookie("portal_device", device_of(ipad))  # the id without our signature
    assert "Alex" not in names(other)
    assert other.get(f"/auth/locked/{alex.id}").status_code == 404


def test_another_stores_person_has_no_pin_pad_here(app, ipad, other_store, make_user):
    syd = make_user("syd", "associate", other_store)
    lock(ipad)
    assert ipad.get(f"/auth/locked/{syd.id}").status_code == 404
    assert ipad.get("/auth/locked/2147483647").status_code == 404


def test_the_lock_button_keeps_the_page_but_never_its_query(app, ipad):
    html = ipad.get("/sales/?q=4111111111111111").get_data(as_text=True)
    assert 'name="next" value="/sales/"' in html and "4111111111111111" not in html


@pytest.mark.parametrize("secure", [True, False])
def test_the_device_cookie_is_long_lived_signed_and_http_only(app, store, make_user, secure):
    app.config["SESSION_COOKIE_SECURE"] = secure
    make_user("alex", "associate", store)
    client = app.test_client()
    token = csrf_token(client)
    response = client.post("/auth/sign-in", data={"username": "alex", "password": PASSWORD, "csrf_token": token})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("portal_device="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Max-Age=31536000" in cookie and "Path=/" in cookie
    assert ("Secure" in cookie) is secure


def test_the_same_browser_keeps_its_device_id_across_sign_ins(app, ipad):
    device = device_of(ipad)
    lock(ipad)
    Auth(ipad).sign_in("alex")
    assert device_of(ipad) == device
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeviceSignIn)) == 2


def test_a_switched_session_lives_from_the_password_sign_in(app, ipad):
    alex = user("alex")
    here = db.session.get(DeviceSignIn, (device_of(ipad), alex.id))
    lock(ipad)
    unlock(ipad, alex)
    with ipad.session_transaction() as session:
        assert session["auth_at"] == pytest.approx(here.signed_in_at.timestamp())
        assert session["via"] == "pin"


def test_sign_out_takes_the_person_off_the_names(app, ipad):
    Auth(ipad).sign_out()  # Sam
    html = names(ipad)
    assert "Alex" in html and "Sam" not in html


# --- setting and removing PINs -----------------------------------------------------------------------------------


def test_set_pin_refuses_trivial_and_mismatched_pins_beside_the_field(app, store, make_user):
    make_user("alex", "associate", store)
    client = app.test_client()
    Auth(client).sign_in("alex")
    response = set_pin(client, "123456")
    assert response.status_code == 422 and "too easy to guess" in response.get_data(as_text=True)
    response = set_pin(client, PIN, SAM_PIN)
    assert response.status_code == 422 and "The two do not match." in response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert 'inputmode="numeric"' in html and 'autocomplete="off"' in html and PIN not in html
    assert events("auth.pin_set") == []
    assert set_pin(client).status_code == 302
    assert len(events("auth.pin_set")) == 1


def test_a_pin_session_may_not_set_a_pin(app, ipad):
    lock(ipad)
    unlock(ipad, user("alex"))
    html = ipad.get("/auth/pin").get_data(as_text=True)
    assert 'id="pin-needs-password"' in html and 'id="save-pin"' not in html
    assert set_pin(ipad, "730194").status_code == 403
    assert len(events("auth.pin_set")) == 2  # the two from the fixture


def test_removing_ones_own_pin(app, ipad):
    token = csrf_token(ipad, "/auth/pin")
    assert ipad.post("/auth/pin/clear", data={"csrf_token": token}).status_code == 302
    assert ipad.post("/auth/pin/clear", data={"csrf_token": token}).status_code == 302  # nothing left: no event
    cleared = events("auth.pin_cleared")
    assert len(cleared) == 1 and cleared[0].actor_name == "sam" and cleared[0].details["by"] == "self"
    lock(ipad)
    assert "Sam" not in names(ipad)


def test_a_manager_removes_an_associates_pin(app, ipad, store, make_user):
    make_user("meg", "manager", store)
    alex = user("alex")
    manager = app.test_client()
    Auth(manager).sign_in("meg")
    page = f"/admin/people/{alex.id}"
    assert 'id="clear-pin"' in manager.get(page).get_data(as_text=True)
    token = csrf_token(manager, page)
    assert manager.post(f"{page}/pin/clear", data={"csrf_token": token}).status_code == 302
    cleared = events("auth.pin_cleared")
    assert len(cleared) == 1 and cleared[0].actor_name == "meg" and cleared[0].object_id == str(alex.id)
    assert cleared[0].details == {"username": "alex", "by": "manager"}
    assert db.session.get(UserPin, alex.id) is None
    lock(ipad)
    assert "Alex" not in names(ipad)


# --- the sale belongs to whoever started it ----------------------------------------------------------------------


def test_a_sale_continued_after_a_switch_stays_its_starters(app, ipad, fake):
    from tests.test_sales_views import start_sale

    sale_id = start_sale(ipad)  # Sam starts it
    lock(ipad)
    unlock(ipad, user("alex"))
    html = ipad.get(f"/sales/{sale_id}/options").get_data(as_text=True)
    assert 'id="sale-owner"' in html and "Sam started this sale." in html
    shown = [e for e in events("sale.options_shown") if e.actor_name == "alex"]
    assert shown and shown[0].details["started_by"] == "sam"
    assert db.session.get(Sale, sale_id).associate.username == "sam"
    lock(ipad)
    unlock(ipad, user("sam"), SAM_PIN)
    assert 'id="sale-owner"' not in ipad.get(f"/sales/{sale_id}/options").get_data(as_text=True)


def test_the_customer_view_takes_the_pin_on_the_device_where_it_rides(app, store, make_user):
    alex = _ready(make_user, store)
    device = "device-one-0123456789"
    assert pins.verify_unlock(alex, PIN, device)
    assert pins.verify_unlock(alex, PASSWORD, device)
    assert not pins.verify_unlock(alex, PIN, "device-two-0123456789")  # not signed in there with a password
    assert not pins.verify_unlock(alex, PIN)  # no device cookie: no PIN
    assert not pins.verify_unlock(alex, "999000", device)
    refused = events("auth.pin_failed")
    assert refused and all(e.details["purpose"] == "customer_view" for e in refused)


def test_a_customer_reading_the_customer_view_is_not_sent_to_the_names_screen(app, ipad):
    locks = len(events("auth.device_locked"))
    with ipad.session_transaction() as session:
        session["seen_at"] = time.time() - 121
        session["customer_view"] = 1  # the customer view of a sale is on (portal.sales.customer_views.LOCK)
    response = ipad.get("/customer-view")
    assert "/auth/locked" not in response.headers.get("Location", "")
    assert len(events("auth.device_locked")) == locks
    assert "data-lock-after" not in ipad.get("/customer-view").get_data(as_text=True)


# --- the one screen gate (portal/auth/gate.py): its checks in order -------------------------------------------------


def test_a_locked_ipad_stays_on_its_names_even_with_a_customer_view_left_in_the_session(app, ipad):
    lock(ipad)
    with ipad.session_transaction() as session:
        session["customer_view"] = 1
    for path in ("/customer-view", "/"):
        response = ipad.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/auth/locked"), path


def test_a_customer_view_whose_session_ended_guards_nothing_more(app, ipad):
    with ipad.session_transaction() as session:
        session["customer_view"] = 1
    assert ipad.get("/").headers["Location"].endswith("/customer-view")  # while signed in: the customer view
    with ipad.session_transaction() as session:
        session.pop("_user_id")  # the session ended elsewhere (signed out, idle), its customer view left behind
    response = ipad.get("/auth/sign-in")
    assert response.status_code == 200
    with ipad.session_transaction() as session:
        assert "customer_view" not in session


def test_an_idle_person_on_a_temporary_password_chooses_one_and_is_not_locked(app, ipad):
    db.session.execute(sa.update(User).where(User.username == "sam").values(must_change_password=True))
    db.session.commit()
    locks = len(events("auth.device_locked"))
    for path, goes_to in (("/sales/", "/auth/password"), ("/auth/password", None)):
        with ipad.session_transaction() as session:
            session["seen_at"] = time.time() - 121
        response = ipad.get(path)
        if goes_to:
            assert response.status_code == 302 and response.headers["Location"].endswith(goes_to), path
        else:  # a PIN cannot bring back a person on a temporary password: the longer idle timeout applies instead
            assert response.status_code == 200, path
    assert len(events("auth.device_locked")) == locks
