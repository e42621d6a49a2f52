"""Head office's view of the stores: today's sales and open exceptions per store, and who may see which store."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..extensions import db
from ..models import Sale, Store, User
from ..sales.lookup import store_today
from ..vocab import Role, SaleStatus

# Sales that need someone: the outcome is unknown, the booking failed, or the till took the money and no booking
# followed (a paid sale still waiting to be booked). The after-sale exceptions list names each one.
EXCEPTION_STATUSES = (SaleStatus.OUTCOME_UNKNOWN, SaleStatus.FAILED)


@dataclass(frozen=True)
class StoreFigures:
    """A store on the Stores screen: its sales today (store time), open exceptions and active people."""

    store: Store
    sales_today: int
    open_exceptions: int
    people: int


def visible_store(user: User, store_id: int) -> Store | None:
    """Return a store the person may see: any store for head office, only their own for store staff."""
    if user.role != Role.ADMIN and user.store_id != store_id:
        return None
    return db.session.get(Store, store_id)


def is_exception() -> sa.ColumnElement[bool]:
    """The condition a sale needing someone meets."""
    return sa.or_(
        Sale.status.in_([s.value for s in EXCEPTION_STATUSES]),
        sa.and_(Sale.status == SaleStatus.QUOTED.value, Sale.payment_recorded_at.is_not(None)),
    )


def _counts(statement: sa.Select) -> dict[int, int]:
    """Run a (store_id, count) query into a dict."""
    return {store_id: count for store_id, count in db.session.execute(statement)}


def overview() -> list[StoreFigures]:
    """Return every store, by code, with its figures: one query per time zone the stores are in, two more."""
    stores = list(db.session.scalars(sa.select(Store).order_by(Store.code)))
    by_zone: dict[str, list[Store]] = defaultdict(list)
    for store in stores:
        by_zone[store.timezone].append(store)
    today: dict[int, int] = {}
    for zone, members in by_zone.items():
        start = datetime.combine(store_today(members[0]), time.min, tzinfo=ZoneInfo(zone))
        today |= _counts(
            sa.select(Sale.store_id, sa.func.count())
            .where(
                Sale.store_id.in_([s.id for s in members]),
                Sale.created_at >= start,
                Sale.created_at < start + timedelta(days=1),
            )
            .group_by(Sale.store_id)
        )
    exceptions = _counts(sa.select(Sale.store_id, sa.func.count()).where(is_exception()).group_by(Sale.store_id))
    people = _counts(
        sa.select(User.store_id, sa.func.count())
        .where(User.active.is_(True), User.store_id.is_not(None))
        .group_by(User.store_id)
    )
    return [StoreFigures(s, today.get(s.id, 0), exceptions.get(s.id, 0), people.get(s.id, 0)) for s in stores]
