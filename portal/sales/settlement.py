"""Settling a booking from XCover's answer: covered (confirmed, at the quoted prices), back to payment, or failed.

Each move is a compare-and-set from the status the sale was read in: a check that lost the race raises Raced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..extensions import db
from ..i18n import N_
from ..intl import money
from ..models import Cover, Sale, User, utcnow
from ..vocab import AuditAction, AuditResult, CoverStatus, SaleStatus
from .lookup import chosen_covers
from .machine import audit, compare_and_set


@dataclass
class BookingResult:
    """What came of a booking attempt, for the page."""

    sale: Sale
    sent: bool
    message: str = ""
    problems: list[str] = field(default_factory=list)


class Raced(Exception):
    """Another request settled the sale first."""


def settle(sale: Sale, new: SaleStatus, **values: Any) -> None:
    """Move a sale on from booking/outcome unknown, only if nobody else did meanwhile."""
    if not compare_and_set(sale, sale.status, new, **values):
        raise Raced()
    db.session.refresh(sale)


def back_to_quoted(
    sale: Sale, user: User | None, message: str, errors: dict[str, list[str]] | None, reason: str
) -> BookingResult:
    """Nothing was applied at XCover: let the associate fix or retry with everything kept."""
    settle(sale, SaleStatus.QUOTED, last_error=message, field_errors=errors)
    audit(
        AuditAction.SALE_BOOKING_FAILED,
        user,
        sale,
        result=AuditResult.FAILURE,
        xcover_ref=sale.xcover_ref,
        reason=reason,
        fields=sorted(errors or {}),
    )
    db.session.commit()
    return BookingResult(sale, sent=True, message=message)


def fail(
    sale: Sale, user: User | None, message: str, problems: list[str] | None = None, **details: Any
) -> BookingResult:
    """Close the booking as failed, saying why."""
    settle(sale, SaleStatus.FAILED, last_error=message)
    audit(
        AuditAction.SALE_BOOKING_FAILED, user, sale, result=AuditResult.FAILURE, xcover_ref=sale.xcover_ref, **details
    )
    db.session.commit()
    return BookingResult(sale, sent=True, message=message, problems=problems or [])


def check_booking(booking: Any, covers: list[Cover]) -> list[str]:
    """Return what is wrong with a booking answer: status, prices and errors (empty when it is good)."""
    problems: list[str] = []
    if booking.status != "CONFIRMED":
        problems.append(f"XCover says the booking is {booking.status}, not confirmed.")
    if booking.errors:
        problems.append(f"XCover reported errors: {booking.errors}")
    booked = {q.id: q for q in booking.quotes}
    for cover in covers:
        quote = booked.get(cover.quote_id)
        name = cover.title or cover.policy_type
        if quote is None:
            problems.append(f"{name} is missing from the booking.")
        elif quote.status != "CONFIRMED":
            problems.append(f"{name} is {quote.status}.")
        elif quote.price != cover.price:
            sale = cover.sale
            problems.append(
                f"{name} was booked at {money(quote.price, sale.currency, sale.store)}, "
                f"quoted at {money(cover.price, sale.currency, sale.store)}."
            )
    return problems


def accept(sale: Sale, user: User | None, booking: Any) -> BookingResult:
    """Accept a booking only when confirmed, at the quoted prices, with no errors."""
    covers = chosen_covers(sale)
    booked = {q.id: q for q in booking.quotes}
    for cover in covers:
        quote = booked.get(cover.quote_id)
        good = quote is not None and quote.status == "CONFIRMED" and quote.price == cover.price
        cover.status = CoverStatus.BOOKED if good else CoverStatus.FAILED
        if quote is not None:
            cover.start_date = quote.policy_start_date or cover.start_date
            cover.end_date = quote.policy_end_date or cover.end_date
            cover.pds_url = quote.pds_url or cover.pds_url
    sale.coi_url = booking.coi_url or booking.coi_pdf_url
    sale.pds_url = booking.pds_url or sale.pds_url
    problems = check_booking(booking, covers)
    if problems:
        in_force = [c for c in covers if c.status == CoverStatus.BOOKED]
        message = N_("Booking partly failed.") if in_force else N_("XCover did not confirm the booking.")
        return fail(
            sale,
            user,
            f"{message} {' '.join(problems)}"[:500],
            problems,
            issues=problems[:5],
            xcover_status=booking.status,
        )
    settle(sale, SaleStatus.BOOKED, booked_at=utcnow(), last_error=None, field_errors=None)
    audit(
        AuditAction.SALE_BOOKED,
        user,
        sale,
        xcover_ref=booking.id,
        policies=len(covers),
        total=str(booking.total_price),
        currency=booking.currency,
    )
    db.session.commit()
    return BookingResult(sale, sent=True, message=N_("Covered."))
