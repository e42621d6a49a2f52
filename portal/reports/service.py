"""Every figure of the Reports screen, aggregated in SQL over one period in each store's own time zone.

The rules (which sales, policies and returns count, and when) are written out in docs/reports.md. Each query
groups by store, associate and currency (a sale keeps the currency it was sold in); Python only adds those
groups up into the tables, never walks sales. Amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..models import Correction, Cover, PolicyReturn, ReturnLine, Sale, SaleItem, Store, User, utcnow
from ..policies.machine import OPEN_RETURN
from ..vocab import CorrectionStatus, CoverStatus, Decision, DeclineReason, ReportPeriod, ReturnStatus, Role, SaleStatus
from .figures import ZERO, AssociateRow, DayRow, DeclineRow, Figures, PolicyTypeRow, Report, StoreRow, ratio
from .periods import Window, as_date, local_day, window, within

# A policy sold: booked by XCover, whatever became of it since (a return or a cancellation is counted as such).
SOLD = (CoverStatus.BOOKED, CoverStatus.RETURNING, CoverStatus.CANCELLING, CoverStatus.CANCELLED)
Key = tuple[int, int, str]  # store id, associate id, currency
# The longest period read sale by sale on PostgreSQL (_lateral): every preset, and custom ranges of two months.
PER_SALE_DAYS = 62


def _sales(windows: list[Window]) -> sa.Subquery:
    """The quoted sales inside the windows, each with its local day."""
    return (
        sa.select(
            Sale.id,
            Sale.store_id,
            Sale.associate_id,
            Sale.currency,
            local_day(windows, Sale.store_id, Sale.created_at).label("day"),
        )
        .where(within(windows, Sale.store_id, Sale.created_at), Sale.xcover_ref.is_not(None))
        .subquery("quoted_sale")
    )


def _lateral(windows: list[Window]) -> bool:
    """Tell whether to read each sale's covers and items through a LATERAL subquery (PostgreSQL, short periods).

    PostgreSQL's planner prices a probe of the index per sale above one scan of the whole cover or item table, and
    scans the table (every store, every day) for a month's sales. Probing is right for periods up to PER_SALE_DAYS;
    over a longer one (a custom range of up to a year) the planner's own choice is left alone.
    """
    return db.session.get_bind().dialect.name == "postgresql" and max(w.days for w in windows) <= PER_SALE_DAYS


def _by_day_and_person(windows: list[Window]) -> list[Any]:
    """Customers quoted and sales with cover per store, associate, currency and local day."""
    sale = _sales(windows)
    policy = sa.select(sa.literal(1)).where(Cover.sale_id == sale.c.id, Cover.status.in_([s.value for s in SOLD]))
    # PostgreSQL answers an EXISTS with one hashed scan of every sold policy (every store, every day): right for a
    # long custom range, not for a short period (_lateral), where a scalar subquery probes the index per sale.
    covered = policy.limit(1).scalar_subquery().is_not(None) if _lateral(windows) else policy.exists()
    return list(
        db.session.execute(
            sa.select(
                sale.c.store_id,
                sale.c.associate_id,
                sale.c.currency,
                sale.c.day,
                sa.func.count().label("quoted"),
                sa.func.sum(sa.case((covered, 1), else_=0)).label("covered"),
            ).group_by(sale.c.store_id, sale.c.associate_id, sale.c.currency, sale.c.day)
        )
    )


def _each_sale(windows: list[Window], sale_id: Any, *columns: Any, where: Any) -> sa.FromClause:
    """Covers or items (their sale_id and columns, where the condition holds) to join to their sale.

    SQLite always probes them sale by sale, and has no LATERAL. On PostgreSQL (_lateral) a LATERAL subquery makes
    the planner probe the index per sale; OFFSET 0 keeps it from flattening the subquery back into a plain join.
    """
    rows = sa.select(sale_id, *columns).where(where)
    return rows.where(sale_id == Sale.id).offset(0).lateral() if _lateral(windows) else rows.subquery()


def _policies(windows: list[Window]) -> list[Any]:
    """Policies sold, their price and tax, per store, associate, currency and policy type."""
    sold = Cover.status.in_([s.value for s in SOLD])
    cover = _each_sale(windows, Cover.sale_id, Cover.policy_type, Cover.price, Cover.tax, where=sold)
    return list(
        db.session.execute(
            sa.select(
                Sale.store_id,
                Sale.associate_id,
                Sale.currency,
                cover.c.policy_type,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(cover.c.price), 0),
                sa.func.coalesce(sa.func.sum(cover.c.tax), 0),
            )
            .join(cover, cover.c.sale_id == Sale.id)
            .where(within(windows, Sale.store_id, Sale.created_at), Sale.xcover_ref.is_not(None))
            .group_by(Sale.store_id, Sale.associate_id, Sale.currency, cover.c.policy_type)
        )
    )


def _declines(windows: list[Window]) -> list[Any]:
    """Products declined per store, associate, currency and reason, with the customers who declined them."""
    declined = SaleItem.decision == Decision.DECLINE.value
    item = _each_sale(windows, SaleItem.sale_id, SaleItem.decline_reason, where=declined)
    return list(
        db.session.execute(
            sa.select(
                Sale.store_id,
                Sale.associate_id,
                Sale.currency,
                item.c.decline_reason,
                sa.func.count(),
                sa.func.count(sa.distinct(item.c.sale_id)),
            )
            .join(item, item.c.sale_id == Sale.id)
            .where(within(windows, Sale.store_id, Sale.created_at), Sale.xcover_ref.is_not(None))
            .group_by(Sale.store_id, Sale.associate_id, Sale.currency, item.c.decline_reason)
        )
    )


def _returns(windows: list[Window]) -> list[Any]:
    """Returns confirmed inside the windows per store, associate (who sold) and currency: count, refund, cooling-off."""
    # A return is inside the cooling-off period when XCover said so for every policy in it.
    inside = (
        sa.select(sa.func.min(sa.case((ReturnLine.inside_cooling_off.is_(True), 1), else_=0)))
        .where(ReturnLine.return_id == PolicyReturn.id)
        .scalar_subquery()
    )
    return list(
        db.session.execute(
            sa.select(
                Sale.store_id,
                Sale.associate_id,
                PolicyReturn.currency,
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(PolicyReturn.refunded_amount), 0),
                sa.func.coalesce(sa.func.sum(inside), 0),
            )
            .join(Sale, Sale.id == PolicyReturn.sale_id)
            .where(
                PolicyReturn.status == ReturnStatus.CONFIRMED.value,
                within(windows, Sale.store_id, PolicyReturn.confirmed_at),
            )
            .group_by(Sale.store_id, Sale.associate_id, PolicyReturn.currency)
        )
    )


def exception_conditions(stale_after: timedelta, now: datetime | None = None) -> list[sa.Select]:
    """One (store, associate, currency) row per entry of the manager's exceptions list (policies/exceptions.py)."""
    now = now or utcnow()
    columns = (Sale.store_id, Sale.associate_id, Sale.currency)
    declined = sa.select(SaleItem.id).where(SaleItem.sale_id == Sale.id, SaleItem.decision == Decision.DECLINE.value)
    other = sa.select(SaleItem.id).where(
        SaleItem.sale_id == Sale.id,
        sa.or_(SaleItem.decision.is_(None), SaleItem.decision != Decision.DECLINE.value),
    )
    return [
        # Paid but not covered.
        sa.select(*columns).where(Sale.status == SaleStatus.QUOTED.value, Sale.payment_recorded_at.is_not(None)),
        # Outcome unknown, or a booking in flight past the time it should take.
        sa.select(*columns).where(
            sa.or_(
                Sale.status == SaleStatus.OUTCOME_UNKNOWN.value,
                sa.and_(Sale.status == SaleStatus.BOOKING.value, Sale.booking_started_at < now - stale_after),
            )
        ),
        # A failed booking the till took money for, not refunded yet.
        sa.select(*columns).where(
            Sale.status == SaleStatus.FAILED.value, Sale.payment_recorded_at.is_not(None), Sale.refunded_at.is_(None)
        ),
        # A return not finished.
        sa.select(*columns)
        .join(PolicyReturn, PolicyReturn.sale_id == Sale.id)
        .where(PolicyReturn.status.in_([s.value for s in OPEN_RETURN])),
        # A correction whose answer did not arrive (one entry per correction).
        sa.select(*columns)
        .join(Correction, Correction.sale_id == Sale.id)
        .where(Correction.status == CorrectionStatus.CONFIRMING.value),
        # Everything declined, but XCover never took the opt-out. Declining everything is the one path that sets
        # the sale's own decline reason (sales/options.py), so the index narrows the sales to look into first.
        sa.select(*columns).where(
            Sale.status == SaleStatus.QUOTED.value,
            Sale.decline_reason.is_not(None),
            declined.exists(),
            ~other.exists(),
        ),
    ]


