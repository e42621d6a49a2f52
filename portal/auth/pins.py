"""Quick switch on a shared iPad (docs/quick-switch.md): PINs, devices, locking, and unlocking a locked screen."""

from __future__ import annotations

import hashlib
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
from ..i18n import N_, Message, gettext
from ..models import DeviceSignIn, Store, User, UserPin, utcnow
from ..vocab import AuditAction, AuditResult, Role
from .passwords import hash_password, verify_password
from .service import may_sign_in

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
    "bad_pin": N_("That PIN is not right."),
    "blocked": N_("Too many wrong PINs: sign in with your password. Your PIN works again after that."),
    "no_pin": N_("No PIN is set for this person: sign in with the password."),
    "not_on_this_device": N_(
        "A PIN works only on an iPad you signed in on with your password in the last %(hours)s hours: "
        "sign in with your password."
    ),
    "cannot_sign_in": N_("This account cannot sign in now. Ask your manager."),
    "temporary_password": N_("Sign in with your password to choose your own password first."),
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
        return Message(N_("A PIN is exactly %(length)s digits."), length=PIN_LENGTH)
    digits = [int(c) for c in pin]
    steps = {(b - a) % 10 for a, b in zip(digits, digits[1:], strict=False)}
    # 000000, 123456, 654321, 890123; 121212, 123123; 111222, 110011 (two digits only); the common list.
    if (len(steps) == 1 and steps <= {0, 1, 9}) or pin[:2] * 3 == pin or pin[:3] * 2 == pin or len(set(pin)) <= 2:
        return N_("That PIN is too easy to guess: avoid repeated digits, runs and patterns.")
    if pin in COMMON_PINS:
        return N_("That PIN is too easy to guess: avoid repeated digits, runs and patterns.")
    return None


def pin_message(reason: str) -> str:
    """The words for a refused PIN, in the reader's language (shown on the unlock screen as it is answered)."""
    return gettext(PIN_MESSAGES.get(reason, PIN_MESSAGES["bad_pin"]), hours=current_app.config["QUICK_SWITCH_HOURS"])


def may_have_pin(user: User) -> bool:
    """Tell whether a person may use quick switch: store people (head office works at a desk, not a shared iPad)."""
    return user.store_id is not None and user.role in (Role.ASSOCIATE, Role.MANAGER)


def pin_of(user: User) -> UserPin | None:
    """The person's PIN row: the one loaded with them when it was (load_user), else read now."""
    if "pin" not in sa.inspect(user).unloaded:
        return user.pin
    return db.session.get(UserPin, user.id)


def has_pin(user: User) -> bool:
    """Tell whether a person has a PIN (blocked or not)."""
    return pin_of(user) is not None


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
        raise PinRefused(N_("Quick switch is for store staff."))
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
    pin = pin_of(user)
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
