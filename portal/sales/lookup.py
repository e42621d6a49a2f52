"""Finding sales: one sale, today's, a search, the chosen cover and a sale's timeline."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from ..audit.browse import timeline_for
from ..extensions import db
from ..models import AuditEvent, Cover, Sale, SaleItem, Store, User
from ..phones import InvalidPhone, to_e164
from ..vocab import CoverStatus

_CHOSEN = (CoverStatus.CHOSEN, CoverStatus.BOOKED, CoverStatus.FAILED)


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


def todays_sales(store: Store) -> list[Sale]:
    """Return the store's sales started today (store time), newest first."""
    zone = ZoneInfo(store.timezone)
    start = datetime.combine(store_today(store), time.min, tzinfo=zone)
    return list(
        db.session.scalars(
            sa.select(Sale)
            .where(Sale.store_id == store.id, Sale.created_at >= start, Sale.created_at < start + timedelta(days=1))
            .order_by(Sale.created_at.desc())
        )
    )


def search_sales(store: Store, query: str, limit: int = 50) -> list[Sale]:
    """Find the store's sales by reference, name, email, phone, receipt or serial number."""
    q = query.strip()
    if not q:
        return todays_sales(store)
    like = f"%{q.lower()}%"
    try:  # a number typed as the customer would say it: 07400 123456 in a British store
        same_phone = Sale.phone == to_e164(q, store.country)
    except InvalidPhone:
        same_phone = sa.false()
    serial_match = sa.select(SaleItem.sale_id).where(sa.func.lower(SaleItem.serial_number) == q.lower())
    stmt = (
        sa.select(Sale)
        .where(
            Sale.store_id == store.id,
            sa.or_(
                sa.func.lower(Sale.xcover_ref).like(like),
                sa.func.lower(Sale.first_name + " " + Sale.last_name).like(like),
                sa.func.lower(Sale.email) == q.lower(),
                Sale.phone.like(f"%{re.sub(r'[^0-9]', '', q) or q}%"),
                same_phone,
                sa.func.lower(Sale.receipt_number) == q.lower(),
                Sale.id.in_(serial_match),
            ),
        )
        .order_by(Sale.created_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


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
