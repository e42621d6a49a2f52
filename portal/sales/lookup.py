"""Finding sales: one sale, today's, a search, the chosen cover and a sale's timeline."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..audit.browse import timeline_for
from ..extensions import db
from ..models import AuditEvent, Cover, Sale, SaleItem, Store, User, code_key, email_key, name_key
from ..phones import InvalidPhone, to_e164
from ..vocab import CoverStatus

_CHOSEN = (CoverStatus.CHOSEN, CoverStatus.BOOKED, CoverStatus.FAILED)
PAGE_SIZE = 20  # today's sales shown at once
SEARCH_LIMIT = 50
REFERENCE_PREFIX = 5  # letters and digits of a reference that find it by its start


def get_sale(user: User, sale_id: int) -> Sale | None:
    """Load a sale of the user's own store (None for any other store's sale or for admins)."""
    if user.store_id is None:
        return None
    # Every screen shows the items and the covers: two more statements, however big the sale.
    return db.session.scalar(
        sa.select(Sale)
        .where(Sale.id == sale_id, Sale.store_id == user.store_id)
        .options(selectinload(Sale.items), selectinload(Sale.covers))
    )


def store_today(store: Store) -> date:
    """Return today's date in the store's time zone."""
    return datetime.now(ZoneInfo(store.timezone)).date()


@dataclass(frozen=True)
class Page:
    """Part of a list of sales, and where the next part starts (None at the end)."""

    sales: list[Sale]
    next_before: int | None = None


def todays_sales(store: Store, limit: int = PAGE_SIZE, before: int | None = None) -> Page:
    """Return the store's latest sales started today (store time), newest first, `limit` at a time.

    before: the id of the last sale of the previous part.
    """
    zone = ZoneInfo(store.timezone)
    start = datetime.combine(store_today(store), time.min, tzinfo=zone)
    stmt = (
        sa.select(Sale)
        .where(Sale.store_id == store.id, Sale.created_at >= start, Sale.created_at < start + timedelta(days=1))
        .order_by(Sale.created_at.desc(), Sale.id.desc())
        .limit(limit + 1)
    )
    if before is not None:  # keyset: strictly after the given sale in this order, however many came since
        moment = sa.select(Sale.created_at).where(Sale.id == before, Sale.store_id == store.id).scalar_subquery()
        stmt = stmt.where(sa.or_(Sale.created_at < moment, sa.and_(Sale.created_at == moment, Sale.id < before)))
    sales = list(db.session.scalars(stmt))
    return Page(sales[:limit], sales[limit - 1].id if len(sales) > limit else None)


def _prefix(key: Any, prefix: str) -> Any:
    """A condition matching keys that start with prefix, as one range of the key's index."""
    return sa.and_(key >= prefix, key < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def search_sales(store: Store, query: str, limit: int = SEARCH_LIMIT) -> list[Sale]:
    """Find the store's sales by reference, receipt, serial number, email, phone, or the start of a name.

    Exact matches come first, newest first, then names in alphabetical order; each part is one index lookup.
    """
    q = query.strip()
    if not q:
        return todays_sales(store).sales
    exact: list[Any] = []
    code = code_key(q)
    if code:
        serials = sa.select(SaleItem.sale_id).where(SaleItem.serial_key == code)
        exact += [Sale.ref_key == code, Sale.receipt_key == code, Sale.id.in_(serials)]
        if len(code) >= REFERENCE_PREFIX:  # the first block of a reference is enough
            exact.append(_prefix(Sale.ref_key, code))
    if "@" in q:
        exact.append(Sale.email_key == email_key(q))
    with suppress(InvalidPhone):  # a number typed as the customer would say it: 07400 123456 in a British store
        exact.append(Sale.phone == to_e164(q, store.country))
    found: dict[int, Sale] = {}
    if exact:
        for sale in db.session.scalars(
            sa.select(Sale)
            .where(sa.or_(*(sa.and_(Sale.store_id == store.id, term) for term in exact)))
            .order_by(Sale.created_at.desc())
            .limit(limit)
        ):
            found.setdefault(sale.id, sale)
    name = name_key(q)
    if name:
        for key in (Sale.name_key, Sale.surname_key):  # "jane d" and "doe j" alike
            if len(found) >= limit:
                break
            for sale in db.session.scalars(
                sa.select(Sale).where(Sale.store_id == store.id, _prefix(key, name)).order_by(key).limit(limit)
            ):
                found.setdefault(sale.id, sale)
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
