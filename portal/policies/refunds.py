"""The till refund of cover the customer paid for that XCover did not book (a failed booking)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from ..extensions import db
from ..i18n import N_
from ..models import Sale, User, utcnow
from ..sales.machine import InvalidTransition, SaleError, audit
from ..vocab import AuditAction, CoverStatus, SaleStatus


def refund_due(sale: Sale) -> Decimal:
    """Return what the customer paid for cover that was not booked (chosen, then failed or never booked)."""
    unbooked = (CoverStatus.CHOSEN, CoverStatus.FAILED)
    return sum((c.price for c in sale.covers if c.status in unbooked and c.quote_id), Decimal("0.00"))


def needs_refund(sale: Sale) -> bool:
    """Tell whether a failed booking's payment still waits for its refund to be recorded."""
    return sale.status == SaleStatus.FAILED and sale.payment_recorded_at is not None and sale.refunded_at is None


def record_refund(sale: Sale, user: User, reference: str) -> None:
    """Record the till's refund for a failed booking, once."""
    reference = reference.strip()
    if not reference:
        message = N_("Enter the till's refund reference.")
        raise SaleError(message, {"refund_reference": [message]})
    if not needs_refund(sale):
        raise InvalidTransition(N_("This sale has no refund waiting to be recorded."))
    # Conditional on no refund yet, so two taps record it once.
    done = db.session.execute(
        sa.update(Sale)
        .where(Sale.id == sale.id, Sale.status == SaleStatus.FAILED, Sale.refunded_at.is_(None))
        .values(refund_reference=reference, refunded_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        db.session.rollback()
        raise InvalidTransition(N_("This refund was recorded on another screen meanwhile."))
    db.session.refresh(sale)
    audit(
        AuditAction.SALE_REFUND_RECORDED,
        user,
        sale,
        xcover_ref=sale.xcover_ref,
        amount=str(refund_due(sale)),
        currency=sale.currency,
        refund_reference=reference,
    )
    db.session.commit()