def _exceptions(store_ids: list[int], stale_after: timedelta) -> list[Any]:
    """Open exceptions now (whatever the period) per store, associate and currency."""
    entries = sa.union_all(*(q.where(Sale.store_id.in_(store_ids)) for q in exception_conditions(stale_after)))
    entry = entries.subquery("open_exception")
    return list(
        db.session.execute(
            sa.select(entry.c.store_id, entry.c.associate_id, entry.c.currency, sa.func.count()).group_by(
                entry.c.store_id, entry.c.associate_id, entry.c.currency
            )
        )
    )


def _people(store_ids: list[int], ids: Iterable[int]) -> dict[int, User]:
    """The stores' active sellers, and anyone else the figures name."""
    query = sa.select(User).where(
        sa.or_(
            sa.and_(
                User.store_id.in_(store_ids),
                User.active.is_(True),
                User.role.in_([Role.ASSOCIATE.value, Role.MANAGER.value]),
            ),
            User.id.in_(list(ids)),
        )
    )
    return {user.id: user for user in db.session.scalars(query)}


def build(
    stores: list[Store],
    period: ReportPeriod,
    first: date | None = None,
    last: date | None = None,
    stale_after: timedelta = timedelta(minutes=2),
    now: datetime | None = None,
) -> Report:
    """Compute every table of the report for the stores over the period (custom: first to last, local dates)."""
    windows = [window(store, period, first, last, now) for store in stores]
    report = Report(period, windows, stores)
    if not stores:
        return report
    store_ids = [s.id for s in stores]
    groups: dict[Key, Figures] = defaultdict(Figures)
    per_day: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for store_id, person, currency, day, quoted, covered in _by_day_and_person(windows):
        figures = groups[(store_id, person, currency)]
        figures.quoted += quoted
        figures.covered += int(covered or 0)
        counts = per_day[as_date(day)]
        counts[0] += quoted
        counts[1] += int(covered or 0)
    by_type: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    for store_id, person, currency, kind, policies, revenue, tax in _policies(windows):
        figures = groups[(store_id, person, currency)]
        figures.policies += policies
        figures.revenue += Decimal(revenue)
        figures.tax += Decimal(tax)
        sold = by_type[(kind, currency)]
        sold[0] += policies
        sold[1] += Decimal(revenue)
        sold[2] += Decimal(tax)
    by_reason: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for store_id, person, currency, reason, products, customers in _declines(windows):
        groups[(store_id, person, currency)].declined += products
        by_reason[reason][0] += products
        by_reason[reason][1] += customers
    for store_id, person, currency, count, refunded, inside in _returns(windows):
        figures = groups[(store_id, person, currency)]
        figures.returns += count
        figures.refunded += Decimal(refunded)
        figures.returns_in_cooling_off += int(inside)
    for store_id, person, currency, count in _exceptions(store_ids, stale_after):
        groups[(store_id, person, currency)].exceptions += count

    by_id = {s.id: s for s in stores}
    people = _people(store_ids, {person for _, person, _ in groups})
    for user in people.values():
        if user.store_id in by_id:
            groups.setdefault((user.store_id, user.id, by_id[user.store_id].currency), Figures())
    report.by_associate = sorted(
        (AssociateRow(by_id[s], people[p], c, f) for (s, p, c), f in groups.items() if s in by_id and p in people),
        key=lambda r: (r.store.code, -r.figures.quoted, r.associate.display_name.casefold(), r.currency),
    )
    per_store: dict[tuple[int, str], Figures] = {(s.id, s.currency): Figures() for s in stores}
    totals: dict[str, Figures] = {}
    for (s, _, c), f in groups.items():
        per_store.setdefault((s, c), Figures()).add(f)
    for (_, c), f in per_store.items():
        totals.setdefault(c, Figures()).add(f)
    report.by_store = sorted(
        (StoreRow(by_id[s], c, f) for (s, c), f in per_store.items()), key=lambda r: (r.store.code, r.currency)
    )
    report.totals = sorted(totals.items())
    day = report.first
    while day <= report.last:
        quoted, covered = per_day.get(day, (0, 0))
        report.days.append(DayRow(day, quoted, covered))
        day += timedelta(days=1)
    declined = sum(products for products, _ in by_reason.values())
    report.declines = [
        DeclineRow(
            reason, by_reason[reason.value][0], by_reason[reason.value][1], ratio(by_reason[reason.value][0], declined)
        )
        for reason in DeclineReason
    ]
    report.policy_types = sorted(
        (PolicyTypeRow(kind, currency, n, revenue, tax) for (kind, currency), (n, revenue, tax) in by_type.items()),
        key=lambda p: (-p.policies, p.policy_type, p.currency),
    )
    return report
