"""The sale at the counter: the sale, its products and their covers, with their search keys."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from ..extensions import db
from ..vocab import (
    CoverStatus,
    Decision,
    DeclineReason,
    PaymentMethod,
    RichStrEnum,
    SaleStatus,
)
from .people import Store, User
from .types import UTCDateTime, Vocabulary, code_key, email_key, key_column, member_of, name_key, parse_day, utcnow


class Sale(db.Model):
    """One customer at the counter: their basket, contact details, choices, payment and booking."""

    __tablename__ = "sale"
    __table_args__ = (
        sa.CheckConstraint(SaleStatus.sql_in("status"), name="ck_sale_status"),
        sa.Index("ix_sale_store_created", "store_id", "created_at"),
        sa.Index("ix_sale_status", "status"),
        sa.Index("uq_sale_submission_token", "submission_token", unique=True),
        # Reports (migrations 0011, 0014): a store's sales over a period read from the index alone (with their id:
        # SQLite keeps the rowid in every index, PostgreSQL needs it included).
        sa.Index(
            "ix_sale_report",
            "store_id",
            "created_at",
            "associate_id",
            "currency",
            "xcover_ref",
            postgresql_include=["id"],
        ),
        # Reports' open exceptions (migration 0011): a store's sales in a status, with what the list checks.
        sa.Index(
            "ix_sale_open",
            "status",
            "store_id",
            "payment_recorded_at",
            "refunded_at",
            "booking_started_at",
            "associate_id",
            "currency",
            "decline_reason",
        ),
        # Search (migration 0012): exact lookups and name prefixes within a store, on normalised keys.
        sa.Index("ix_sale_store_ref_key", "store_id", "ref_key"),
        sa.Index("ix_sale_store_receipt_key", "store_id", "receipt_key"),
        sa.Index("ix_sale_store_email_key", "store_id", "email_key"),
        sa.Index("ix_sale_store_phone", "store_id", "phone"),
        sa.Index("ix_sale_store_name_key", "store_id", "name_key"),
        sa.Index("ix_sale_store_surname_key", "store_id", "surname_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(sa.ForeignKey("store.id"))
    associate_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id"))
    status: Mapped[SaleStatus] = mapped_column(Vocabulary(SaleStatus, 16), default=SaleStatus.DRAFT)
    currency: Mapped[str] = mapped_column(sa.String(3))
    # The one-time token of the new-sale form that started it: the same form sent again finds this sale.
    submission_token: Mapped[str | None] = mapped_column(sa.String(36))
    # The customer (the XCover policyholder).
    first_name: Mapped[str] = mapped_column(sa.String(80))
    last_name: Mapped[str] = mapped_column(sa.String(80))
    email: Mapped[str] = mapped_column(sa.String(254))
    phone: Mapped[str] = mapped_column(sa.String(32))
    address1: Mapped[str] = mapped_column(sa.String(200))
    city: Mapped[str] = mapped_column(sa.String(100))
    region: Mapped[str] = mapped_column(sa.String(100), default="")
    postcode: Mapped[str] = mapped_column(sa.String(20))
    country: Mapped[str] = mapped_column(sa.String(2))
    language: Mapped[str] = mapped_column(sa.String(8))
    # XCover: the quote package (INS reference) and what happened to it.
    xcover_ref: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    quote_total: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    decline_reason: Mapped[DeclineReason | None] = mapped_column(Vocabulary(DeclineReason, 32))
    # The customer's tap on "I have seen the key facts", with what exactly they saw.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_policy_versions: Mapped[dict | None] = mapped_column(sa.JSON)
    ack_disclaimer_hash: Mapped[str | None] = mapped_column(sa.String(64))
    # The till payment (products and cover together); never a card number.
    payment_method: Mapped[PaymentMethod | None] = mapped_column(Vocabulary(PaymentMethod, 16))
    receipt_number: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    amount_collected: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    card_last4: Mapped[str | None] = mapped_column(sa.String(4))
    payment_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Booking: the key is stored before the request goes out and reused on every retry.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    booking_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    booked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cover_total: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    field_errors: Mapped[dict | None] = mapped_column(sa.JSON)
    coi_url: Mapped[str | None] = mapped_column(sa.String(500))
    pds_url: Mapped[str | None] = mapped_column(sa.String(500))
    # The offer catalogue version that decided what was quoted (none for sales quoted before versions existed).
    catalogue_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer_catalogue.id"))
    # A booking that failed after the till took the money: the till's refund for the cover not booked.
    refund_reference: Mapped[str | None] = mapped_column(sa.String(64))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # Search keys, kept from the fields above on every write (search_keys below).
    ref_key: Mapped[str | None] = mapped_column(key_column(40))
    receipt_key: Mapped[str | None] = mapped_column(key_column(64))
    email_key: Mapped[str | None] = mapped_column(key_column(254))
    name_key: Mapped[str | None] = mapped_column(key_column(170))
    surname_key: Mapped[str | None] = mapped_column(key_column(170))

    store: Mapped[Store] = relationship()
    associate: Mapped[User] = relationship()
    items: Mapped[list[SaleItem]] = relationship(
        back_populates="sale", order_by="SaleItem.position", cascade="all, delete-orphan"
    )
    covers: Mapped[list[Cover]] = relationship(
        back_populates="sale", order_by="Cover.quote_index", cascade="all, delete-orphan"
    )

    @validates("status", "decline_reason", "payment_method")
    def _vocabulary(self, key: str, value: str | None) -> RichStrEnum | None:
        """Keep the status, decline reason and payment method as members."""
        return member_of(
            {"status": SaleStatus, "decline_reason": DeclineReason, "payment_method": PaymentMethod}[key], value
        )

    @property
    def customer_name(self) -> str:
        """Return the customer's full name."""
        return f"{self.first_name} {self.last_name}".strip()

    def __repr__(self) -> str:
        return f"<Sale {self.id} {self.status}>"


