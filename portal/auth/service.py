"""Sign-in rules: authentication, lockout and session validity."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from ..audit import record
from ..extensions import db
from ..models import SignInAddress, User, utcnow
from ..vocab import AuditAction, AuditResult
from .passwords import hash_password, needs_rehash, verify_password

# An address's failures at an account are forgotten this long after the last one, once the account signs in.
FORGET_FAILURES_AFTER = timedelta(days=1)
# Verified against when the username is unknown, so both failures take the same time.
_DUMMY_HASH: dict[tuple[int, int], str] = {}


@dataclass(frozen=True)
class SignInResult:
    """The outcome of a sign-in attempt."""

    user: User | None
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


def find_user(username: str) -> User | None:
    """Look a user up by username, ignoring case and surrounding spaces."""
    name = username.strip().lower()
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == name))


def authenticate(username: str, password: str, client: str) -> SignInResult:
    """Check credentials from a client address, apply the lockout rules, record the attempt and commit."""
    user = find_user(username)
    now = utcnow()
    if user is None:
        verify_password(_dummy_hash(), password)
        record(
            AuditAction.SIGN_IN_FAILED,
            result=AuditResult.FAILURE,
            details={"username_hmac": _name_tag(username), "reason": "unknown"},
        )
        db.session.commit()
        return SignInResult(None, False)

    here = db.session.get(SignInAddress, (user.id, client))
    # Checked even when locked, so a lock cannot be told from a wrong password by the time it takes.
    password_ok = verify_password(user.password_hash, password)
    locked = _locked_out(user, here, now)
    if password_ok and user.active and not locked:
        _signed_in_from(user.id, client, now)
        user.failed_sign_ins = 0
        user.last_sign_in_at = now
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        record(AuditAction.SIGN_IN, actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        return SignInResult(user, True)

    reason = "locked" if locked else ("disabled" if not user.active else "bad_password")
    details: dict[str, Any] = {"reason": reason}
    action = AuditAction.SIGN_IN_FAILED
    if not locked and not password_ok:
        failures = _count_failure(user.id, client, now)
        if failures is None:  # a concurrent attempt locked this address out first
            details["reason"] = reason = "locked"
            locked = True
        else:
            details["consecutive_failures"] = failures
            locks = _lock_if_due(user.id, client, failures, now)
            if locks:
                # The attempt that trips a lock is one action, so it is one event: auth.locked.
                action = AuditAction.LOCKED
                details["scope"] = sorted(locks)
                details["locked_until"] = max(locks.values()).isoformat()
    record(action, actor=user, object_type="user", object_id=user.id, result=AuditResult.FAILURE, details=details)
    db.session.commit()
    return SignInResult(user, False, locked=locked)


def _known_since(now: datetime) -> datetime:
    """Return the time after which a successful sign-in still makes its address familiar to the account."""
    return now - timedelta(days=current_app.config["KNOWN_ADDRESS_DAYS"])


def is_familiar(username: str, client: str) -> bool:
    """Tell whether the account signed in from this address lately (such sign-ins get a kept password check)."""
    return (
        db.session.scalar(
            sa.select(SignInAddress.user_id)
            .join(User, User.id == SignInAddress.user_id)
            .where(
                sa.func.lower(User.username) == username.strip().lower(),
                SignInAddress.client == client,
                SignInAddress.last_success_at > _known_since(utcnow()),
            )
        )
        is not None
    )


def _locked_out(user: User, here: SignInAddress | None, now: datetime) -> bool:
    """Tell whether this address may not sign in to the account now."""
    if here is not None and here.locked_until is not None and here.locked_until > now:
        return True
    if user.locked_until is None or user.locked_until <= now:
        return False
    # The account-wide lock keeps out only addresses the account has not signed in from lately.
    return here is None or here.last_success_at is None or here.last_success_at <= _known_since(now)


def _upsert(values: dict[str, Any], changes: dict[str, Any], where: Any = None) -> Any:
    """Insert an account-and-address row, or change the existing one, in one statement."""
    table = SignInAddress.__table__
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    return statement.on_conflict_do_update(index_elements=[table.c.user_id, table.c.client], set_=changes, where=where)


def _count_failure(user_id: int, client: str, now: datetime) -> int | None:
    """Count one failure for the account from the address, atomically; None when the address is locked."""
    table = SignInAddress.__table__
    not_locked = sa.or_(table.c.locked_until.is_(None), table.c.locked_until <= now)
    statement = _upsert(
        {"user_id": user_id, "client": client, "failures": 1, "last_failure_at": now},
        {"failures": table.c.failures + 1, "last_failure_at": now},
        not_locked,
    )
    failures = db.session.execute(statement.returning(table.c.failures)).scalar()
    if failures is None:
        return None
    # The account-wide count, also in one statement: UPDATE ... SET n = n + 1 never loses a concurrent failure.
    users = User.__table__
    not_closed = sa.or_(users.c.locked_until.is_(None), users.c.locked_until <= now)
    db.session.execute(
        sa.update(users).where(users.c.id == user_id, not_closed).values(failed_sign_ins=users.c.failed_sign_ins + 1)
    )
    return failures


def _lock_if_due(user_id: int, client: str, failures: int, now: datetime) -> dict[str, datetime]:
    """Lock the address out of the account, or the account to unfamiliar addresses, when a count is due."""
    config = current_app.config
    locks = {}
    if failures >= config["LOCKOUT_THRESHOLD"]:
        table = SignInAddress.__table__
        until = now + timedelta(minutes=config["LOCKOUT_MINUTES"])
        # Compare-and-set: of several attempts past the threshold at once, exactly one locks (and says so).
        if (
            db.session.execute(
                sa.update(table)
                .where(
                    table.c.user_id == user_id,
                    table.c.client == client,
                    table.c.failures >= config["LOCKOUT_THRESHOLD"],
                )
                .values(failures=0, locked_until=until)
                .returning(table.c.user_id)
            ).first()
            is not None
        ):
            locks["address"] = until
    users = User.__table__
    until = now + timedelta(minutes=config["ACCOUNT_LOCKOUT_MINUTES"])
    if (
        db.session.execute(
            sa.update(users)
            .where(users.c.id == user_id, users.c.failed_sign_ins >= config["ACCOUNT_LOCKOUT_THRESHOLD"])
            .values(failed_sign_ins=0, locked_until=until)
            .returning(users.c.id)
        ).first()
        is not None
    ):
        locks["account"] = until
    return locks


def _signed_in_from(user_id: int, client: str, now: datetime) -> None:
    """Remember that the account signed in from the address, and forget stale addresses of the account."""
    table = SignInAddress.__table__
    fresh = {"failures": 0, "locked_until": None, "last_success_at": now}
    db.session.execute(_upsert({"user_id": user_id, "client": client, **fresh}, fresh))
    stale = (
        sa.select(table.c.client)
        .where(
            table.c.user_id == user_id,
            table.c.client != client,
            sa.or_(table.c.last_success_at.is_(None), table.c.last_success_at <= _known_since(now)),
            sa.or_(table.c.locked_until.is_(None), table.c.locked_until <= now),
            sa.or_(table.c.last_failure_at.is_(None), table.c.last_failure_at <= now - FORGET_FAILURES_AFTER),
        )
        .with_for_update(skip_locked=True)
    )  # rows another sign-in is counting are left for next time: no deadlock
    db.session.execute(sa.delete(table).where(table.c.user_id == user_id, table.c.client.in_(stale)))


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
    """Tell whether a session cookie may still act for the user, noting its activity time when it is a step old."""
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
    # Noted at most once a step, so most taps send no new cookie; the idle limit is measured from the note,
    # so a session can end up to one step early, never late.
    if now - seen_at >= current_app.config["SESSION_ACTIVITY_STEP_SECONDS"]:
        session["seen_at"] = now
    return True
