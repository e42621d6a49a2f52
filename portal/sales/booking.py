"""Payment and booking: the till payment, the one booking call, and settling an outcome that did not arrive.

How an answer settles the sale (covered, back to payment, failed) is in settlement.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..config import BOOKING_MARGIN_SECONDS
from ..extensions import db
from ..i18n import N_, Message
from ..intl import money
from ..models import Sale, User, utcnow
from ..sensitive import derived_key, mask_email, new_key
from ..vocab import AuditAction, AuditResult, PaymentMethod, SaleStatus
from ..xcover.errors import (
    XCoverAuthError,
    XCoverConflict,
    XCoverError,
    XCoverNotFound,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
    XCoverValidationError,
)
from .lookup import chosen_covers, cover_total
from .machine import InvalidTransition, SaleError, XCoverClientLike, XCoverDown, audit, compare_and_set
from .quoting import POLICYHOLDER_KEYS, booking_body, map_field_errors
from .settlement import BookingResult, Raced, accept, back_to_quoted, fail, settle

UNKNOWN_MESSAGE = N_(
    "Not yet confirmed, checking: XCover's answer did not arrive. The customer is not covered until it does."
)
DOWN_MESSAGE = N_("XCover is not answering right now. Nothing was booked and everything is kept: tap Retry.")
LOST_MESSAGE = N_(
    "The booking was lost on its way and XCover never made it. Nothing was booked and everything is kept: tap Retry."
)
# XCover's answer to a request whose key is still held by an earlier request in flight.
IN_FLIGHT = 423


@dataclass(frozen=True)
class Deadlines:
    """When a check may act on a booking still marked as being sent.

    stale: after this, a check replays the booking with its key (the sale page, `flask reconcile`).
    lost: after this, no request of ours can still be carrying the booking (the client's whole-call budget
    plus a margin), so XCover saying it has no booking while it still holds the key means none will come.
    """

    stale: timedelta
    lost: timedelta | None = None


def deadlines(config: Mapping[str, Any], stale_seconds: float | None = None) -> Deadlines:
    """Return the deadlines from the app config (BOOKING_STALE_SECONDS, XCOVER_TOTAL_BUDGET)."""
    stale = config["BOOKING_STALE_SECONDS"] if stale_seconds is None else stale_seconds
    lost = float(config["XCOVER_TOTAL_BUDGET"]) + BOOKING_MARGIN_SECONDS
    return Deadlines(stale=timedelta(seconds=stale), lost=timedelta(seconds=lost))


def amount_errors(sale: Sale, amount: Decimal | None) -> dict[str, list[str]]:
    """Return the error for an amount collected that is not the cover total (none when it is, or is missing)."""
    total = cover_total(sale)
    if amount is None or amount == total:
        return {}
    shown = money(total, sale.currency, sale.store)
    return {"amount_collected": [Message(N_("Must be exactly %(total)s, the cover total."), total=shown)]}


def record_payment(
    sale: Sale, user: User, method: str, receipt_number: str, amount: Decimal, card_last4: str = ""
) -> Sale:
    """Store the till payment for the cover; the amount must equal the cover total."""
    if sale.status != SaleStatus.QUOTED or not chosen_covers(sale):
        raise InvalidTransition(N_("This sale is not waiting for payment."))
    wrong_amount = amount_errors(sale, amount)
    if wrong_amount:
        raise SaleError(N_("The amount must equal the cover total."), wrong_amount)
    if PaymentMethod.get(method) is None:
        raise SaleError(N_("Choose a payment method."), {"payment_method": [N_("Choose card, cash or other.")]})
    sale.payment_method = method
    sale.receipt_number = receipt_number.strip()
    sale.amount_collected = amount
    sale.card_last4 = card_last4 or None
    sale.payment_recorded_at = utcnow()
    audit(
        AuditAction.SALE_PAYMENT_RECORDED,
        user,
        sale,
        method=method,
        receipt=sale.receipt_number,
        amount=str(amount),
        currency=sale.currency,
    )
    db.session.commit()
    return sale


def booking_payload(sale: Sale) -> dict[str, Any]:
    """Build the create-booking body: the chosen quote ids and the policyholder."""
    customer = {ours: getattr(sale, ours) for ours in POLICYHOLDER_KEYS.values()}
    return booking_body([c.quote_id for c in chosen_covers(sale) if c.quote_id], customer)


def book(sale: Sale, user: User | None, client: XCoverClientLike) -> BookingResult:
    """Send the booking once: claim the sale with a compare-and-set, then call XCover with the stored key."""
    if sale.payment_recorded_at is None or sale.idempotency_key is None:
        raise InvalidTransition(N_("Record the payment before booking."))
    if sale.amount_collected != cover_total(sale):
        raise InvalidTransition(N_("The amount collected does not match the cover chosen: record the payment again."))
    db.session.commit()
    # Only the request whose conditional UPDATE wins may call XCover: a double tap never books twice.
    if not compare_and_set(sale, SaleStatus.QUOTED, SaleStatus.BOOKING, booking_started_at=utcnow()):
        db.session.rollback()
        return BookingResult(sale, sent=False, message=N_("This booking is already on its way."))
    db.session.refresh(sale)
    audit(
        AuditAction.SALE_BOOKING_SENT,
        user,
        sale,
        xcover_ref=sale.xcover_ref,
        quotes=len(chosen_covers(sale)),
        amount=str(sale.cover_total),
    )
    db.session.commit()
    return _send_booking(sale, user, client, expected=SaleStatus.BOOKING)


def _send_booking(
    sale: Sale, user: User | None, client: XCoverClientLike, expected: SaleStatus, lost: timedelta | None = None
) -> BookingResult:
    """Call create booking with the sale's key and settle the sale, unless another check settled it first."""
    try:
        return _call_and_settle(sale, user, client, expected, lost)
    except Raced:
        db.session.rollback()
        db.session.refresh(sale)
        return BookingResult(sale, sent=True, message=N_("Settled by another check."))


