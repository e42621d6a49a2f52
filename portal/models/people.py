"""Stores and the people who work in them: accounts, sign-in addresses, quick-switch PINs and devices."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from ..vocab import (
    RichStrEnum,
    Role,
)
from .types import UTCDateTime, Vocabulary, member_of, utcnow


class Store(db.Model):
    """A shop: its locale settings decide defaults at the counter."""

    __tablename__ = "store"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    country: Mapped[str] = mapped_column(sa.String(2))
    currency: Mapped[str] = mapped_column(sa.String(3))
    language: Mapped[str] = mapped_column(sa.String(8))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    # The country a customer's phone number typed without + is read as (the store's country unless changed).
    phone_country: Mapped[str] = mapped_column(sa.String(2))
    # An inactive store's people cannot sign in (their open sessions end too); its history stays readable.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="store")

    def __repr__(self) -> str:
        return f"<Store {self.code}>"


class User(db.Model):
    """A person who signs in: associate, manager (one store) or admin (head office)."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint(Role.sql_in("role"), name="ck_user_role"),
        sa.CheckConstraint(
            "(role = 'admin' AND store_id IS NULL) OR (role <> 'admin' AND store_id IS NOT NULL)",
            name="ck_user_store_by_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(Vocabulary(Role, 16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Set with a temporary password (a manager's reset, a new account): nothing but choosing a new one is allowed.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # Failed sign-ins in a row from any address; past ACCOUNT_LOCKOUT_THRESHOLD, locked_until closes the
    # account to addresses it has not signed in from lately (per-address locks: SignInAddress).
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sessions_valid_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    store: Mapped[Store | None] = relationship(back_populates="users")
    # Read only: PINs are written with conditional UPDATEs (auth/pins.py). Loaded with the signed-in person, so
    # the idle-lock check on every page costs no statement of its own (auth.pins.pin_of).
    pin: Mapped[UserPin | None] = relationship(viewonly=True)

    @validates("role")
    def _role(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the role as its member."""
        return member_of(Role, value)

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        """Every loaded user is authenticated."""
        return True

    @property
    def is_active(self) -> bool:
        """Disabled people cannot sign in."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """A real user is never anonymous."""
        return False

    def get_id(self) -> str:
        """Return the id Flask-Login keeps in the session."""
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        """Tell whether the user holds one of the roles."""
        return self.role in roles

    def __repr__(self) -> str:
        return f"<User {self.username} {self.role}>"


class SignInAddress(db.Model):
    """One account's sign-ins from one client address: failures in a row, a lock, the last success."""

    __tablename__ = "sign_in_address"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    # The client address (an IPv6 client by its /64 network, which one machine can fill with addresses).
    client: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserPin(db.Model):
    """A person's quick-switch PIN (argon2id, like passwords) and the wrong PINs typed in a row since."""

    __tablename__ = "user_pin"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    pin_hash: Mapped[str] = mapped_column(sa.String(255))
    # At PIN_MAX_FAILURES the PIN is blocked until the person signs in with their password again.
    failures: Mapped[int] = mapped_column(default=0)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeviceSignIn(db.Model):
    """The last full (password) sign-in of one person on one device (a browser holding the device cookie)."""

    __tablename__ = "device_sign_in"
    __table_args__ = (sa.Index("ix_device_sign_in_device_time", "device_id", "signed_in_at"),)

    # The random id in the device cookie (the cookie is signed, so an id read from the database alone is no key).
    device_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    signed_in_at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
