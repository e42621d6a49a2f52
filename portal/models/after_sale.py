"""After the sale: returns and their lines, corrections."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship, validates

from ..extensions import db
from ..vocab import (
    CorrectionStatus,
    ReturnReason,
    ReturnStatus,
    RichStrEnum,
)
from .people import User
from .sales import Cover, Sale, SaleItem
from .types import UTCDateTime, Vocabulary, member_of, parse_day, utcnow


class PolicyReturn(db.Model):
    """A return: policies of a sale to cancel, XCover's refund preview, a manager's decision and the confirmation."""

    __tablename__ = "policy_return"
    __table_args__ = (
        sa.CheckConstraint(ReturnStatus.sql_in("status"), name="ck_policy_return_status"),
        sa.Index("ix_policy_return_status", "status"),
        # Reports (migration 0011): returns confirmed in a period.
        sa.Index("ix_policy_return_confirmed", "status", "confirmed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(sa.ForeignKey("sale.id", ondelete="CASCADE"), index=True)
    status: Mapped[ReturnStatus] = mapped_column(Vocabulary(ReturnStatus, 16), default=ReturnStatus.PREVIEWED)
    reason: Mapped[ReturnReason] = mapped_column(Vocabulary(ReturnReason, 32))
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    # XCover's preview: the id that confirms it, the deadline for doing so, and the refund it promised.
    cancellation_id: Mapped[str] = mapped_column(sa.String(64))
    confirm_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(sa.String(3))
    total_refund: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    # The manager's decision; decided_here: signed in for this one approval on the requesting iPad.
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_here: Mapped[bool | None] = mapped_column()
    # The confirmation: one key for every attempt, the till's refund and what XCover refunded.
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    refund_reference: Mapped[str | None] = mapped_column(sa.String(64))
    refunded_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    confirm_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    sale: Mapped[Sale] = relationship(backref=backref("returns", order_by="PolicyReturn.id"))
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    confirmed_by: Mapped[User | None] = relationship(foreign_keys=[confirmed_by_id])
    lines: Mapped[list[ReturnLine]] = relationship(
        back_populates="policy_return", order_by="ReturnLine.id", cascade="all, delete-orphan"
    )

    @validates("status", "reason")
    def _vocabulary(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the status and reason as members."""
        return member_of(ReturnStatus if key == "status" else ReturnReason, value)

    def expired(self, now: datetime | None = None) -> bool:
        """Tell whether XCover's deadline for confirming the preview has passed."""
        return self.confirm_before is not None and self.confirm_before <= (now or utcnow())


class ReturnLine(db.Model):
    """One policy of a return, with the refund XCover previewed for it."""

    __tablename__ = "return_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(sa.ForeignKey("policy_return.id", ondelete="CASCADE"), index=True)
    cover_id: Mapped[int] = mapped_column(sa.ForeignKey("cover.id", ondelete="CASCADE"), index=True)
    refund: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    adjustment_fee: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0"))
    refund_type: Mapped[str] = mapped_column(sa.String(32), default="")
    # XCover's end of the cooling-off period, and whether the preview came inside it (what the customer was told).
    cooling_off_until: Mapped[str | None] = mapped_column(sa.String(40))
    inside_cooling_off: Mapped[bool] = mapped_column(default=False)

    policy_return: Mapped[PolicyReturn] = relationship(back_populates="lines")
    cover: Mapped[Cover] = relationship()

    @property
    def cooling_off_ends_on(self) -> date | None:
        """Return the day the cooling-off period ends."""
        return parse_day(self.cooling_off_until)


class Correction(db.Model):
    """A change to a booked product's details: XCover's price for it (quote_for_update), then its confirmation."""

    __tablename__ = "sale_correction"
    __table_args__ = (
        sa.CheckConstraint(CorrectionStatus.sql_in("status"), name="ck_sale_correction_status"),
        # The exceptions list and reports: corrections whose answer did not arrive (migration 0011).
        sa.Index("ix_sale_correction_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(sa.ForeignKey("sale.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("sale_item.id", ondelete="CASCADE"))
    status: Mapped[CorrectionStatus] = mapped_column(Vocabulary(CorrectionStatus, 16), default=CorrectionStatus.QUOTED)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    # {our field: [old, new]} as text, and the new price XCover gave each policy ({quote id: "12.34"}).
    changes: Mapped[dict] = mapped_column(sa.JSON)
    new_prices: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    update_id: Mapped[str] = mapped_column(sa.String(64))
    price_diff: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    # The till's reference for collecting or refunding a price difference (none when there is none).
    till_reference: Mapped[str | None] = mapped_column(sa.String(64))
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    sale: Mapped[Sale] = relationship(backref=backref("corrections", order_by="Correction.id"))
    item: Mapped[SaleItem] = relationship()
    requested_by: Mapped[User] = relationship()

    @validates("status")
    def _status(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the status as its member."""
        return member_of(CorrectionStatus, value)
