"""Database models: stores, people, sales and the audit log."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship, validates

from .extensions import db
from .vocab import (
    CatalogueStatus,
    CorrectionStatus,
    CoverStatus,
    Decision,
    DeclineReason,
    LineCheck,
    PaymentMethod,
    ReturnReason,
    ReturnStatus,
    RichStrEnum,
    Role,
    SaleStatus,
)


def utcnow() -> datetime:
    """Return the current UTC time, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware."""

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
        """Attach UTC to values SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Vocabulary(sa.types.TypeDecorator):
    """A closed vocabulary (portal/vocab.py) stored as its plain value and read back as its member."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[RichStrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        """Write the plain value, refusing anything outside the vocabulary."""
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> RichStrEnum | None:
        """Read the member back."""
        return None if value is None else self.enum(value)


def _member(enum: type[RichStrEnum], value: str | None) -> RichStrEnum | None:
    """Turn an assigned value into its member (None stays None), so templates can use .label at once."""
    return None if value is None else enum(value)


def name_key(text: str | None) -> str:
    """Normalise a name for indexed prefix search: no accents, lower case, words split by single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain.casefold())  # O'Brien is found as obrien
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def code_key(text: str | None) -> str:
    """Normalise a reference, receipt or serial number: letters and digits only, upper case."""
    return re.sub(r"[\W_]+", "", (text or "").upper())


def email_key(text: str | None) -> str:
    """Normalise an email address for exact search."""
    return (text or "").strip().casefold()


def _key(length: int) -> sa.types.TypeEngine:
    """A search-key column type: on PostgreSQL it sorts byte by byte, so that a prefix is one range of its index."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _day(text: str | None) -> date | None:
    """Read the date at the start of an ISO date or timestamp string (None when there is none)."""
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


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

    @validates("role")
    def _role(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the role as its member."""
        return _member(Role, value)

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
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    actor_name: Mapped[str | None] = mapped_column(sa.String(64))
    actor_role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(48))
    object_type: Mapped[str | None] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    result: Mapped[str] = mapped_column(sa.String(16))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))


class Sale(db.Model):
    """One customer at the counter: their basket, contact details, choices, payment and booking."""

    __tablename__ = "sale"
    __table_args__ = (
        sa.CheckConstraint(SaleStatus.sql_in("status"), name="ck_sale_status"),
        sa.Index("ix_sale_store_created", "store_id", "created_at"),
        sa.Index("ix_sale_status", "status"),
        sa.Index("uq_sale_submission_token", "submission_token", unique=True),
        # Reports (migration 0011): a store's sales over a period read from the index alone.
        sa.Index("ix_sale_report", "store_id", "created_at", "associate_id", "currency", "xcover_ref"),
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
    ref_key: Mapped[str | None] = mapped_column(_key(40))
    receipt_key: Mapped[str | None] = mapped_column(_key(64))
    email_key: Mapped[str | None] = mapped_column(_key(254))
    name_key: Mapped[str | None] = mapped_column(_key(170))
    surname_key: Mapped[str | None] = mapped_column(_key(170))

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
        return _member(
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
    serial_key: Mapped[str | None] = mapped_column(_key(64), index=True)
    purchase_date: Mapped[date] = mapped_column(sa.Date)
    decision: Mapped[Decision | None] = mapped_column(Vocabulary(Decision, 8))
    decline_reason: Mapped[DeclineReason | None] = mapped_column(Vocabulary(DeclineReason, 32))

    sale: Mapped[Sale] = relationship(back_populates="items")
    covers: Mapped[list[Cover]] = relationship(back_populates="item", order_by="Cover.quote_index")

    @validates("decision", "decline_reason")
    def _vocabulary(self, key: str, value: str | None) -> RichStrEnum | None:
        """Keep the decision and decline reason as members."""
        return _member(Decision if key == "decision" else DeclineReason, value)


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
        return _day(self.start_date)

    @property
    def ends_on(self) -> date | None:
        """Return the day the policy ends."""
        return _day(self.end_date)

    @validates("status")
    def _status(self, key: str, value: str) -> RichStrEnum | None:
        """Keep the status as its member."""
        return _member(CoverStatus, value)


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
        return _member(CatalogueStatus, value)

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
        return _member(LineCheck, value)


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
        return _member(ReturnStatus if key == "status" else ReturnReason, value)

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
        return _day(self.cooling_off_until)


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
        return _member(CorrectionStatus, value)
