"""The store's exceptions: every sale that needs a person, each with the one action that settles it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import url_for

from ..extensions import db
from ..i18n import N_
from ..models import Correction, PolicyReturn, Sale, SaleItem, Store, utcnow
from ..vocab import CorrectionStatus, Decision, ReturnStatus, SaleStatus


@dataclass(frozen=True)
class Attention:
    """One row of the list: what is wrong, with which sale, since when, and what settles it."""

    kind: str
    title: str
    sale: Sale
    since: datetime
    detail: str
    action: str
    url: str
    post: bool = False


def needs_attention(store: Store, stale_after: timedelta) -> list[Attention]:
    """Return what needs a person in a store, oldest first."""
    rows = [
        *_paid_not_covered(store),
        *_outcome_unknown(store, stale_after),
        *_failed_bookings(store),
        *_returns(store),
        *_corrections(store),
        *_opt_outs(store),
    ]
    return sorted(rows, key=lambda r: (r.since, r.sale.id))


def _sales(store: Store, *where: sa.ColumnElement[bool]) -> list[Sale]:
    """The store's sales matching the conditions."""
    return list(db.session.scalars(sa.select(Sale).where(Sale.store_id == store.id, *where).order_by(Sale.id)))


def _paid_not_covered(store: Store) -> list[Attention]:
    """Paid at the till, but the booking never went through (XCover down or refused a detail)."""
    return [
        Attention(
            "paid_not_covered",
            N_("Paid but not covered"),
            sale,
            sale.payment_recorded_at or sale.updated_at,
            sale.last_error or N_("The customer paid for cover that is not booked yet."),
            N_("Finish the booking"),
            url_for("sales.payment", sale_id=sale.id),
        )
        for sale in _sales(store, Sale.status == SaleStatus.QUOTED, Sale.payment_recorded_at.is_not(None))
    ]


def _outcome_unknown(store: Store, stale_after: timedelta) -> list[Attention]:
    """A booking whose answer never arrived, or still in flight past the time it should take."""
    stuck = sa.or_(
        Sale.status == SaleStatus.OUTCOME_UNKNOWN,
        sa.and_(Sale.status == SaleStatus.BOOKING, Sale.booking_started_at < utcnow() - stale_after),
    )
    return [
        Attention(
            "outcome_unknown",
            N_("Outcome unknown"),
            sale,
            sale.booking_started_at or sale.updated_at,
            N_("XCover's answer to the booking did not arrive; the customer is not covered until it does."),
            N_("Check again"),
            url_for("sales.check", sale_id=sale.id),
            post=True,
        )
        for sale in _sales(store, stuck)
    ]


def _failed_bookings(store: Store) -> list[Attention]:
    """A booking XCover declined after the till took the money, not yet refunded."""
    return [
        Attention(
            "failed",
            N_("Booking failed"),
            sale,
            sale.booking_started_at or sale.updated_at,
            sale.last_error or N_("XCover did not book the cover the customer paid for."),
            N_("Record the refund"),
            url_for("policies.refund_failed", sale_id=sale.id),
        )
        for sale in _sales(
            store,
            Sale.status == SaleStatus.FAILED,
            Sale.payment_recorded_at.is_not(None),
            Sale.refunded_at.is_(None),
        )
    ]


_RETURN_ROWS = {
    ReturnStatus.PREVIEWED: (N_("Return awaiting approval"), N_("Approve or refuse"), False),
    ReturnStatus.APPROVED: (N_("Return approved, not yet cancelled"), N_("Confirm the cancellation"), False),
    ReturnStatus.CONFIRMING: (N_("Return cancellation unconfirmed"), N_("Check again"), True),
}


def _returns(store: Store) -> list[Attention]:
    """Returns not finished: awaiting a manager, approved but not confirmed, or with XCover's answer missing."""
    rows = db.session.scalars(
        sa.select(PolicyReturn)
        .join(Sale, Sale.id == PolicyReturn.sale_id)
        .where(Sale.store_id == store.id, PolicyReturn.status.in_(tuple(_RETURN_ROWS)))
        .order_by(PolicyReturn.id)
    )
    found = []
    for ret in rows:
        title, action, post = _RETURN_ROWS[ret.status]
        endpoint = "policies.check_return" if post else "policies.show_return"
        detail = f"{len(ret.lines)} {'policy' if len(ret.lines) == 1 else 'policies'}, requested by "
        detail += ret.requested_by.display_name
        if ret.expired() and ret.status != ReturnStatus.CONFIRMING:
            title, action, detail = (
                N_("Return preview expired"),
                N_("Preview again"),
                f"{detail}; XCover's preview expired",
            )
        found.append(
            Attention(
                f"return_{ret.status}",
                title,
                ret.sale,
                ret.created_at,
                detail,
                action,
                url_for(endpoint, sale_id=ret.sale_id, return_id=ret.id),
                post=post,
            )
        )
    return found


def _corrections(store: Store) -> list[Attention]:
    """Corrections sent to XCover whose answer did not arrive."""
    rows = db.session.scalars(
        sa.select(Correction)
        .join(Sale, Sale.id == Correction.sale_id)
        .where(Sale.store_id == store.id, Correction.status == CorrectionStatus.CONFIRMING)
        .order_by(Correction.id)
    )
    return [
        Attention(
            "correction_unconfirmed",
            N_("Correction unconfirmed"),
            c.sale,
            c.updated_at,
            N_("XCover's answer to a correction did not arrive."),
            N_("Check again"),
            url_for("policies.check_correction", sale_id=c.sale_id, correction_id=c.id),
            post=True,
        )
        for c in rows
    ]


def _opt_outs(store: Store) -> list[Attention]:
    """The customer declined everything, but XCover never took the opt-out."""
    declined = sa.select(SaleItem.id).where(SaleItem.sale_id == Sale.id, SaleItem.decision == Decision.DECLINE)
    other = sa.select(SaleItem.id).where(
        SaleItem.sale_id == Sale.id,
        sa.or_(SaleItem.decision.is_(None), SaleItem.decision != Decision.DECLINE),
    )
    return [
        Attention(
            "opt_out",
            N_("Opt-out not sent to XCover"),
            sale,
            sale.updated_at,
            N_("The customer declined cover; XCover has not been told."),
            N_("Send the opt-out"),
            url_for("sales.opt_out", sale_id=sale.id),
            post=True,
        )
        for sale in _sales(store, Sale.status == SaleStatus.QUOTED, declined.exists(), ~other.exists())
    ]
