"""Sign-in rules: authentication, lockout and session validity."""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, MutableMapping, Optional

import sqlalchemy as sa
from flask import current_app

from ..audit import record
from ..extensions import db
from ..models import User, utcnow
from ..vocab import AuditAction, AuditResult
from .passwords import hash_password, needs_rehash, verify_password

# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH: dict[tuple[int, int], str] = {}


@dataclass(frozen=True)
class SignInResult:
    """The outcome of a sign-in attempt."""

    user: Optional[User]
    ok: bool
    locked: bool = False


def _dummy_hash() -> str:
    """Return a hash with the current cost settings, made once per setting."""
    key = (current_app.config["ARGON2_TIME_COST"], current_app.config["ARGON2_MEMORY_KIB"])
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("not-a-real-password")
    return _DUMMY_HASH[key]


def _name_tag(username: str) -> str:
    """A keyed digest of an unknown username, to group attempts without storing what was typed."""
    # People type their password into the username box; the audit log can never be purged of it.
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, username.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def find_user(username: str) -> Optional[User]:
    """Look a user up by username, ignoring case and surrounding spaces."""
    name = username.strip().lower()
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == name))


def authenticate(username: str, password: str) -> SignInResult:
    """Check credentials, apply the lockout rule, record the attempt and commit."""
    user = find_user(username)
    now = utcnow()
    if user is None:
        verify_password(_dummy_hash(), password)
        record(AuditAction.SIGN_IN_FAILED, result=AuditResult.FAILURE,
               details={"username_hmac": _name_tag(username), "reason": "unknown"})
        db.session.commit()
        return SignInResult(None, False)

    password_ok = verify_password(user.password_hash, password)
    locked = user.locked_until is not None and user.locked_until > now
    if password_ok and user.active and not locked:
        user.failed_sign_ins = 0
        user.locked_until = None
        user.last_sign_in_at = now
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record(AuditAction.SIGN_IN, actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        return SignInResult(user, True)

    reason = "locked" if locked else ("disabled" if not user.active else "bad_password")
    if not locked and not password_ok:
        user.failed_sign_ins += 1
    details: dict[str, Any] = {"reason": reason, "consecutive_failures": user.failed_sign_ins}
    action = AuditAction.SIGN_IN_FAILED
    if not locked and user.failed_sign_ins >= current_app.config["LOCKOUT_THRESHOLD"]:
        # The attempt that trips the lock is one action, so it is one event: auth.locked.
        user.locked_until = now + timedelta(minutes=current_app.config["LOCKOUT_MINUTES"])
        user.failed_sign_ins = 0
        action = AuditAction.LOCKED
        details["locked_until"] = user.locked_until.isoformat()
    record(action, actor=user, object_type="user", object_id=user.id, result=AuditResult.FAILURE, details=details)
    db.session.commit()
    return SignInResult(user, False, locked=locked)


def end_sessions(user: User) -> None:
    """Invalidate every session the user holds, everywhere (caller commits)."""
    user.sessions_valid_after = utcnow()


def sign_out(user: User) -> None:
    """End the user's sessions and record it."""
    end_sessions(user)
    record(AuditAction.SIGN_OUT, actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def start_session(session: MutableMapping[str, Any]) -> None:
    """Stamp a fresh session with its start and last-activity times."""
    now = time.time()
    session["auth_at"] = now
    session["seen_at"] = now


def session_is_valid(user: User, session: MutableMapping[str, Any]) -> bool:
    """Tell whether a session cookie may still act for the user, refreshing its activity time."""
    auth_at = session.get("auth_at")
    seen_at = session.get("seen_at")
    if not isinstance(auth_at, (int, float)) or not isinstance(seen_at, (int, float)):
        return False
    now = time.time()
    if not user.active:
        return False
    if auth_at < user.sessions_valid_after.timestamp():
        return False
    if now - seen_at > current_app.config["IDLE_TIMEOUT_MINUTES"] * 60:
        return False
    if now - auth_at > current_app.config["ABSOLUTE_SESSION_HOURS"] * 3600:
        return False
    session["seen_at"] = now
    return True
