"""Finding sales: one sale, today's, a search, the chosen cover and a sale's timeline."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from ..audit.browse import timeline_for
from ..extensions import db
from ..models import (
    AuditEvent,
    Correction,
    Cover,
    PolicyReturn,
    Sale,
    SaleItem,
    Store,
    User,
    code_key,
    email_key,
    name_key,
)
from ..phones import InvalidPhone, to_e164
from ..vocab import CoverStatus, SaleStatus

# Chosen by the customer, then booked or not; a booked policy may later be returned and cancelled.
_CHOSEN = (
    CoverStatus.CHOSEN,
    CoverStatus.BOOKED,
    CoverStatus.FAILED,
    CoverStatus.RETURNING,
    CoverStatus.CANCELLING,
    CoverStatus.CANCELLED,
)
PAGE_SIZE = 20  # today's sales shown at once
SEARCH_LIMIT = 50
REFERENCE_PREFIX = 5  # letters and digits of a reference that find it by its start


# Statements built once, with bind parameters: building and keying an ORM statement costs more than running it.
_SALE = sa.select(Sale).where(Sale.id == sa.bindparam("sale_id"), Sale.store_id == sa.bindparam("store_id"))
# Every screen shows the items and the covers: one statement each, however big the sale (what selectinload
# does, without building its statements again on every load).
_ITEMS = sa.select(SaleItem).where(SaleItem.sale_id == sa.bindparam("sale_id")).order_by(SaleItem.position)
_COVERS = sa.select(Cover).where(Cover.sale_id == sa.bindparam("sale_id")).order_by(Cover.quote_index)


def get_sale(user: User, sale_id: int) -> Sale | None:
    """Load a sale of the user's own store with its items and covers (None for another store's sale, or admins)."""
    if user.store_id is None:
        return None
    sale = db.session.scalar(_SALE, {"sale_id": sale_id, "store_id": user.store_id})
    if sale is not None:
        for name, stmt in (("items", _ITEMS), ("covers", _COVERS)):
            if name not in sa.inspect(sale).unloaded:  # already in this session, maybe with unsaved changes
                continue
            set_committed_value(sale, name, list(db.session.scalars(stmt, {"sale_id": sale.id})))
        for item in sale.items:  # each product's own covers, from the ones just read (no statement per product)
            if "covers" in sa.inspect(item).unloaded:
                set_committed_value(item, "covers", [c for c in sale.covers if c.item_id == item.id])
    return sale


# Whether a sale has returns and corrections, in one statement: most have neither, and then neither list is loaded.
_AFTER_SALE = sa.select(
    sa.exists().where(PolicyReturn.sale_id == sa.bindparam("sale_id")),
    sa.exists().where(Correction.sale_id == sa.bindparam("sale_id")),
)


def load_after_sale(sale: Sale) -> None:
    """Make the sale's returns and corrections readable, reading only the lists that have something in them."""
    state = sa.inspect(sale)
    if "returns" not in state.unloaded and "corrections" not in state.unloaded:
        return
    has_returns, has_corrections = db.session.execute(_AFTER_SALE, {"sale_id": sale.id}).one()
    for name, found in (("returns", has_returns), ("corrections", has_corrections)):
        if not found and name in state.unloaded:
            set_committed_value(sale, name, [])


def store_today(store: Store) -> date:
    """Return today's date in the store's time zone."""
    return datetime.now(ZoneInfo(store.timezone)).date()


class SaleLine(NamedTuple):
    """What a list shows of a sale: plain columns, no ORM object to build."""

    id: int
    status: SaleStatus
    first_name: str
    last_name: str
    xcover_ref: str | None
    created_at: datetime

    @property
    def customer_name(self) -> str:
        """Return the customer's full name."""
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Page:
    """Part of a list of sales, and where the next part starts (None at the end)."""

    sales: list[SaleLine]
    next_before: int | None = None


_LINE = sa.select(Sale.id, Sale.status, Sale.first_name, Sale.last_name, Sale.xcover_ref, Sale.created_at)
_NEWEST_FIRST = (Sale.created_at.desc(), Sale.id.desc())
_TODAY = _LINE.where(
    Sale.store_id == sa.bindparam("store_id"),
    Sale.created_at >= sa.bindparam("start"),
    Sale.created_at < sa.bindparam("end"),
).order_by(*_NEWEST_FIRST)
_BEFORE_AT = (
    sa.select(Sale.created_at)
    .where(Sale.id == sa.bindparam("before"), Sale.store_id == sa.bindparam("store_id"))
    .scalar_subquery()
)
# Keyset: strictly after the given sale in this order, however many sales came since.
_TODAY_BEFORE = _TODAY.where(
    sa.or_(Sale.created_at < _BEFORE_AT, sa.and_(Sale.created_at == _BEFORE_AT, Sale.id < sa.bindparam("before")))
).limit(sa.bindparam("limit"))
_TODAY = _TODAY.limit(sa.bindparam("limit"))