class SaleItem(db.Model):
    """One product in the basket, and the customer's decision about cover for it."""

    __tablename__ = "sale_item"
    __table_args__ = (
        sa.CheckConstraint("quantity >= 1", name="ck_sale_item_quantity"),
        sa.CheckConstraint(f"decision IS NULL OR {Decision.sql_in('decision')}", name="ck_sale_item_decision"),
        # Reports (migration 0011): a sale's declines and their reasons, from the index alone.
        sa.Index("ix_sale_item_decision", "sale_id", "decision", "decline_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(sa.ForeignKey("sale.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column()
    product_name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(40))
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))
    quantity: Mapped[int] = mapped_column(default=1)
    brand: Mapped[str] = mapped_column(sa.String(100), default="")
    model: Mapped[str] = mapped_column(sa.String(100), default="")
    sku: Mapped[str] = mapped_column(sa.String(64), default="")
    serial_number: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    serial_key: Mapped[str | None] = mapped_column(key_column(64), index=True)
    purchase_date: Mapped[date] = mapped_column(sa.Date)
    decision: Mapped[Decision | None] = mapped_column(Vocabulary(Decision, 8))
    decline_reason: Mapped[DeclineReason | None] = mapped_column(Vocabulary(DeclineReason, 32))

    sale: Mapped[Sale] = relationship(back_populates="items")
    covers: Mapped[list[Cover]] = relationship(back_populates="item", order_by="Cover.quote_index")

    @validates("decision", "decline_reason")
    def _vocabulary(self, key: str, value: str | None) -> RichStrEnum | None:
        """Keep the decision and decline reason as members."""
        return member_of(Decision if key == "decision" else DeclineReason, value)


@sa.event.listens_for(Sale, "before_insert")
@sa.event.listens_for(Sale, "before_update")
def _sale_search_keys(mapper: sa.orm.Mapper, connection: sa.Connection, sale: Sale) -> None:
    """Keep a sale's search keys in step with what they are made from."""
    sale.ref_key = code_key(sale.xcover_ref) or None
    sale.receipt_key = code_key(sale.receipt_number) or None
    sale.email_key = email_key(sale.email)
    sale.name_key = name_key(f"{sale.first_name} {sale.last_name}")
    sale.surname_key = name_key(f"{sale.last_name} {sale.first_name}")


@sa.event.listens_for(SaleItem, "before_insert")
@sa.event.listens_for(SaleItem, "before_update")
def _item_search_keys(mapper: sa.orm.Mapper, connection: sa.Connection, item: SaleItem) -> None:
    """Keep an item's serial number key in step with its serial number."""
    item.serial_key = code_key(item.serial_number) or None


class Cover(db.Model):
    """One XCover quote offered for an item; once booked, a policy."""

    __tablename__ = "cover"
    __table_args__ = (
        sa.CheckConstraint(CoverStatus.sql_in("status"), name="ck_cover_status"),
        sa.UniqueConstraint("sale_id", "quote_index", name="uq_cover_sale_index"),
        # Reports (migration 0011): a sale's policies sold, their type, price and tax, from the index alone.
        sa.Index("ix_cover_report", "sale_id", "status", "policy_type", "price", "tax"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sale_id: Mapped[int] = mapped_column(sa.ForeignKey("sale.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("sale_item.id", ondelete="CASCADE"), index=True)
    quote_index: Mapped[int] = mapped_column()
    quote_id: Mapped[str | None] = mapped_column(sa.String(64))
    status: Mapped[CoverStatus] = mapped_column(Vocabulary(CoverStatus, 16), default=CoverStatus.QUOTED)
    policy_type: Mapped[str] = mapped_column(sa.String(64))
    policy_version: Mapped[str] = mapped_column(sa.String(64), default="")
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    term_months: Mapped[int | None] = mapped_column()
    price: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0"))
    price_formatted: Mapped[str] = mapped_column(sa.String(40), default="")
    tax: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2), default=Decimal("0"))
    tax_formatted: Mapped[str] = mapped_column(sa.String(40), default="")
    start_date: Mapped[str | None] = mapped_column(sa.String(40))
    end_date: Mapped[str | None] = mapped_column(sa.String(40))
    content: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    pds_url: Mapped[str | None] = mapped_column(sa.String(500))
    error: Mapped[str | None] = mapped_column(sa.String(500))

    sale: Mapped[Sale] = relationship(back_populates="covers")
    item: Mapped[SaleItem] = relationship(back_populates="covers")

    @property
    def starts_on(self) -> date | None:
        """Return the day the policy starts (XCover sends a timestamp or a date)."""
        return parse_day(self.start_date)

    @property
    def ends_on(self) -> date | None:
        """Return the day the policy ends."""
        return parse_day(self.end_date)

    @validates("status")
    def _status(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the status as its member."""
        return member_of(CoverStatus, value)
