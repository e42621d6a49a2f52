"""The options screen: the customer's pick or "No thanks" per product, the acknowledgement and the opt-out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Decimal

import sqlalchemy as sa

from ..extensions import db
from ..i18n import N_
from ..models import AuditEvent, Cover, Sale, User, utcnow
from ..sensitive import derived_key
from ..vocab import AuditAction, CoverStatus, Decision, DeclineReason, SaleStatus
from ..xcover.errors import XCoverError
from ..xcover.html import content_disclaimer
from .lookup import chosen_covers, cover_total, options_by_item
from .machine import (
    InvalidTransition,
    SaleError,
    XCoverClientLike,
    XCoverDown,
    audit,
    compare_and_set,
    new_booking_body,
)

OPT_OUT_DOWN_MESSAGE = N_("XCover did not receive the opt-out. Tap Retry; the customer's answer is kept.")


def quote_event(action: AuditAction) -> sa.ColumnElement[bool]:
    """A sale's events of one action for its current quote (bind quote_event_values(sale)).

    The store's chain keys the (chain, object) index; the quote is the xcover_ref in the event's details.
    """
    return sa.and_(
        AuditEvent.chain_key == sa.bindparam("store_id"),
        AuditEvent.object_type == "sale",
        AuditEvent.object_id == sa.bindparam("sale_id"),
        AuditEvent.action == action,
        AuditEvent.details["xcover_ref"].as_string() == sa.bindparam("xcover_ref"),
    )


def quote_event_values(sale: Sale) -> dict[str, object]:
    """The values quote_event's statement is bound with for a sale."""
    return {"store_id": sale.store_id, "sale_id": str(sale.id), "xcover_ref": sale.xcover_ref or ""}


# Built once: building the statement costs more than running it.
_SHOWN = sa.select(sa.func.count()).select_from(AuditEvent).where(quote_event(AuditAction.SALE_OPTIONS_SHOWN))


def mark_options_shown(sale: Sale, user: User) -> None:
    """Record once per quote that the options (and their policy versions) were shown."""
    seen = db.session.scalar(_SHOWN, quote_event_values(sale))
    if seen:
        return
    audit(
        AuditAction.SALE_OPTIONS_SHOWN,
        user,
        sale,
        xcover_ref=sale.xcover_ref,
        policy_versions={c.quote_id: c.policy_version for c in sale.covers if c.quote_id},
    )
    db.session.commit()


