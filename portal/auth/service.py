"""Sign-in rules: authentication, lockout and session validity."""

from __future__ import annotations

import hashlib
import hmac
import re
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
from ..models import DeviceSignIn, SignInAddress, Store, User, UserPin, utcnow
from ..vocab import AuditAction, AuditResult, Role
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
    return (
        f"Those details did not match. After {tries} failed tries an account is locked for "
        f"{minutes} minute{'' if minutes == 1 else 's'}."
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
        problem = "Choose a password different from the current one."
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
        message = "Too many wrong passwords: sign in again." if password_ok else "That is not your current password."
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


def verify_unlock(user: User, secret: str, device_id: str | None = None) -> bool:
    """Tell whether a secret unlocks a screen the user locked (the customer view): their password, or their PIN.

    Six digits are a PIN (a password is at least MIN_LENGTH characters), checked under every quick-switch rule on
    this device; a wrong PIN counts towards blocking it, as on the names screen.
    """
    if not secret or not may_sign_in(user):
        return False
    if len(secret) == PIN_LENGTH and secret.isascii() and secret.isdigit():
        return check_pin(user, secret, device_id, purpose=CUSTOMER_VIEW).ok
    return verify_password(user.password_hash, secret)


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


# --- Quick switch on a shared iPad (docs/quick-switch.md) -----------------------------------------------------------

# What a PIN is checked for: switching person on a locked iPad (others, such as unlocking a customer view, name theirs).
SWITCH = "switch"
# A PIN checked to hand the portal back from the customer view (recorded as the purpose of a refusal).
CUSTOMER_VIEW = "customer_view"
PIN_LENGTH = 6
# PINs people reach for first that no digit rule below catches (keypad patterns, mirrored runs).
COMMON_PINS = frozenset(
    {
        "112233",
        "123321",
        "147258",
        "147852",
        "159357",
        "159753",
        "258369",
        "258456",
        "369258",
        "456123",
        "741852",
        "753159",
        "789456",
        "852456",
        "951357",
        "963852",
        "102030",
        "121314",
        "135790",
        "246810",
    }
)
PIN_MESSAGES = {
    "bad_pin": "That PIN is not right.",
    "blocked": "Too many wrong PINs: sign in with your password. Your PIN works again after that.",
    "no_pin": "No PIN is set for this person: sign in with the password.",
    "not_on_this_device": "A PIN works only on an iPad you signed in on with your password in the last {hours} hours: "
    "sign in with your password.",
    "cannot_sign_in": "This account cannot sign in now. Ask your manager.",
    "temporary_password": "Sign in with your password to choose your own password first.",
}


class PinRefused(Exception):
    """A PIN that may not be set, with the reason for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PinCheck:
    """The outcome of a PIN check: the person, whether it passed, and if not why (a PIN_MESSAGES key)."""

    user: User | None
    ok: bool
    reason: str = ""
    failures_left: int | None = None
    # The password sign-in on this device that the PIN rides on (a switched session's lifetime counts from it).
    signed_in_at: datetime | None = None


def pin_problem(pin: str) -> str | None:
    """Return why a PIN may not be used: not six digits, or too easy to guess (None when it is acceptable)."""
    if not re.fullmatch(r"[0-9]{6}", pin, re.ASCII):
        return f"A PIN is exactly {PIN_LENGTH} digits."
    digits = [int(c) for c in pin]
    steps = {(b - a) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    # 000000, 123456, 654321, 890123; 121212, 123123; 111222, 110011 (two digits only); the common list.
    if (len(steps) == 1 and steps <= {0, 1, 9}) or pin[:2] * 3 == pin or pin[:3] * 2 == pin or len(set(pin)) <= 2:
        return "That PIN is too easy to guess: avoid repeated digits, runs and patterns."
    if pin in COMMON_PINS:
        return "That PIN is too easy to guess: avoid repeated digits, runs and patterns."
    return None


def pin_message(reason: str) -> str:
    """The words for a refused PIN."""
    return PIN_MESSAGES.get(reason, PIN_MESSAGES["bad_pin"]).format(hours=current_app.config["QUICK_SWITCH_HOURS"])


def may_have_pin(user: User) -> bool:
    """Tell whether a person may use quick switch: store people (head office works at a desk, not a shared iPad)."""
    return user.store_id is not None and user.role in (Role.ASSOCIATE, Role.MANAGER)


def has_pin(user: User) -> bool:
    """Tell whether a person has a PIN (blocked or not)."""
    return db.session.get(UserPin, user.id) is not None


def device_tag(device_id: str | None) -> str | None:
    """A short digest of a device id for the audit log: switches on one iPad group together, the id stays unwritten."""
    return hashlib.sha256(device_id.encode()).hexdigest()[:12] if device_id else None


def _upsert_row(table: sa.Table, keys: list[sa.Column], values: dict[str, Any], changes: dict[str, Any]) -> Any:
    """Insert a row, or change the existing one with the same keys, in one statement."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(table).values(**values).on_conflict_do_update(index_elements=keys, set_=changes)


def set_pin(user: User, pin: str) -> None:
    """Set (or replace) one's own PIN, hashed like a password; wrong PINs counted so far are forgotten (commits)."""
    if not may_have_pin(user):
        raise PinRefused("Quick switch is for store staff.")
    problem = pin_problem(pin)
    if problem:
        raise PinRefused(problem)
    table = UserPin.__table__
    replaced = has_pin(user)
    fresh = {"pin_hash": hash_password(pin), "failures": 0, "set_at": utcnow()}
    db.session.execute(_upsert_row(table, [table.c.user_id], {"user_id": user.id, **fresh}, fresh))
    record(AuditAction.PIN_SET, actor=user, object_type="user", object_id=user.id, details={"replaced": replaced})
    db.session.commit()


def remove_pin(user: User) -> bool:
    """Delete a person's PIN; True when there was one (the caller records and commits)."""
    table = UserPin.__table__
    return bool(db.session.execute(sa.delete(table).where(table.c.user_id == user.id)).rowcount)


def clear_own_pin(user: User) -> bool:
    """Remove one's own PIN; False when there was none (commits)."""
    removed = remove_pin(user)
    if removed:
        details = {"username": user.username, "by": "self"}
        record(AuditAction.PIN_CLEARED, actor=user, object_type="user", object_id=user.id, details=details)
    db.session.commit()
    return removed


def _switch_since(now: datetime) -> datetime:
    """Return the time after which a password sign-in on a device still lets the person's PIN unlock it."""
    return now - timedelta(hours=current_app.config["QUICK_SWITCH_HOURS"])


def note_full_sign_in(user: User, device_id: str) -> None:
    """Remember a password sign-in (or password change) on a device, and lift a PIN block (commits)."""
    if not may_have_pin(user):
        return
    now = utcnow()
    table = DeviceSignIn.__table__
    db.session.execute(
        _upsert_row(
            table,
            [table.c.device_id, table.c.user_id],
            {"device_id": device_id, "user_id": user.id, "signed_in_at": now},
            {"signed_in_at": now},
        )
    )
    pins = UserPin.__table__
    db.session.execute(sa.update(pins).where(pins.c.user_id == user.id, pins.c.failures > 0).values(failures=0))
    # Other devices' sign-ins too old to unlock anything are forgotten.
    db.session.execute(
        sa.delete(table).where(
            table.c.user_id == user.id, table.c.device_id != device_id, table.c.signed_in_at <= _switch_since(now)
        )
    )
    db.session.commit()


def _eligible(device_id: str, now: datetime) -> list[Any]:
    """The conditions under which a person's PIN unlocks the device (over User, DeviceSignIn, UserPin and Store)."""
    return [
        DeviceSignIn.device_id == device_id,
        DeviceSignIn.signed_in_at > _switch_since(now),
        # Signing out, a password change or reset, "Sign out everywhere" and disabling all end the PIN's right too.
        DeviceSignIn.signed_in_at >= User.sessions_valid_after,
        UserPin.failures < current_app.config["PIN_MAX_FAILURES"],
        User.active.is_(True),
        User.must_change_password.is_(False),
        Store.active.is_(True),
        User.role.in_([Role.ASSOCIATE.value, Role.MANAGER.value]),
    ]


def _eligible_select(*columns: Any) -> Any:
    """SELECT columns FROM the people joined to their device sign-ins, PINs and stores."""
    return (
        sa.select(*columns)
        .join(DeviceSignIn, DeviceSignIn.user_id == User.id)
        .join(UserPin, UserPin.user_id == User.id)
        .join(Store, Store.id == User.store_id)
    )


def quick_switch_people(device_id: str | None, store_id: int | None) -> list[User]:
    """The names on a locked device: the store's people whose PIN unlocks it now, by name."""
    if not device_id or store_id is None:
        return []
    query = _eligible_select(User).where(User.store_id == store_id, *_eligible(device_id, utcnow()))
    return list(db.session.scalars(query.order_by(User.display_name, User.username)))


def device_store(device_id: str | None) -> int | None:
    """The store of the last person who signed in on the device with a password lately (None if nobody did)."""
    if not device_id:
        return None
    return db.session.scalar(
        sa.select(User.store_id)
        .join(DeviceSignIn, DeviceSignIn.user_id == User.id)
        .where(DeviceSignIn.device_id == device_id, DeviceSignIn.signed_in_at > _switch_since(utcnow()))
        .order_by(DeviceSignIn.signed_in_at.desc())
        .limit(1)
    )


def switch_target(user_id: int, store_id: int | None) -> User | None:
    """The person a name on the locked screen stands for: someone of that store, else None."""
    user = db.session.get(User, user_id)
    return user if user is not None and store_id is not None and user.store_id == store_id else None


def _pin_refusal(user: User, device_id: str | None, now: datetime) -> tuple[str, DeviceSignIn | None]:
    """Say why the person's PIN may not unlock this device now ("" when it may), with the sign-in it rides on."""
    if not may_have_pin(user) or not may_sign_in(user):
        return "cannot_sign_in", None
    if user.must_change_password:
        return "temporary_password", None
    pin = db.session.get(UserPin, user.id)
    if pin is None:
        return "no_pin", None
    if pin.failures >= current_app.config["PIN_MAX_FAILURES"]:
        return "blocked", None
    here = db.session.get(DeviceSignIn, (device_id, user.id)) if device_id else None
    if here is None or here.signed_in_at <= _switch_since(now) or here.signed_in_at < user.sessions_valid_after:
        return "not_on_this_device", None
    return "", here


def may_use_pin(user: User, device_id: str | None) -> bool:
    """Tell whether the person could unlock this device with their PIN now (so an idle lock loses them nothing)."""
    return _pin_refusal(user, device_id, utcnow())[0] == ""


def check_pin(
    user: User, pin: str, device_id: str | None, purpose: str = SWITCH, context: dict[str, Any] | None = None
) -> PinCheck:
    """Check a person's PIN on a device under every quick-switch rule; a refusal is counted, recorded and committed.

    The rules: the person has a PIN that is not blocked, their account and store are open, and they signed in with
    their password on this device within QUICK_SWITCH_HOURS and after their sessions were last ended. Wrong PINs
    are counted in one UPDATE each, so concurrent tries never lose a count; the one that reaches PIN_MAX_FAILURES
    blocks the PIN (auth.pin_blocked) until the next password sign-in. A success is not recorded here: the caller
    records what it allows (a switch, an unlock) and commits.
    """
    now = utcnow()
    details: dict[str, Any] = {"device": device_tag(device_id), **(context or {})}
    if purpose != SWITCH:
        details["purpose"] = purpose
    reason, here = _pin_refusal(user, device_id, now)
    stored = db.session.get(UserPin, user.id)
    matched = stored is not None and verify_password(stored.pin_hash, pin)
    pins = UserPin.__table__
    limit = current_app.config["PIN_MAX_FAILURES"]
    if not reason and matched:
        # Only while not blocked: a concurrent wrong PIN may just have reached the limit.
        reset = db.session.execute(
            sa.update(pins).where(pins.c.user_id == user.id, pins.c.failures < limit).values(failures=0)
        ).rowcount
        if reset and here is not None:
            return PinCheck(user, True, signed_in_at=here.signed_in_at)
        reason = "blocked"
    action = AuditAction.PIN_FAILED
    failures_left = None
    if not reason:
        failures = db.session.execute(
            sa.update(pins)
            .where(pins.c.user_id == user.id, pins.c.failures < limit)
            .values(failures=pins.c.failures + 1)
            .returning(pins.c.failures)
        ).scalar()
        if failures is None:  # a concurrent try blocked it first
            reason = "blocked"
        else:
            details["consecutive_failures"] = failures
            failures_left = limit - failures
            reason = "bad_pin" if failures_left else "blocked"
            if not failures_left:
                action = AuditAction.PIN_BLOCKED
    details["reason"] = reason
    record(action, actor=user, object_type="user", object_id=user.id, result=AuditResult.FAILURE, details=details)
    db.session.commit()
    return PinCheck(user, False, reason, failures_left)


def switch_with_pin(user: User, pin: str, device_id: str | None, from_user_id: int | None) -> PinCheck:
    """Switch a locked device to this person with their PIN; the switch is recorded with who it was before (commits)."""
    before = db.session.get(User, from_user_id) if from_user_id else None
    context = {"from": before.username if before is not None else None, "to": user.username}
    check = check_pin(user, pin, device_id, SWITCH, context)
    if check.ok:
        details = {**context, "from_user_id": before.id if before else None, "device": device_tag(device_id)}
        record(AuditAction.USER_SWITCHED, actor=user, object_type="user", object_id=user.id, details=details)
        db.session.commit()
    return check


def lock_device(user: User, device_id: str | None, reason: str) -> None:
    """Record that the person's session on a device was locked (by the Lock button, or idle) (commits)."""
    details = {"reason": reason, "device": device_tag(device_id)}
    record(AuditAction.DEVICE_LOCKED, actor=user, object_type="user", object_id=user.id, details=details)
    db.session.commit()


def idle_too_long(seen_at: Any) -> bool:
    """Tell whether a session's last noted activity (its seen_at) is older than LOCK_IDLE_SECONDS."""
    return isinstance(seen_at, (int, float)) and time.time() - seen_at > current_app.config["LOCK_IDLE_SECONDS"]


def note_activity(session: MutableMapping[str, Any]) -> None:
    """Note a tap the page reported (typing sends no request, yet keeps the iPad from locking)."""
    session["seen_at"] = time.time()


def start_switched_session(session: MutableMapping[str, Any], signed_in_at: datetime) -> None:
    """Stamp a session opened with a PIN: its lifetime counts from the password sign-in the PIN rode on."""
    session["auth_at"] = signed_in_at.timestamp()
    session["seen_at"] = time.time()
    session["via"] = "pin"


def full_sign_in_session(session: MutableMapping[str, Any]) -> bool:
    """Tell whether a session was opened with a password (a PIN session may not set a PIN)."""
    return session.get("via") != "pin"