def _call_and_settle(
    sale: Sale, user: User | None, client: XCoverClientLike, expected: SaleStatus, lost: timedelta | None
) -> BookingResult:
    """Call create booking with the sale's key and settle the sale from the answer."""
    try:
        booking = client.create_booking(sale.xcover_ref, booking_payload(sale), idempotency_key=sale.idempotency_key)
    except (XCoverOutcomeUnknown, XCoverConflict) as exc:
        if exc.status == IN_FLIGHT:
            # The key is held by a request in flight, perhaps one whose worker died: ask for the booking itself.
            found = _look_up(sale, user, client, lost)
            if found is not None:
                return found
        # Maybe applied: never say covered, never say failed; the same key settles it later.
        if expected == SaleStatus.BOOKING:
            settle(sale, SaleStatus.OUTCOME_UNKNOWN, last_error=None)
            audit(
                AuditAction.SALE_OUTCOME_UNKNOWN,
                user,
                sale,
                result=AuditResult.PENDING,
                xcover_ref=sale.xcover_ref,
                reason=type(exc).__name__,
            )
            db.session.commit()
        return BookingResult(sale, sent=True, message=UNKNOWN_MESSAGE)
    except XCoverValidationError as exc:
        errors = map_field_errors(exc.field_errors(), [])
        general = errors.pop("__all__", [])
        if errors:
            return back_to_quoted(
                sale, user, N_("XCover refused the customer details: please correct them."), errors, reason="validation"
            )
        # No field to correct: XCover declined the booking itself, unless the package is booked already (an
        # attempt given up as lost that XCover made late): that booking is ours.
        made = _booking_of(sale, client)
        if made is not None:
            return accept(sale, user, made)
        reason = " ".join(general) or exc.message
        return fail(sale, user, f"XCover declined the booking. {reason}"[:500], status=exc.status)
    except (XCoverUnavailable, XCoverRateLimited, XCoverAuthError) as exc:
        if expected == SaleStatus.OUTCOME_UNKNOWN:
            # This retry did not get through; the first attempt may still have been applied.
            return BookingResult(sale, sent=True, message=UNKNOWN_MESSAGE)
        return back_to_quoted(sale, user, DOWN_MESSAGE, None, reason=type(exc).__name__)
    except XCoverError as exc:
        return fail(sale, user, f"XCover refused the booking: {exc.message}"[:500], status=exc.status)
    return accept(sale, user, booking)


