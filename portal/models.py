"""Database models: stores, people and the audit log."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db

ROLES = ("associate", "manager", "admin")


def utcnow() -> datetime:
    """Return the current UTC time, timezone-aware."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        """Normalise to UTC before writing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Optional[datetime], dialect: sa.Dialect) -> Optional[datetime]:
        """Attach UTC to values SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


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
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="store")

    def __repr__(self) -> str:
        return f"<Store {self.code}>"


class User(db.Model):
    """A person who signs in: associate, manager (one store) or admin (head office)."""

    __tablename__ = "user_account"
    __table_args__ = (
        sa.CheckConstraint("role IN ('associate', 'manager', 'admin')", name="ck_user_role"),
        sa.CheckConstraint(
            "(role = 'admin' AND store_id IS NULL) OR (role <> 'admin' AND store_id IS NOT NULL)",
            name="ck_user_store_by_role",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("store.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    failed_sign_ins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    sessions_valid_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_sign_in_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    store: Mapped[Optional[Store]] = relationship(back_populates="users")

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


class AuditChainHead(db.Model):
    """The last link of one audit chain (a store's, or head office's with key 0)."""

    __tablename__ = "audit_chain_head"

    chain_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditEvent(db.Model):
    """One append-only, hash-chained record of something that happened."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.UniqueConstraint("chain_key", "seq", name="uq_audit_chain_seq"),
        # The viewer's filters: a chain by time, by action, by actor, by object (migration 0004).
        sa.Index("ix_audit_chain_time", "chain_key", "occurred_at", "seq"),
        sa.Index("ix_audit_chain_action_time", "chain_key", "action", "occurred_at"),
        sa.Index("ix_audit_chain_actor_time", "chain_key", "actor_name", "occurred_at"),
        sa.Index("ix_audit_chain_object_time", "chain_key", "object_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    chain_key: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    store_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("store.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[Optional[int]] = mapped_column(sa.ForeignKey("user_account.id"))
    actor_name: Mapped[Optional[str]] = mapped_column(sa.String(64))
    actor_role: Mapped[Optional[str]] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(48))
    object_type: Mapped[Optional[str]] = mapped_column(sa.String(32))
    object_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    result: Mapped[str] = mapped_column(sa.String(16))
    request_id: Mapped[Optional[str]] = mapped_column(sa.String(64))
    client_ip: Mapped[Optional[str]] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
