"""Store and user rules shared by the CLI and the admin screens: one place decides what a valid store or person is."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from .audit import record
from .audit.service import ensure_chain
from .auth.passwords import hash_password, password_problem
from .extensions import db
from .i18n import N_, Message
from .intl import countries, currencies, languages, primary_language
from .models import Store, User
from .vocab import AuditAction, Role

_LANGUAGE = re.compile(r"^[a-z]{2}(-[a-z]{2})?$")
_CODE = re.compile(r"^[A-Z0-9-]{2,16}$")
_USERNAME = re.compile(r"^[a-z0-9._-]{3,64}$")
# What a store's settings are, in the order they are checked (and shown).
STORE_FIELDS = ("name", "country", "currency", "language", "timezone", "phone_country")
# What a manager may change of their own store; head office may change all of STORE_FIELDS.
MANAGER_STORE_FIELDS = ("name", "timezone", "language", "phone_country")
# Audit details name the phone country otherwise: a value under a phone-like key is masked as a phone number.
AUDIT_NAMES = {"phone_country": "dialling_country"}


class InvalidInput(ValueError):
    """What a person supplied is not acceptable: the messages say why, keyed by the field they belong to."""

    def __init__(self, message: str | None = None, field: str = "", *, errors: Mapping[str, list[str]] | None = None):
        self.errors: dict[str, list[str]] = dict(errors or {})
        if message:
            self.errors.setdefault(field, []).append(message)
        super().__init__(" ".join(m for messages in self.errors.values() for m in messages))


def _clean(field: str, value: str) -> str:
    """Return a store setting as it is stored: codes in their usual case, names trimmed."""
    value = (value or "").strip()
    if field in ("country", "currency", "phone_country"):
        return value.upper()
    if field == "language":
        return value.lower()
    return value


def _store_problem(field: str, value: str) -> str | None:
    """Return why a (clean) store setting is not acceptable, or None."""
    if field == "name":
        return None if value else N_("Store name is required.")
    if field in ("country", "phone_country") and value not in countries():
        return Message(N_("Unknown country code %(code)s: use ISO 3166-1 alpha-2, e.g. GB."), code=repr(value))
    if field == "currency" and value not in currencies():
        return Message(N_("Unknown currency code %(code)s: use ISO 4217, e.g. GBP."), code=repr(value))
    if field == "language" and (not _LANGUAGE.match(value) or primary_language(value) not in languages()):
        return Message(N_("Bad language %(code)s: use ISO 639-1, e.g. en or en-gb."), code=repr(value))
    if field == "timezone":
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            return Message(N_("Unknown time zone %(zone)s: use an IANA name, e.g. Europe/London."), zone=repr(value))
    return None


def _checked(values: Mapping[str, str]) -> dict[str, str]:
    """Clean and check store settings; raise InvalidInput naming every field that is wrong."""
    clean = {field: _clean(field, values[field]) for field in STORE_FIELDS if field in values}
    errors = {field: [problem] for field, value in clean.items() if (problem := _store_problem(field, value))}
    if errors:
        raise InvalidInput(errors=errors)
    return clean


def create_store(
    code: str,
    name: str,
    country: str,
    currency: str,
    language: str,
    timezone: str,
    actor: User | None = None,
    phone_country: str | None = None,
) -> Store:
    """Validate and add a store with its audit chain (caller commits)."""
    code = code.strip().upper()
    errors: dict[str, list[str]] = {}
    if not _CODE.match(code):
        errors["code"] = [N_("Store code must be 2 to 16 letters, digits or dashes.")]
    elif db.session.scalar(sa.select(Store.id).where(Store.code == code)) is not None:
        errors["code"] = [Message(N_("A store with code %(code)s already exists."), code=code)]
    values = {"name": name, "country": country, "currency": currency, "language": language, "timezone": timezone}
    if phone_country:
        values["phone_country"] = phone_country
    try:
        clean = _checked(values)
    except InvalidInput as exc:
        raise InvalidInput(errors={**errors, **exc.errors}) from None
    if errors:
        raise InvalidInput(errors=errors)
    clean.setdefault("phone_country", clean["country"])
    store = Store(code=code, **clean)
    db.session.add(store)
    db.session.flush()
    ensure_chain(store.id)
    record(
        AuditAction.STORE_CREATED,
        actor=actor,
        store_id=None,
        object_type="store",
        object_id=store.code,
        details={AUDIT_NAMES.get(field, field): clean[field] for field in STORE_FIELDS},
    )
    return store


def update_store(store: Store, actor: User, values: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Change a store's settings (a manager: MANAGER_STORE_FIELDS only); record and return what changed."""
    allowed = STORE_FIELDS if actor.role == Role.ADMIN else MANAGER_STORE_FIELDS
    refused = sorted(set(values) - set(allowed))
    if refused:
        raise PermissionError(f"{actor.role} may not change {', '.join(refused)}")
    clean = _checked(values)
    changes = {
        field: {"before": getattr(store, field), "after": value}
        for field, value in clean.items()
        if getattr(store, field) != value
    }
    if not changes:
        return {}
    for field, change in changes.items():
        setattr(store, field, change["after"])
    record(
        AuditAction.STORE_UPDATED,
        actor=actor,
        store_id=store.id,
        object_type="store",
        object_id=store.code,
        details={"changes": {AUDIT_NAMES.get(field, field): change for field, change in changes.items()}},
    )
    return changes


