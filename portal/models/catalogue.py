"""The offer catalogue: versions, categories and their lines."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from ..vocab import (
    CatalogueStatus,
    LineCheck,
    RichStrEnum,
)
from .people import User
from .types import UTCDateTime, Vocabulary, member_of, utcnow


class CatalogueVersion(db.Model):
    """One version of the offer catalogue: a draft head office edits, the one in use, or one it replaced."""

    __tablename__ = "offer_catalogue"
    __table_args__ = (
        sa.CheckConstraint(CatalogueStatus.sql_in("status"), name="ck_offer_catalogue_status"),
        # At most one draft and one version in use, whatever two head-office screens do at once.
        sa.Index(
            "uq_offer_catalogue_one_draft",
            "status",
            unique=True,
            sqlite_where=sa.text("status = 'draft'"),
            postgresql_where=sa.text("status = 'draft'"),
        ),
        sa.Index(
            "uq_offer_catalogue_one_published",
            "status",
            unique=True,
            sqlite_where=sa.text("status = 'published'"),
            postgresql_where=sa.text("status = 'published'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    status: Mapped[CatalogueStatus] = mapped_column(Vocabulary(CatalogueStatus, 16), default=CatalogueStatus.DRAFT)
    # Where it came from: "screen" (head office), "OFFER_CATALOGUE" or "built-in" (the first, seeded).
    source: Mapped[str] = mapped_column(sa.String(32), default="screen")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # The last "Check with XCover": when, and the sample it quoted (store, country, currency, price).
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    check_sample: Mapped[dict | None] = mapped_column(sa.JSON)

    categories: Mapped[list[CatalogueCategory]] = relationship(
        back_populates="version", order_by="CatalogueCategory.position", cascade="all, delete-orphan"
    )
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])

    @validates("status")
    def _status(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the status as its member."""
        return member_of(CatalogueStatus, value)

    @property
    def lines(self) -> list[CatalogueLine]:
        """Return every line of every category, in the order they are quoted."""
        return [line for category in self.categories for line in category.lines]


class CatalogueCategory(db.Model):
    """A product category of a catalogue version: the Category choice at the counter and what it is quoted for."""

    __tablename__ = "offer_category"
    __table_args__ = (sa.UniqueConstraint("catalogue_id", "key", name="uq_offer_category_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    catalogue_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_catalogue.id", ondelete="CASCADE"), index=True)
    # Sent to XCover as product_category and kept on each sale item (SaleItem.category).
    key: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(80))
    position: Mapped[int] = mapped_column()

    version: Mapped[CatalogueVersion] = relationship(back_populates="categories")
    lines: Mapped[list[CatalogueLine]] = relationship(
        back_populates="category", order_by="CatalogueLine.position", cascade="all, delete-orphan"
    )


class CatalogueLine(db.Model):
    """One cover to quote for a category: XCover policy type, its version and the term; and the last check."""

    __tablename__ = "offer_line"
    __table_args__ = (
        sa.CheckConstraint(LineCheck.sql_in("check_result"), name="ck_offer_line_check"),
        sa.CheckConstraint("cover_term_months IS NULL OR cover_term_months > 0", name="ck_offer_line_term"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("offer_category.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    policy_type: Mapped[str] = mapped_column(sa.String(64))
    # As XCover names it: usually a number (sent as one), sometimes an identifier (sent as text).
    policy_type_version: Mapped[str] = mapped_column(sa.String(64), default="1")
    cover_term_months: Mapped[int | None] = mapped_column()
    check_result: Mapped[LineCheck] = mapped_column(Vocabulary(LineCheck, 16), default=LineCheck.UNCHECKED)
    # What the check learnt: the sample's price and title, or XCover's reasons for refusing it.
    check_detail: Mapped[dict | None] = mapped_column(sa.JSON)

    category: Mapped[CatalogueCategory] = relationship(back_populates="lines")

    @validates("check_result")
    def _check(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the check result as its member."""
        return member_of(LineCheck, value)
