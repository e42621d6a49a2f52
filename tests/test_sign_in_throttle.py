"""Sign-in under attack: atomic failure counts, locks an outsider cannot impose, throttling per address."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from portal.auth import service, throttle
from portal.extensions import db
from portal.models import AuditEvent, SignInAddress, User, utcnow

from .conftest import PASSWORD, csrf_token

OUTSIDER = "203.0.113.66"
COUNTER = "198.51.100.7"  # the store's own address


def sign_in_from(client: FlaskClient, address: str, username: str, password: str = PASSWORD) -> Any:
    """Post the sign-in form as a browser at the given address."""
    token = csrf_token(client)
    return client.post(
        "/auth/sign-in",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def hammer(app: Any, username: str, addresses: list[str]) -> None:
    """Send one wrong password per address, all at once, each from its own thread (a worker's request)."""
    start = threading.Barrier(len(addresses))
    errors: list[BaseException] = []

    def attempt(address: str) -> None:
        try:
            with app.app_context():
                start.wait()
                service.authenticate(username, "wrong-password-here", address)
                db.session.remove()
        except BaseException as exc:  # handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in addresses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    db.session.expire_all()


@pytest.mark.both_dbs
def test_parallel_failures_from_many_addresses_are_all_counted(app, store, make_user):
    user = make_user("ann", "associate", store)
    hammer(app, "ann", [f"192.0.2.{i}" for i in range(1, 30)])
    assert db.session.get(User, user.id).failed_sign_ins == 29
    assert len(events("auth.sign_in_failed")) == 29


@pytest.mark.both_dbs
def test_parallel_failures_from_one_address_lock_it_exactly_once(app, store, make_user):
    user = make_user("ann", "associate", store)
    hammer(app, "ann", [OUTSIDER] * 29)
    here = db.session.get(SignInAddress, (user.id, OUTSIDER))
    assert here.locked_until is not None and here.locked_until > utcnow() + timedelta(minutes=4)
    locked = events("auth.locked")
    assert len(locked) == 1 and locked[0].details["scope"] == ["address"]
    assert locked[0].details["consecutive_failures"] == 10
    failed = events("auth.sign_in_failed")
    assert len(failed) == 28
    assert sum(e.details["reason"] == "locked" for e in failed) == 19  # the 11th to 29th guesses were not judged
    assert db.session.get(User, user.id).failed_sign_ins == 10


def test_an_outsider_locks_only_their_own_address(app, store, make_user):
    """The attack that locked every demo account, admin included, now locks nobody out of their counter."""
    app.config["SIGN_IN_RATE_LIMIT"] = "1000 per minute"  # the lock alone, without the per-address throttle
    people = {"ann": store, "boss": store, "root": None}
    for name, home in people.items():
        make_user(name, "admin" if home is None else "associate", home)
    attacker = app.test_client()
    for name in people:
        for _ in range(11):
            assert sign_in_from(attacker, OUTSIDER, name, "guess-guess-guess").status_code == 200
    assert len(events("auth.locked")) == len(people)
    assert sign_in_from(attacker, OUTSIDER, "ann").status_code == 200  # the outsider's address is locked out
    for name in people:
        assert sign_in_from(app.test_client(), COUNTER, name).status_code == 302, name


def test_a_person_who_forgot_the_password_is_stopped_after_ten_tries(app, store, make_user):
    make_user("ann", "associate", store)
    counter = app.test_client()
    for _ in range(10):
        html = sign_in_from(counter, COUNTER, "ann", "was-it-this-one").get_data(as_text=True)
        assert "After 10 failed tries an account is locked for 5 minutes." in html
    assert sign_in_from(counter, COUNTER, "ann").status_code == 200  # the right one, too late
    assert [e.details["reason"] for e in events("auth.sign_in_failed")][-1] == "locked"


def test_guesses_from_many_addresses_close_the_account_to_unfamiliar_addresses_only(app, store, make_user):
    app.config.update(LOCKOUT_THRESHOLD=3, ACCOUNT_LOCKOUT_THRESHOLD=6)
    user = make_user("ann", "associate", store)
    counter = app.test_client()
    assert sign_in_from(counter, COUNTER, "ann").status_code == 302  # the store's address becomes familiar
    for i in range(6):
        sign_in_from(app.test_client(), f"192.0.2.{i + 1}", "ann", "guess-guess-guess")
    locked = events("auth.locked")
    assert len(locked) == 1 and locked[0].details["scope"] == ["account"]
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until > utcnow() + timedelta(minutes=59)
    # The right password from a new address stays out; the store's counter still signs in.
    assert sign_in_from(app.test_client(), "192.0.2.200", "ann").status_code == 200
    assert events("auth.sign_in_failed")[-1].details["reason"] == "locked"
    assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302


def test_an_address_stops_being_familiar_after_known_address_days(app, store, make_user):
    user = make_user("ann", "associate", store)
    long_ago = utcnow() - timedelta(days=app.config["KNOWN_ADDRESS_DAYS"] + 1)
    db.session.add(SignInAddress(user_id=user.id, client=COUNTER, failures=0, last_success_at=long_ago))
    user.locked_until = utcnow() + timedelta(minutes=30)
    db.session.commit()
    assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 200


def test_signing_in_forgets_stale_addresses_but_keeps_locks_and_recent_failures(app, store, make_user):
    user = make_user("ann", "associate", store)
    now, old = utcnow(), utcnow() - timedelta(days=2)
    db.session.add_all(
        [
            SignInAddress(user_id=user.id, client="192.0.2.1", failures=4, last_failure_at=old),
            SignInAddress(user_id=user.id, client="192.0.2.2", failures=4, last_failure_at=now),
            SignInAddress(
                user_id=user.id,
                client="192.0.2.3",
                failures=0,
                last_failure_at=old,
                locked_until=now + timedelta(minutes=3),
            ),
            SignInAddress(user_id=user.id, client="192.0.2.4", failures=0, last_success_at=now - timedelta(days=3)),
        ]
    )
    db.session.commit()
    assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302
    db.session.expire_all()
    kept = db.session.scalars(sa.select(SignInAddress.client).order_by(SignInAddress.client)).all()
    assert kept == ["192.0.2.2", "192.0.2.3", "192.0.2.4", COUNTER]


@pytest.mark.parametrize(
    "given,key",
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        (None, "unknown"),
        ("not-an-address", "unknown"),
    ],
)
def test_addresses_are_counted_by_what_one_machine_controls(given, key):
    assert throttle.address_key(given) == key


