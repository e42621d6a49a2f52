"""Store and user administration rules shared by the CLI and (later) the admin screens."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from .audit import record
from .audit.service import ensure_chain
from .auth.passwords import hash_password, password_problem
from .extensions import db
from .intl import countries, currencies, languages, primary_language
from .models import Store, User
from .vocab import AuditAction, Role

_LANGUAGE = re.compile(r"^[a-z]{2}(-[a-z]{2})?$")
_CODE = re.compile(r"^[A-Z0-9-]{2,16}$")
_USERNAME = re.compile(r"^[a-z0-9._-]{3,64}$")


class InvalidInput(ValueError):
    """A value a person supplied is not acceptable; the message says why."""


def create_store(
    code: str, name: str, country: str, currency: str, language: str, timezone: str, actor: User | None = None
) -> Store:
    """Validate and add a store with its audit chain (caller commits)."""
    code, country, currency, language = (
        code.strip().upper(),
        country.strip().upper(),
        currency.strip().upper(),
        language.strip().lower(),
    )
    if not _CODE.match(code):
        raise InvalidInput("Store code must be 2 to 16 letters, digits or dashes.")
    if not name.strip():
        raise InvalidInput("Store name is required.")
    if country not in countries():
        raise InvalidInput(f"Unknown country code {country!r}: use ISO 3166-1 alpha-2, e.g. GB.")
    if currency not in currencies():
        raise InvalidInput(f"Unknown currency code {currency!r}: use ISO 4217, e.g. GBP.")
    if not _LANGUAGE.match(language) or primary_language(language) not in languages():
        raise InvalidInput(f"Bad language {language!r}: use ISO 639-1, e.g. en or en-gb.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {timezone!r}: use an IANA name, e.g. Europe/London.") from None
    if db.session.scalar(sa.select(Store.id).where(Store.code == code)) is not None:
        raise InvalidInput(f"A store with code {code} already exists.")
    store = Store(
        code=code, name=name.strip(), country=country, currency=currency, language=language, timezone=timezone
    )
    db.session.add(store)
    db.session.flush()
    ensure_chain(store.id)
    record(
        AuditAction.STORE_CREATED,
        actor=actor,
        store_id=None,
        object_type="store",
        object_id=store.code,
        details={
            "name": store.name,
            "country": country,
            "currency": currency,
            "language": language,
            "timezone": timezone,
        },
    )
    return store


def create_user(
    username: str, display_name: str, role: str, password: str, store_code: str | None, actor: User | None = None
) -> User:
    """Validate and add a user (caller commits)."""
    username = username.strip().lower()
    if not _USERNAME.match(username):
        raise InvalidInput("Username must be 3 to 64 lower-case letters, digits, dots, dashes or underscores.")
    if Role.get(role) is None:
        raise InvalidInput(f"Role must be one of {', '.join(Role)}.")
    if not display_name.strip():
        raise InvalidInput("Name is required.")
    store: Store | None = None
    if role == Role.ADMIN:
        if store_code:
            raise InvalidInput("Admins belong to head office, not a store: leave the store out.")
    else:
        if not store_code:
            raise InvalidInput(f"A {role} must belong to a store: give its code.")
        store = db.session.scalar(sa.select(Store).where(Store.code == store_code.strip().upper()))
        if store is None:
            raise InvalidInput(f"No store with code {store_code!r}.")
    problem = password_problem(password, username)
    if problem:
        raise InvalidInput(f"Weak password: {problem}")
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username)) is not None:
        raise InvalidInput(f"The username {username} is taken.")
    user = User(
        username=username,
        display_name=display_name.strip(),
        role=role,
        password_hash=hash_password(password),
        store=store,
    )
    db.session.add(user)
    db.session.flush()
    record(
        AuditAction.USER_CREATED,
        actor=actor,
        store_id=store.id if store else None,
        object_type="user",
        object_id=user.id,
        details={"username": username, "role": role, "display_name": user.display_name},
    )
    return user