def set_store_active(store: Store, actor: User, active: bool) -> bool:
    """Open or close a store to its people's sign-ins (open sessions end at their next tap); False if already so."""
    changed = db.session.execute(
        sa.update(Store).where(Store.id == store.id, Store.active.is_(not active)).values(active=active)
    ).rowcount
    if not changed:
        return False
    db.session.refresh(store)
    record(
        AuditAction.STORE_REACTIVATED if active else AuditAction.STORE_DEACTIVATED,
        actor=actor,
        store_id=store.id,
        object_type="store",
        object_id=store.code,
        details={"changes": {"active": {"before": not active, "after": active}}},
    )
    return True


def create_user(
    username: str,
    display_name: str,
    role: str,
    password: str,
    store_code: str | None,
    actor: User | None = None,
    temporary: bool = False,
) -> User:
    """Validate and add a user; a temporary password must be replaced at the first sign-in (caller commits)."""
    username = username.strip().lower()
    errors: dict[str, list[str]] = {}
    if not _USERNAME.match(username):
        errors["username"] = [N_("Username must be 3 to 64 lower-case letters, digits, dots, dashes or underscores.")]
    elif db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username)) is not None:
        errors["username"] = [Message(N_("The username %(username)s is taken."), username=username)]
    if Role.get(role) is None:
        errors["role"] = [Message(N_("Role must be one of %(roles)s."), roles=", ".join(Role))]
    if not display_name.strip():
        errors["display_name"] = [N_("Name is required.")]
    store: Store | None = None
    if role == Role.ADMIN:
        if store_code:
            errors["store"] = [N_("Admins belong to head office, not a store: leave the store out.")]
    elif not store_code:
        errors["store"] = [N_("Store staff must belong to a store: give its code.")]
    else:
        store = db.session.scalar(sa.select(Store).where(Store.code == store_code.strip().upper()))
        if store is None:
            errors["store"] = [Message(N_("No store with code %(code)s."), code=repr(store_code))]
    problem = password_problem(password, username)
    if problem:
        errors["password"] = [Message(N_("Weak password: %(problem)s"), problem=Message(problem))]
    if errors:
        raise InvalidInput(errors=errors)
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        password_hash=hash_password(password),
        store=store,
        must_change_password=temporary,
    )
    db.session.add(user)
    db.session.flush()
    details: dict[str, Any] = {"username": username, "role": role, "display_name": user.display_name}
    if temporary:
        details["must_choose_own"] = True
    record(
        AuditAction.USER_CREATED,
        actor=actor,
        store_id=store.id if store else None,
        object_type="user",
        object_id=user.id,
        details=details,
    )
    return user