def test_an_address_that_keeps_failing_is_throttled_on_the_sign_in_page(app, store, make_user):
    app.config["SIGN_IN_RATE_LIMIT"] = "3 per minute"
    make_user("ann", "associate", store)
    attacker = app.test_client()
    for _ in range(3):
        assert sign_in_from(attacker, OUTSIDER, "ann", "guess-guess-guess").status_code == 200
    judged = len(events("auth.sign_in_failed"))
    response = sign_in_from(attacker, OUTSIDER, "ann")
    html = response.get_data(as_text=True)
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 61
    assert "Too many failed sign-ins from this network. Wait a minute, then try again." in html
    assert '<form method="post"' in html and 'value="ann"' in html  # the sign-in page, username kept
    assert len(events("auth.sign_in_failed")) == judged  # refused before any password check
    # Another address is not affected, and successful sign-ins never use up an address's allowance.
    for _ in range(4):
        assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302


def test_excess_sign_ins_get_a_quick_429_while_every_password_check_is_busy(app, store, make_user):
    app.config["SIGN_IN_WAIT_SECONDS"] = 0
    make_user("ann", "associate", store)
    general, _ = app.extensions["sign_in_slots"]
    for _ in range(app.config["SIGN_IN_CONCURRENCY"]):
        assert general.acquire(blocking=False)  # every check this worker may run is taken
    client = app.test_client()
    try:
        response = sign_in_from(client, COUNTER, "ann")
    finally:
        for _ in range(app.config["SIGN_IN_CONCURRENCY"]):
            general.release()
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert "The portal is busy signing people in. Try again in a moment." in response.get_data(as_text=True)
    assert events("auth.sign_in_failed") == [] and events("auth.sign_in") == []
    assert sign_in_from(client, COUNTER, "ann").status_code == 302  # a slot is free again


def test_sign_ins_from_a_familiar_address_keep_a_password_check_of_their_own(app, store, make_user):
    app.config["SIGN_IN_WAIT_SECONDS"] = 0
    make_user("ann", "associate", store)
    assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302  # the store's address is familiar
    general, kept = app.extensions["sign_in_slots"]
    for _ in range(app.config["SIGN_IN_CONCURRENCY"]):
        assert general.acquire(blocking=False)  # a flood from elsewhere holds every ordinary check
    try:
        assert sign_in_from(app.test_client(), OUTSIDER, "ann").status_code == 429
        assert sign_in_from(app.test_client(), COUNTER, "nobody").status_code == 429  # familiar to no account
        assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302
        assert kept.acquire(blocking=False)
        try:
            assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 429
        finally:
            kept.release()
    finally:
        for _ in range(app.config["SIGN_IN_CONCURRENCY"]):
            general.release()


def test_password_checks_run_at_a_lower_cpu_priority_than_pages(app):
    import os

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    assert throttle.run_check(niceness) == niceness() + throttle.CHECK_NICENESS


def test_sign_in_still_works_when_the_shared_throttle_storage_is_down(app, store, make_user, monkeypatch):
    make_user("ann", "associate", store)

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("redis is down")

    for method in ("get", "incr", "get_expiry"):
        monkeypatch.setattr(throttle.limiter.storage, method, unreachable)
    monkeypatch.setattr(throttle.limiter.storage, "check", lambda: False)
    assert sign_in_from(app.test_client(), COUNTER, "ann", "wrong-password-here").status_code == 200
    assert sign_in_from(app.test_client(), COUNTER, "ann").status_code == 302


def test_the_failure_message_names_the_lockout_the_settings_give(app, store, make_user):
    make_user("ann", "associate", store)
    app.config.update(LOCKOUT_THRESHOLD=6, LOCKOUT_MINUTES=1)
    html = sign_in_from(app.test_client(), COUNTER, "ann", "was-it-this-one").get_data(as_text=True)
    assert "After 6 failed tries an account is locked for 1 minute." in html