def disclaimer_hash(covers: list[Cover]) -> str:
    """Return the SHA-256 of the disclaimers exactly as the page shows them (cleaned HTML), chosen covers in order."""
    text = "\n\n".join(str(content_disclaimer(c.content)) for c in covers)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_choices(
    sale: Sale,
    user: User,
    client: XCoverClientLike,
    choices: Mapping[int, int | None],
    reasons: Mapping[int, str],
    acknowledged: bool,
    on_customer_view: bool = False,
) -> Sale:
    """Store the customer's pick (or "No thanks" and why) per product; all declined sends XCover an opt-out.

    on_customer_view: the customer acknowledged the key facts themselves, on the customer view.
    """
    acknowledged = acknowledged or on_customer_view
    if sale.status != SaleStatus.QUOTED:
        raise InvalidTransition(N_("The options for this sale can no longer be changed."))
    errors: dict[str, list[str]] = {}
    chosen: list[Cover] = []
    for item, covers in options_by_item(sale):
        pick = choices.get(item.id)
        offered = {c.id: c for c in covers if c.quote_id}
        if pick is None and item.id not in choices:
            if offered:
                errors[f"choice_{item.id}"] = [N_("Choose an option or No thanks.")]
            continue
        if pick is None:
            if DeclineReason.get(reasons.get(item.id)) is None:
                errors[f"reason_{item.id}"] = [N_("Ask the customer why, and choose a reason.")]
            continue
        if pick not in offered:
            errors[f"choice_{item.id}"] = [N_("That option is not on offer; choose again.")]
            continue
        chosen.append(offered[pick])
    if chosen and not acknowledged:
        errors["acknowledged"] = [N_("The customer must confirm they have seen the key facts.")]
    if errors:
        raise SaleError(N_("Please check the highlighted choices."), errors)
    chosen_ids = {c.id for c in chosen}
    if chosen_ids != {c.id for c in chosen_covers(sale)}:
        # A payment recorded for other cover no longer holds: the amount must be collected again.
        sale.payment_recorded_at = None
        sale.amount_collected = None
        sale.last_error = None
        sale.field_errors = None
        new_booking_body(sale)
    for item, covers in options_by_item(sale):
        pick = choices.get(item.id)
        item.decision = Decision.ADD if pick is not None else (Decision.DECLINE if item.id in choices else None)
        item.decline_reason = reasons.get(item.id) if item.decision == Decision.DECLINE else None
        for c in covers:
            if c.quote_id:
                c.status = CoverStatus.CHOSEN if c.id in chosen_ids else CoverStatus.NOT_TAKEN
    declined = [item for item in sale.items if item.decision == Decision.DECLINE]
    # The sale's own columns are set before the first audit event: the event flushes them, so the sale's row is
    # locked before the chain head, the order every writer keeps (the other way round, taps at once deadlocked).
    if chosen:
        sale.acknowledged_at = utcnow()
        sale.ack_policy_versions = {c.quote_id: c.policy_version for c in chosen}
        sale.ack_disclaimer_hash = disclaimer_hash(chosen)
        sale.cover_total = cover_total(sale)
    else:
        sale.decline_reason = declined[0].decline_reason if declined else DeclineReason.OTHER
        sale.cover_total = Decimal("0.00")
    for item in declined:
        audit(
            AuditAction.SALE_DECLINED,
            user,
            sale,
            xcover_ref=sale.xcover_ref,
            product=item.position + 1,
            reason=item.decline_reason,
        )
    if chosen:
        audit(
            AuditAction.SALE_ACKNOWLEDGED,
            user,
            sale,
            xcover_ref=sale.xcover_ref,
            policy_versions=sale.ack_policy_versions,
            disclaimer_sha256=sale.ack_disclaimer_hash,
            **({"acknowledged_on": "customer_view"} if on_customer_view else {}),
        )
        db.session.commit()
        return sale
    # Nothing chosen: keep the choices, then tell XCover; a failed opt-out can be retried as is.
    db.session.commit()
    send_opt_out(sale, user, client)
    return sale


def opt_out_metadata(reasons: list[str], sale_id: str) -> dict[str, str]:
    """The opt-out's partner_metadata (flat key -> text, as XCover documents it): why, and which sale."""
    return {"decline_reason": ",".join(reasons) or DeclineReason.OTHER.value, "sale_id": sale_id}


def opt_out_pending(sale: Sale) -> bool:
    """Tell whether the customer declined everything but XCover has not yet taken the opt-out."""
    declined = [i.decision == Decision.DECLINE for i in sale.items]
    return sale.status == SaleStatus.QUOTED and bool(declined) and all(declined)


def send_opt_out(sale: Sale, user: User, client: XCoverClientLike) -> None:
    """Tell XCover the customer declined everything, then close the sale as declined."""
    key = derived_key(f"opt-out:{sale.xcover_ref}")
    reasons = sorted({i.decline_reason for i in sale.items if i.decline_reason})
    try:
        client.opt_out(sale.xcover_ref, idempotency_key=key, partner_metadata=opt_out_metadata(reasons, str(sale.id)))
    except XCoverError:
        raise XCoverDown(OPT_OUT_DOWN_MESSAGE) from None
    # Taps at once all reach XCover with the one key (it replays the opt-out); only the winner of the conditional
    # UPDATE closes the sale and records it.
    if not compare_and_set(sale, SaleStatus.QUOTED, SaleStatus.DECLINED):
        db.session.rollback()
        db.session.refresh(sale)
        return
    db.session.refresh(sale)
    audit(AuditAction.SALE_OPTED_OUT, user, sale, xcover_ref=sale.xcover_ref, reasons=reasons)
    db.session.commit()
