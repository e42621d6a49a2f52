"""A store's people: where each account stands, and what a manager or head office may do to it.

Managers manage their own store's associates; head office manages the associates and managers of every store.
Nobody manages themselves here (their own password is changed on the Change password screen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..audit import record
from ..auth.passwords import generate_password, hash_password, password_problem
from ..auth.pins import remove_pin
from ..auth.service import clear_locks, end_sessions, lock_state
from ..extensions import db
from ..i18n import N_, Message
from ..models import Store, User, UserPin, utcnow
from ..stores import InvalidInput, create_user
from ..vocab import AuditAction, PersonState, Role


@dataclass(frozen=True)
class Person:
    """A person as the People screen shows them: their account, its state and, if locked, until when."""

    user: User
    state: PersonState
    locked_until: datetime | None


def _state(user: User, locked_until: datetime | None) -> PersonState:
    """Say where an account stands, the state that keeps them out first."""
    if not user.active:
        return PersonState.DISABLED
    if locked_until is not None:
        return PersonState.LOCKED
    if user.must_change_password:
        return PersonState.TEMPORARY
    return PersonState.ACTIVE


def people_of(store: Store) -> list[Person]:
    """Return a store's managers, then its associates, by name."""
    users = list(
        db.session.scalars(
            sa.select(User)
            .where(User.store_id == store.id)
            .order_by(sa.case((User.role == Role.MANAGER.value, 0), else_=1), User.display_name, User.username)
        )
    )
    locks = lock_state([u.id for u in users])
    return [Person(u, _state(u, locks.get(u.id)), locks.get(u.id)) for u in users]


def person(user: User) -> Person:
    """Return one person with their account's state."""
    locked_until = lock_state([user.id]).get(user.id)
    return Person(user, _state(user, locked_until), locked_until)


def roles_to_add(actor: User) -> list[Role]:
    """Return the roles a person may give someone they add: a manager adds associates, head office managers too."""
    if actor.role == Role.ADMIN:
        return [Role.ASSOCIATE, Role.MANAGER]
    return [Role.ASSOCIATE] if actor.role == Role.MANAGER else []


def may_manage(actor: User, user: User) -> bool:
    """Tell whether the actor may disable, unlock, reset or sign out this person."""
    if user.id == actor.id or user.role == Role.ADMIN:
        return False
    if actor.role == Role.ADMIN:
        return True
    return actor.role == Role.MANAGER and user.role == Role.ASSOCIATE and user.store_id == actor.store_id


def _require(actor: User, user: User) -> None:
    """Refuse an action the actor may not take on this person."""
    if not may_manage(actor, user):
        raise PermissionError(f"{actor.username} may not manage {user.username}")


def _record(action: AuditAction, actor: User, user: User, **details: Any) -> None:
    """Record an action on a person in their store's chain."""
    record(
        action,
        actor=actor,
        store_id=user.store_id,
        object_type="user",
        object_id=user.id,
        details={"username": user.username, **details},
    )


def add_person(
    actor: User, store: Store, username: str, display_name: str, role: str, password: str = ""
) -> tuple[User, str | None]:
    """Add someone to a store with a temporary password (the one given, or one made up); return it if made up."""
    if Role.get(role) not in roles_to_add(actor):
        raise InvalidInput(N_("Choose a role you can give."), "role")
    made_up = None if password else generate_password(username.strip().lower())
    user = create_user(username, display_name, role, password or made_up or "", store.code, actor=actor, temporary=True)
    db.session.commit()
    return user, made_up


def _set_active(actor: User, user: User, active: bool) -> bool:
    """Disable (ending every session) or re-enable a person; False when they already were (commits)."""
    _require(actor, user)
    values: dict[str, Any] = {"active": active}
    if not active:
        values["sessions_valid_after"] = utcnow()
    changed = db.session.execute(
        sa.update(User).where(User.id == user.id, User.active.is_(not active)).values(**values)
    ).rowcount
    if changed:
        db.session.refresh(user)
        _record(
            AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED,
            actor,
            user,
            changes={"active": {"before": not active, "after": active}},
        )
    db.session.commit()
    return bool(changed)


def disable(actor: User, user: User) -> bool:
    """Take a person off the iPads: they cannot sign in, and any open session ends at its next tap."""
    return _set_active(actor, user, False)


def enable(actor: User, user: User) -> bool:
    """Let a disabled person sign in again."""
    return _set_active(actor, user, True)


def unlock(actor: User, user: User) -> bool:
    """Lift the account's lock and every address's lock on it; False when nothing was locked (commits)."""
    _require(actor, user)
    was = clear_locks(user)
    locked = was["account_locked"] or was["addresses_locked"] > 0
    if locked:
        after = {"account_locked": False, "addresses_locked": 0}
        _record(AuditAction.USER_UNLOCKED, actor, user, before=was, after=after)
    db.session.commit()
    return locked


def reset_password(actor: User, user: User, password: str = "") -> str | None:
    """Give a person a temporary password (the one given, or one made up and returned), end their sessions and
    lift their locks; they choose their own at the next sign-in (commits)."""
    _require(actor, user)
    problem = password_problem(password, user.username) if password else None
    if problem:
        raise InvalidInput(Message(N_("Weak password: %(problem)s"), problem=Message(problem)), "password")
    made_up = None if password else generate_password(user.username)
    user.password_hash = hash_password(password or made_up or "")
    user.must_change_password = True
    end_sessions(user)
    was = clear_locks(user)
    _record(
        AuditAction.USER_PASSWORD_RESET,
        actor,
        user,
        made_up=made_up is not None,
        unlocked=was["account_locked"] or was["addresses_locked"] > 0,
    )
    db.session.commit()
    return made_up


def sign_out_everywhere(actor: User, user: User) -> None:
    """End every session a person holds: each iPad they are signed in on asks for their password again (commits)."""
    _require(actor, user)
    end_sessions(user)
    _record(AuditAction.USER_SIGNED_OUT, actor, user)
    db.session.commit()


def clear_pin(actor: User, user: User) -> bool:
    """Remove a person's quick-switch PIN (forgotten, or told to someone); False when they had none (commits)."""
    _require(actor, user)
    removed = remove_pin(user)
    if removed:
        _record(AuditAction.PIN_CLEARED, actor, user, by="manager")
    db.session.commit()
    return removed


def pin_state(user: User) -> str:
    """Say where a person's PIN stands: "none", "set" or "blocked" (too many wrong PINs)."""
    pin = db.session.get(UserPin, user.id)
    if pin is None:
        return "none"
    return "blocked" if pin.failures >= current_app.config["PIN_MAX_FAILURES"] else "set"
