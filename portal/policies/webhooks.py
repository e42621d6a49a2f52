"""XCover's webhooks: a booking updated or cancelled at XCover (say, by the customer on xcover.com) updates the sale.

Webhooks carry no event id, so a repeated delivery is made harmless by the state itself: each change is a
compare-and-set from the state it changes, and a delivery that changes nothing records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..audit import record
from ..extensions import db
from ..i18n import N_
from ..models import Cover, PolicyReturn, Sale
from ..sales.machine import compare_and_set
from ..vocab import AuditAction, AuditResult, CoverStatus, ReturnStatus, SaleStatus
from ..xcover.types import as_list, money
from .machine import move, move_covers

XCOVER = "XCover"
HANDLED = ("BOOKING_UPDATED", "BOOKING_CANCELLED")
# A webhook may cancel a policy in force or waiting in a return; one being cancelled by a return in flight is
# left to that return, which settles it from XCover's own answer.
CANCELLABLE = (CoverStatus.BOOKED, CoverStatus.RETURNING)


@dataclass
class Outcome:
    """What a delivery did, for the log line and the answer."""

    note: str
    sale_id: int | None = None
    changed: dict[str, Any] = field(default_factory=dict)


def handle(event: str, payload: Any) -> Outcome:
    """Apply one webhook to the sale it is about; unknown events and bookings change nothing."""
    if event not in HANDLED:
        return Outcome(f"event {event or '(none)'} is not one the portal acts on")
    ref = payload.get("id") if isinstance(payload, dict) else None
    sale = db.session.scalar(sa.select(Sale).where(Sale.xcover_ref == str(ref))) if ref else None
    if sale is None:
        return Outcome("unknown booking")
    quotes = {str(q.get("id")): q for q in as_list(payload.get("quotes")) if isinstance(q, dict)}
    everything = event == "BOOKING_CANCELLED" and payload.get("status") == "CANCELLED"
    cancelled: list[Cover] = []
    changed: dict[str, dict[str, list[str | None]]] = {}
    for cover in sale.covers:
        quote = quotes.get(cover.quote_id or "")
        if cover.status in CANCELLABLE and (
            (quote is not None and quote.get("status") == "CANCELLED") or (everything and quote is None)
        ):
            if move_covers([cover.id], CANCELLABLE, CoverStatus.CANCELLED):
                cancelled.append(cover)
        elif quote is not None and cover.status == CoverStatus.BOOKED:
            changes = _policy_changes(cover, quote)
            if changes:
                changed[cover.quote_id or str(cover.id)] = changes
    if not cancelled and not changed:
        db.session.rollback()
        return Outcome("nothing to change", sale.id)
    overtaken = _close_overtaken_returns(sale, {c.id for c in cancelled})
    if cancelled and sale.status == SaleStatus.BOOKED and not any(c.status in _LIVE for c in sale.covers):
        compare_and_set(sale, SaleStatus.BOOKED, SaleStatus.CANCELLED)
        db.session.refresh(sale)
    details: dict[str, Any] = {"event": event, "xcover_ref": sale.xcover_ref, "sale_status": sale.status}
    if cancelled:
        details["cancelled"] = [c.quote_id for c in cancelled]
    if changed:
        details["changed"] = changed
    if overtaken:
        details["returns_closed"] = overtaken
    _record(AuditAction.XCOVER_BOOKING_CANCELLED if cancelled else AuditAction.XCOVER_BOOKING_UPDATED, sale, details)
    db.session.commit()
    return Outcome("applied", sale.id, details)


_LIVE = (CoverStatus.BOOKED, CoverStatus.RETURNING, CoverStatus.CANCELLING)


def _policy_changes(cover: Cover, quote: dict[str, Any]) -> dict[str, list[str | None]]:
    """Bring a policy in force up to XCover's price and dates; return what changed ([old, new])."""
    wanted: dict[str, Any] = {}
    if quote.get("price") is not None and money(quote["price"]) != cover.price:
        wanted["price"] = money(quote["price"])
    for ours, theirs in (("start_date", "policy_start_date"), ("end_date", "policy_end_date")):
        value = quote.get(theirs)
        if value and str(value)[:10] != (getattr(cover, ours) or "")[:10]:
            wanted[ours] = str(value)[:40]
    changes: dict[str, list[str | None]] = {}
    for name, new in wanted.items():
        column, old = getattr(Cover, name), getattr(cover, name)
        # Conditional on the value it replaces, so two deliveries at once change (and record) it once.
        values = {
            name: new,
            **({"price_formatted": str(quote.get("price_formatted") or "")} if name == "price" else {}),
        }
        moved = db.session.execute(
            sa.update(Cover)
            .where(Cover.id == cover.id, column.is_not_distinct_from(old))
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            changes[name] = [None if old is None else str(old), str(new)]
    if changes:
        db.session.refresh(cover)
    return changes


def _close_overtaken_returns(sale: Sale, cancelled_ids: set[int]) -> list[int]:
    """Close returns still waiting for policies XCover has now cancelled; their other policies stay in force."""
    closed = []
    waiting = [r for r in sale.returns if r.status in (ReturnStatus.PREVIEWED, ReturnStatus.APPROVED)]
    for ret in waiting:
        ids = [line.cover_id for line in ret.lines]
        if not cancelled_ids & set(ids):
            continue
        message = N_("XCover cancelled some of these policies meanwhile; nothing was refunded by this return.")
        if _close(ret, message):
            move_covers(ids, [CoverStatus.RETURNING], CoverStatus.BOOKED)
            _record(AuditAction.RETURN_FAILED, sale, {"return_id": ret.id, "reason": message}, AuditResult.FAILURE)
            closed.append(ret.id)
    return closed


def _close(ret: PolicyReturn, message: str) -> bool:
    """Move a waiting return to failed, unless another request moved it first."""
    return move(ret, [ReturnStatus.PREVIEWED, ReturnStatus.APPROVED], ReturnStatus.FAILED, last_error=message)


def _record(
    action: AuditAction, sale: Sale, details: dict[str, Any], result: AuditResult = AuditResult.SUCCESS
) -> None:
    """Record an event XCover caused, in the sale's store's chain."""
    record(
        action,
        actor_name=XCOVER,
        store_id=sale.store_id,
        object_type="sale",
        object_id=sale.id,
        result=result,
        details=details,
    )