def todays_sales(store: Store, limit: int = PAGE_SIZE, before: int | None = None) -> Page:
    """Return the store's latest sales started today (store time), newest first, `limit` at a time.

    before: the id of the last sale of the previous part.
    """
    zone = ZoneInfo(store.timezone)
    start = datetime.combine(store_today(store), time.min, tzinfo=zone)
    values = {"store_id": store.id, "start": start, "end": start + timedelta(days=1), "limit": limit + 1}
    if before is not None:
        values["before"] = before
    sales = [SaleLine(*row) for row in db.session.execute(_TODAY if before is None else _TODAY_BEFORE, values)]
    return Page(sales[:limit], sales[limit - 1].id if len(sales) > limit else None)


def _prefix(key: Any, low: str, high: str) -> Any:
    """A condition matching keys that start with a prefix, as one range of the key's index."""
    return sa.and_(key >= sa.bindparam(low), key < sa.bindparam(high))


def _exact_part(*terms: Any, join: bool = False) -> sa.Select[Any]:
    """One exact lookup within the store: a single (store, key) index lookup."""
    part = _LINE.join(SaleItem, SaleItem.sale_id == Sale.id) if join else _LINE
    return part.where(Sale.store_id == sa.bindparam("store_id"), *terms)


# One lookup per kind, joined by UNION and sorted afterwards: the same conditions ORed in one query ordered by time
# let PostgreSQL's planner walk the store's sales by time instead (200 ms with 100,000 sales). An unused kind gets
# NULL, which matches nothing.
_FOUND = sa.union(
    _exact_part(Sale.ref_key == sa.bindparam("code")),
    _exact_part(Sale.receipt_key == sa.bindparam("code")),
    _exact_part(SaleItem.serial_key == sa.bindparam("code"), join=True),
    _exact_part(_prefix(Sale.ref_key, "ref_low", "ref_high")),
    _exact_part(Sale.email_key == sa.bindparam("email")),
    _exact_part(Sale.phone == sa.bindparam("phone")),
).subquery()
_EXACT = sa.select(_FOUND).order_by(_FOUND.c.created_at.desc(), _FOUND.c.id.desc()).limit(sa.bindparam("limit"))
_BY_NAME = tuple(  # "jane d" and "doe j" alike
    _LINE.where(Sale.store_id == sa.bindparam("store_id"), _prefix(key, "low", "high"))
    .order_by(key)
    .limit(sa.bindparam("limit"))
    for key in (Sale.name_key, Sale.surname_key)
)


def _after(prefix: str) -> str:
    """Return the first string after every string that starts with prefix."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def search_sales(store: Store, query: str, limit: int = SEARCH_LIMIT) -> list[SaleLine]:
    """Find the store's sales by reference, receipt, serial number, email, phone, or the start of a name.

    Exact matches come first, newest first, then names in alphabetical order; each part is one index lookup.
    """
    q = query.strip()
    if not q:
        return todays_sales(store).sales
    code = code_key(q) or None
    reference = code if code and len(code) >= REFERENCE_PREFIX else None  # the first block of a reference
    phone = None
    with suppress(InvalidPhone):  # a number typed as the customer would say it: 07400 123456 in a British store
        phone = to_e164(q, store.phone_country)
    values = {
        "store_id": store.id,
        "limit": limit,
        "code": code,
        "ref_low": reference,
        "ref_high": _after(reference) if reference else None,
        "email": email_key(q) if "@" in q else None,
        "phone": phone,
    }
    found: dict[int, SaleLine] = {}
    if code or values["email"] or phone:
        for row in db.session.execute(_EXACT, values):
            found.setdefault(row.id, SaleLine(*row))
    name = name_key(q)
    for stmt in _BY_NAME if name else ():
        if len(found) >= limit:
            break
        for row in db.session.execute(stmt, {"store_id": store.id, "limit": limit, "low": name, "high": _after(name)}):
            found.setdefault(row.id, SaleLine(*row))
    return list(found.values())[:limit]


def chosen_covers(sale: Sale) -> list[Cover]:
    """Return the covers the customer chose (or that were booked)."""
    return [c for c in sale.covers if c.status in _CHOSEN and c.quote_id]


def cover_total(sale: Sale) -> Decimal:
    """Return what the chosen cover costs, tax included."""
    return sum((c.price for c in chosen_covers(sale)), Decimal("0.00"))


def options_by_item(sale: Sale) -> list[tuple[SaleItem, list[Cover]]]:
    """Return each product with the options XCover offered for it."""
    return [(item, [c for c in sale.covers if c.item_id == item.id]) for item in sale.items]


def timeline(sale: Sale) -> list[AuditEvent]:
    """Return the sale's audit events, oldest first (only its own store's chain)."""
    return timeline_for("sale", str(sale.id), sale.store_id)
