"""Sign-in, lockout, sessions and role checks."""

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Blueprint

from portal.auth import service
from portal.extensions import db
from portal.models import AuditEvent, SignInAddress, User, utcnow
from portal.security import role_required


def actions():
    return [e.action for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]


@pytest.mark.both_dbs
def test_sign_in_and_reach_home(client, auth, store, make_user):
    make_user("ann", "associate", store)
    response = auth.sign_in("ann")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "New sale" in page and "Ann" in page
    assert actions()[-1] == "auth.sign_in"


def test_username_is_case_insensitive(client, auth, store, make_user):
    make_user("ann", "associate", store)
    assert auth.sign_in("  ANN ").status_code == 302


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]


def test_unknown_user_and_wrong_password_look_the_same(client, auth, store, make_user):
    make_user("ann", "associate", store)
    unknown = auth.sign_in("nobody", "whatever-password").get_data(as_text=True)
    wrong = auth.sign_in("ann", "wrong-password-here").get_data(as_text=True)

    def strip(html: str) -> str:
        return html.split('name="csrf_token"')[0] + html.split("</form>")[1]

    assert "did not match" in unknown and "did not match" in wrong
    assert strip(unknown).replace("nobody", "X") == strip(wrong).replace("ann", "X")
    assert actions()[-2:] == ["auth.sign_in_failed", "auth.sign_in_failed"]


def test_a_password_typed_as_the_username_never_reaches_the_audit_log(client, auth, store, make_user):
    make_user("ann", "associate", store)
    auth.sign_in("Secret-Typed-Here-1", "x")
    auth.sign_in(" secret-typed-here-1", "y")
    auth.sign_in("someone-else", "z")
    details = db.session.scalars(
        sa.select(AuditEvent.details).where(AuditEvent.action == "auth.sign_in_failed").order_by(AuditEvent.id)
    ).all()
    assert "secret-typed-here" not in str(details).lower()
    tags = [d["username_hmac"] for d in details]
    assert tags[0] == tags[1] != tags[2]  # repeated attempts at one name can still be told apart and grouped


def test_password_is_never_echoed_back(client, auth, store, make_user):
    make_user("ann", "associate", store)
    html = auth.sign_in("ann", "wrong-password-xyz").get_data(as_text=True)
    assert "wrong-password-xyz" not in html
    assert 'value="ann"' in html  # the username the associate typed is kept


def test_lockout_after_ten_failures(client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    for _ in range(10):
        auth.sign_in("ann", "wrong-password-here")
    here = db.session.get(SignInAddress, (user.id, "127.0.0.1"))
    assert here.locked_until is not None and here.locked_until > utcnow() + timedelta(minutes=4)
    assert auth.sign_in("ann").status_code == 200  # right password, still locked
    trail = actions()
    assert trail.count("auth.locked") == 1 and trail.count("auth.sign_in_failed") == 9 + 1  # one event per attempt
    locked = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed").order_by(AuditEvent.id.desc())
    ).first()
    assert locked.details["reason"] == "locked"


def test_lock_expires(client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    db.session.add(
        SignInAddress(user_id=user.id, client="127.0.0.1", failures=0, locked_until=utcnow() - timedelta(seconds=1))
    )
    user.locked_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert auth.sign_in("ann").status_code == 302


def test_lockout_counter_is_in_the_database(app, store, make_user):
    """A second app (another worker) sees the same counter."""
    from portal import create_app

    make_user("ann", "associate", store)
    with app.test_request_context():
        for _ in range(4):
            service.authenticate("ann", "nope-nope-nope", "192.0.2.1")
    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "TESTING": True,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 1024,
        }
    )
    with other.app_context():
        assert db.session.scalar(sa.select(User.failed_sign_ins).where(User.username == "ann")) == 4
        assert db.session.scalar(sa.select(SignInAddress.failures)) == 4
        db.session.remove()


