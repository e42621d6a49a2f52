"""The sandbox's tables, on its own metadata: state lives in its database so every worker sees the same XCover."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def utcnow() -> datetime:
    """The current UTC time, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and read back timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Normalise to UTC before writing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Attach UTC to values read back without a zone."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class SandboxPackage(db.Model):
    """A quote package and, once booked, the booking: the whole XCover document as JSON."""

    __tablename__ = "xcover_sandbox_package"
    __table_args__ = (sa.Index("ix_xcover_sandbox_package_partner_booked", "partner", "booked_at"),)

    id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    partner: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(20))
    # Bumped by every write; the first statement of a write so the row is locked before it is read.
    version: Mapped[int] = mapped_column(default=0)
    doc: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SandboxPending(db.Model):
    """A previewed cancellation (-CCL) or priced modification (-UPD) waiting to be confirmed."""

    __tablename__ = "xcover_sandbox_pending"

    id: Mapped[str] = mapped_column(sa.String(24), primary_key=True)
    package_id: Mapped[str] = mapped_column(sa.ForeignKey("xcover_sandbox_package.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    doc: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used: Mapped[bool] = mapped_column(default=False)


class SandboxIdempotency(db.Model):
    """One x-idempotency-key: in flight while its request runs, then the stored answer for 48 hours."""

    __tablename__ = "xcover_sandbox_idempotency"
    __table_args__ = (sa.UniqueConstraint("partner", "key", name="uq_xcover_sandbox_idem_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(255))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class SandboxFault(db.Model):
    """A fault to inject into the next `remaining` calls of one operation (or "*" for all)."""

    __tablename__ = "xcover_sandbox_fault"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner: Mapped[str] = mapped_column(sa.String(64), index=True)
    operation: Mapped[str] = mapped_column(sa.String(32))
    mode: Mapped[str] = mapped_column(sa.String(32))
    remaining: Mapped[int] = mapped_column()
    seconds: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
