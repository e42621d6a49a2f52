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
from ..i18n import N_, Message
from ..models import SignInAddress, User, utcnow
from ..vocab import AuditAction, AuditResult
from .passwords import hash_password, needs_rehash, password_problem, verify_password

# An address's failures at an account are forgotten this long after the last one, once the account signs in.
FORGET_FAILURES_AFTER = timedelta(days=1)
# What a password is checked for: signing in, or one approval on another person's session.
SIGN_IN = "sign_in"
APPROVAL = "approval"
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


def failed_message() -> str:
    """The one answer to every failed sign-in or approval, naming the lockout the settings give."""
    tries, minutes = current_app.config["LOCKOUT_THRESHOLD"], current_app.config["LOCKOUT_MINUTES"]
    if minutes == 1:
        return Message(
            N_("Those details did not match. After %(tries)s failed tries an account is locked for 1 minute."),
            tries=tries,
        )
    return Message(
        N_("Those details did not match. After %(tries)s failed tries an account is locked for %(minutes)s minutes."),
        tries=tries,
        minutes=minutes,
    )


def find_user(username: str) -> User | None:
    """Look a user up by username, ignoring case and surrounding spaces."""
    name = username.strip().lower()
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == name))


def authenticate(username: str, password: str, client: str, purpose: str = SIGN_IN) -> SignInResult:
    """Check credentials from a client address, apply the lockout rules, record the attempt and commit.

    With purpose APPROVAL (a manager's password typed on someone else's iPad for one approval) the same
    rules apply and a failure counts and is recorded like a failed sign-in; a success starts no session,
    so it is recorded by the approval it allows rather than as a sign-in.
    """
    user = find_user(username)
    now = utcnow()
    tag = {} if purpose == SIGN_IN else {"purpose": purpose}
    if user is None:
        verify_password(_dummy_hash(), password)
        record(
            AuditAction.SIGN_IN_FAILED,
            result=AuditResult.FAILURE,
            details={"username_hmac": _name_tag(username), "reason": "unknown", **tag},
        )
        db.session.commit()
        return SignInResult(None, False)

    here = db.session.get(SignInAddress, (user.id, client))
    # Checked even when locked, so a lock cannot be told from a wrong password by the time it takes.
    password_ok = verify_password(user.password_hash, password)
    locked = _locked_out(user, here, now)
    if password_ok and may_sign_in(user) and not locked:
        _signed_in_from(user.id, client, now)
        user.failed_sign_ins = 0
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        if purpose == SIGN_IN:
            user.last_sign_in_at = now
            record(AuditAction.SIGN_IN, actor=user, object_type="user", object_id=user.id)
        db.session.commit()
        return SignInResult(user, True)

    reason = "locked" if locked else ("disabled" if not user.active else _closed_store(user) or "bad_password")
    details: dict[str, Any] = {"reason": reason, **tag}
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


def may_sign_in(user: User) -> bool:
    """Tell whether the person's account, and their store (head office has none), are open."""
    return user.active and (user.store is None or user.store.active)


def _closed_store(user: User) -> str | None:
    """Return the refusal reason when the person's store is closed (deactivated), else None."""
    return "store_inactive" if user.store is not None and not user.store.active else None


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


class PasswordRefused(Exception):
    """A password change that did not happen: messages by field, and whether this session was ended with it."""

    def __init__(self, errors: dict[str, list[str]], signed_out: bool = False) -> None:
        super().__init__(" ".join(m for messages in errors.values() for m in messages))
        self.errors = errors
        self.signed_out = signed_out


def change_password(user: User, current: str, new: str, client: str) -> None:
    """Change one's own password after checking the current one; every session ends (the caller restarts its own).

    A wrong current password counts as a failed sign-in from that address: enough of them lock the address out
    of the account, which ends the session that tried, so a borrowed iPad cannot guess its way to a new password.
    """
    problem = password_problem(new, user.username)
    if problem is None and new == current:
        problem = N_("Choose a password different from the current one.")
    if problem:
        raise PasswordRefused({"new_password": [problem]})
    now = utcnow()
    here = db.session.get(SignInAddress, (user.id, client))
    password_ok = verify_password(user.password_hash, current)
    refused = _locked_out(user, here, now) or not password_ok
    if refused:
        details, signed_out = _refused_change(user, client, now, password_ok)
    else:
        details, signed_out = {"was_temporary": user.must_change_password}, False
        user.password_hash = hash_password(new)
        user.must_change_password = False
    if signed_out or not refused:
        end_sessions(user)
    result = AuditResult.FAILURE if refused else AuditResult.SUCCESS
    record(
        AuditAction.PASSWORD_CHANGED, actor=user, object_type="user", object_id=user.id, result=result, details=details
    )
    db.session.commit()
    if refused:
        message = (
            N_("Too many wrong passwords: sign in again.") if password_ok else N_("That is not your current password.")
        )
        raise PasswordRefused({"current_password": [message]}, signed_out)


def _refused_change(user: User, client: str, now: datetime, password_ok: bool) -> tuple[dict[str, Any], bool]:
    """Count a wrong current password as a failed sign-in from the address; say whether the session must end."""
    if password_ok:  # the address is locked out of the account, so it cannot change the password either
        return {"reason": "locked"}, True
    details: dict[str, Any] = {"reason": "bad_password"}
    failures = _count_failure(user.id, client, now)
    locks = {"address": now} if failures is None else _lock_if_due(user.id, client, failures, now)
    if failures is not None:
        details["consecutive_failures"] = failures
    if locks:
        details["locked"] = sorted(locks)
    return details, bool(locks)


def lock_state(user_ids: list[int]) -> dict[int, datetime]:
    """Return, for each of these people who is locked out anywhere now, when the last of their locks ends."""
    if not user_ids:
        return {}
    now = utcnow()
    found: dict[int, datetime] = {}
    for user_id, until in db.session.execute(
        sa.select(User.id, User.locked_until).where(User.id.in_(user_ids), User.locked_until > now)
    ):
        found[user_id] = until
    table = SignInAddress.__table__
    for user_id, until in db.session.execute(
        sa.select(table.c.user_id, sa.func.max(table.c.locked_until))
        .where(table.c.user_id.in_(user_ids), table.c.locked_until > now)
        .group_by(table.c.user_id)
    ):
        found[user_id] = max(found.get(user_id, until), until)
    return found


def clear_locks(user: User) -> dict[str, Any]:
    """Lift the account-wide lock and every address's lock on the account; return what was locked (caller commits)."""
    now = utcnow()
    table = SignInAddress.__table__
    addresses = db.session.execute(
        sa.update(table)
        .where(table.c.user_id == user.id, table.c.locked_until > now)
        .values(failures=0, locked_until=None)
    ).rowcount
    db.session.execute(sa.update(table).where(table.c.user_id == user.id).values(failures=0))
    account = user.locked_until is not None and user.locked_until > now
    user.locked_until = None
    user.failed_sign_ins = 0
    return {"account_locked": account, "addresses_locked": addresses}


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
    if not may_sign_in(user):
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