def _look_up(sale: Sale, user: User | None, client: XCoverClientLike, lost: timedelta | None) -> BookingResult | None:
    """Settle from XCover's own record of the booking (None when that proves nothing yet).

    XCover's booking id is the quote package's INS reference. A booking found is judged as a booking answer
    is. None found, once no request of ours can still carry it (lost), means it was never made: the sale goes
    back to payment with a new key, as the old one stays held by the dead request.
    """
    try:
        found = client.get_booking(sale.xcover_ref)
    except XCoverNotFound:
        found = None
    except XCoverError:
        return None
    if found is not None:
        return accept(sale, user, found)
    started = sale.booking_started_at or sale.updated_at
    if lost is None or utcnow() - started < lost:
        return None
    settle(sale, SaleStatus.QUOTED, last_error=LOST_MESSAGE, idempotency_key=new_key(), booking_started_at=None)
    audit(
        AuditAction.SALE_BOOKING_FAILED,
        user,
        sale,
        result=AuditResult.FAILURE,
        xcover_ref=sale.xcover_ref,
        reason="lost_in_flight",
    )
    db.session.commit()
    return BookingResult(sale, sent=True, message=LOST_MESSAGE)


def _booking_of(sale: Sale, client: XCoverClientLike) -> Any:
    """Return XCover's booking of the sale's package, or None when there is none (or no answer)."""
    try:
        return client.get_booking(sale.xcover_ref)
    except XCoverError:
        return None


def reconcile(
    sale: Sale, user: User | None, client: XCoverClientLike, stale_after: timedelta | Deadlines
) -> BookingResult:
    """Settle an unknown outcome: replay create booking with the same key (XCover answers 409 with the result).

    While an earlier request still holds the key (423), XCover's record of the booking decides (see _look_up).
    """
    limits = stale_after if isinstance(stale_after, Deadlines) else Deadlines(stale=stale_after)
    if sale.status == SaleStatus.BOOKING:
        started = sale.booking_started_at or sale.updated_at
        if utcnow() - started < limits.stale:
            return BookingResult(sale, sent=False, message=N_("The booking is still on its way."))
        if not compare_and_set(sale, SaleStatus.BOOKING, SaleStatus.OUTCOME_UNKNOWN):
            db.session.rollback()
            return BookingResult(sale, sent=False, message=N_("Already settled."))
        db.session.refresh(sale)
        audit(
            AuditAction.SALE_OUTCOME_UNKNOWN,
            user,
            sale,
            result=AuditResult.PENDING,
            xcover_ref=sale.xcover_ref,
            stale=True,
        )
        db.session.commit()
    if sale.status != SaleStatus.OUTCOME_UNKNOWN:
        return BookingResult(sale, sent=False, message=N_("Nothing to check."))
    result = _send_booking(sale, user, client, expected=SaleStatus.OUTCOME_UNKNOWN, lost=limits.lost)
    if result.sale.status == SaleStatus.OUTCOME_UNKNOWN:
        return result
    audit(AuditAction.SALE_RECONCILED, user, sale, xcover_ref=sale.xcover_ref, status=sale.status)
    db.session.commit()
    return result


def sales_to_reconcile(stale_after: timedelta) -> list[Sale]:
    """Return every sale whose booking outcome is unknown or whose booking has been in flight too long."""
    cutoff = utcnow() - stale_after
    return list(
        db.session.scalars(
            sa.select(Sale)
            .where(
                sa.or_(
                    Sale.status == SaleStatus.OUTCOME_UNKNOWN,
                    sa.and_(Sale.status == SaleStatus.BOOKING, Sale.booking_started_at < cutoff),
                )
            )
            .order_by(Sale.id)
        )
    )


def resend_email(sale: Sale, user: User, client: XCoverClientLike, form_token: str = "") -> None:
    """Ask XCover to email the customer their policy confirmation again (once per form the associate taps)."""
    if sale.status != SaleStatus.BOOKED:
        raise InvalidTransition(N_("Only a booked sale has a confirmation to send."))
    # The key is derived from the tapped form's own token: taps of one form at once (or a resent request) carry the
    # same key and XCover sends one email; the button on a page loaded again is a new email.
    seed = form_token or new_key()
    key = derived_key(f"send-email:{sale.xcover_ref}:{seed}")
    try:
        client.send_email(sale.xcover_ref, idempotency_key=key)
    except XCoverError:
        raise XCoverDown(N_("XCover is not answering right now; try sending the email again in a moment.")) from None
    audit(AuditAction.SALE_EMAIL_RESENT, user, sale, xcover_ref=sale.xcover_ref, to=mask_email(sale.email))
    db.session.commit()