def test_success_resets_the_counter(client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    for _ in range(3):
        auth.sign_in("ann", "wrong-password-here")
    auth.sign_in("ann")
    db.session.refresh(user)
    assert user.failed_sign_ins == 0


def test_disabled_user_cannot_sign_in(client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    user.active = False
    db.session.commit()
    assert auth.sign_in("ann").status_code == 200


@pytest.mark.parametrize(
    "target,expected",
    [
        ("/healthz", "/healthz"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/sales/%0D%0ASet-Cookie:x", "/"),  # header splitting: was a 500
        ("/sales/%E2%80%A8", "/"),
        ("/sales/%00", None),  # a NUL anywhere in the query string is refused outright (portal/security.py)
        ("/sales/?q=caf%C3%A9", "/sales/?q=caf%C3%A9"),
    ],
)
def test_only_local_next_redirects(client, auth, store, make_user, target, expected):
    make_user("ann", "associate", store)
    response = auth.sign_in("ann", next_=target)
    if expected is None:
        assert response.status_code == 400 and "Location" not in response.headers
    else:
        assert response.headers["Location"] == expected


def test_session_cookie_flags(client, auth, store, make_user):
    make_user("ann", "associate", store)
    response = auth.sign_in("ann")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_cookie_captured_before_sign_out_is_refused(app, client, auth, store, make_user):
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    captured = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    auth.sign_out()
    assert "auth.sign_out" in actions()
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], captured)
    assert thief.get("/").status_code == 302


def test_cookie_refused_after_disable(app, client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    auth.sign_in("ann")
    user.active = False
    db.session.commit()
    assert client.get("/").status_code == 302


def test_cookie_refused_after_password_change(app, client, auth, store, make_user):
    user = make_user("ann", "associate", store)
    auth.sign_in("ann")
    time.sleep(0.01)
    service.end_sessions(user)  # what every password change does
    db.session.commit()
    assert client.get("/").status_code == 302


def test_sign_in_again_after_sign_out(client, auth, store, make_user):
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    auth.sign_out()
    assert auth.sign_in("ann").status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("setting,elapsed", [("IDLE_TIMEOUT_MINUTES", 16 * 60), ("ABSOLUTE_SESSION_HOURS", 13 * 3600)])
def test_session_timeouts(client, auth, store, make_user, monkeypatch, setting, elapsed):
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    assert client.get("/").status_code == 200
    real = time.time
    if setting == "ABSOLUTE_SESSION_HOURS":
        # Stay active every 10 minutes for 13 hours: only the absolute limit can end it.
        for step in range(1, elapsed // 600 + 1):
            monkeypatch.setattr(time, "time", lambda s=step: real() + s * 600)
            status = client.get("/").status_code
            if status != 200:
                break
        assert status == 302
    else:
        monkeypatch.setattr(time, "time", lambda: real() + elapsed)
        assert client.get("/").status_code == 302


def test_activity_keeps_the_session_alive(client, auth, store, make_user, monkeypatch):
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    real = time.time
    for minutes in (10, 20, 30):
        monkeypatch.setattr(time, "time", lambda m=minutes: real() + m * 60)
        assert client.get("/").status_code == 200


@pytest.fixture
def guarded(app):
    bp = Blueprint("guarded", __name__)

    @bp.route("/managers-only")
    @role_required("manager", "admin")
    def managers_only():
        return "secret"

    app.register_blueprint(bp)
    return app


@pytest.mark.parametrize("role,expected", [("associate", 403), ("manager", 200), ("admin", 200)])
def test_role_required(guarded, client, auth, store, make_user, role, expected):
    make_user("pat", role, store if role != "admin" else None)
    auth.sign_in("pat")
    assert client.get("/managers-only").status_code == expected


def test_role_required_sends_anonymous_to_sign_in(guarded, client):
    response = client.get("/managers-only")
    assert response.status_code == 302 and "/auth/sign-in" in response.headers["Location"]


def test_home_per_role(client, auth, store, make_user):
    make_user("boss", "manager", store)
    auth.sign_in("boss")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/audit/"' in html and "Audit log" in html  # the manager's areas
    assert 'id="new-sale"' not in html  # the big associate button is not theirs
