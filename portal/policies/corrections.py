"""Corrections: a booked product's serial number (and the other details XCover lets a booking change).

XCover prices the change first (quote_for_update); the portal shows any price difference, and only
confirm_update applies it, with one idempotency key for every attempt.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..i18n import N_, Message
from ..models import Correction, Cover, Sale, SaleItem, User, utcnow
from ..sales import catalogue
from ..sales.machine import InvalidTransition, SaleError, XCoverDown, XCoverRejected, audit
from ..sensitive import new_key
from ..vocab import AuditAction, AuditResult, CorrectionStatus, CoverStatus
from ..xcover.errors import XCoverError, XCoverValidationError
from ..xcover.types import money
from .machine import AfterSaleClient, Confirmable, move, send
from .returns import RETURNABLE_SALES

# Our product fields a booking may change at XCover (its item keys come from the configured field map).
FIELDS = ("serial_number", "brand", "model", "sku", "price")
DOWN = N_("XCover is not answering right now. Nothing was changed and everything is kept: try again.")
LOST = N_("XCover's answer did not arrive, so the change may or may not be applied: tap Check again.")


def correctable_items(sale: Sale) -> list[SaleItem]:
    """Return the products of a sale with a policy in force that XCover can change."""
    if sale.status not in RETURNABLE_SALES:
        return []
    return [item for item in sale.items if _booked(item)]


def _booked(item: SaleItem) -> list[Cover]:
    """The item's policies in force and not in a return."""
    return [c for c in item.covers if c.status == CoverStatus.BOOKED and c.quote_id]


def get_correction(sale: Sale, correction_id: int) -> Correction | None:
    """Load one of a sale's corrections."""
    return db.session.scalar(sa.select(Correction).where(Correction.id == correction_id, Correction.sale_id == sale.id))


def _text(value: Any) -> str:
    """A field value as it is compared and kept in the record."""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    return "" if value is None else str(value).strip()


def _wire(value: Any) -> Any:
    """A field value as XCover's JSON takes it (an amount as a number)."""
    return float(value) if isinstance(value, Decimal) else _text(value)


def _field_of(xcover_key: str) -> str:
    """Our form field for one of XCover's error keys (quotes.0.update_fields.serial_number -> serial_number)."""
    ours = catalogue.our_field(xcover_key.rsplit(".", 1)[-1])
    return ours if ours in FIELDS else "__all__"


def quote_correction(
    sale: Sale, item: SaleItem, user: User, client: AfterSaleClient, values: Mapping[str, Any]
) -> Correction:
    """Ask XCover to price a change of the item's details; nothing is changed yet."""
    covers = _booked(item) if item in correctable_items(sale) else []
    if not covers:
        raise InvalidTransition(N_("This product has no policy in force to correct."))
    mapping = catalogue.field_keys()
    changes = {f: [_text(getattr(item, f)), _text(values.get(f))] for f in FIELDS if f in values}
    changes = {f: pair for f, pair in changes.items() if pair[0] != pair[1]}
    if not changes:
        raise SaleError(N_("Nothing was changed."))
    unsendable = [f for f in changes if not mapping.get(f)]
    if unsendable:
        raise SaleError(
            N_("XCover is not sent these details, so they cannot be corrected there."),
            {f: [N_("Not sent to XCover as a detail of its own (see XCOVER_ITEM_TEMPLATE).")] for f in unsendable},
        )
    update = {mapping[f]: _wire(values[f]) for f in changes}
    payload = {"quotes": [{"id": c.quote_id, "update_fields": update} for c in covers]}
    try:
        priced = client.quote_for_update(sale.xcover_ref, payload, idempotency_key=new_key())
    except XCoverValidationError as exc:
        errors: dict[str, list[str]] = {}
        for key, messages in exc.field_errors().items():
            errors.setdefault(_field_of(key), []).extend(messages)
        _failed(sale, user, item, sorted(changes), reason="validation")
        raise XCoverRejected(N_("XCover refused the change: please check the highlighted fields."), errors) from None
    except XCoverError as exc:
        _failed(sale, user, item, sorted(changes), reason=type(exc).__name__)
        raise XCoverDown(DOWN) from None
    # Taps at once each get a price from XCover; the first to store its correction wins and the others land on it.
    # The no-op UPDATE takes the item's row lock (the write lock on SQLite) until the commit, so they run in turn.
    db.session.execute(sa.update(SaleItem).where(SaleItem.id == item.id).values(id=SaleItem.id))
    twin = next((c for c in _open_corrections(item) if c.changes == changes), None)
    if twin is not None:
        db.session.commit()
        return twin
    quoted = {c.quote_id for c in covers}
    correction = Correction(
        sale=sale,
        item=item,
        status=CorrectionStatus.QUOTED,
        requested_by_id=user.id,
        changes=changes,
        new_prices={
            str(q.get("id")): str(money(q.get("price")))
            for q in priced.quotes
            if isinstance(q, dict) and q.get("id") in quoted
        },
        update_id=priced.update_id,
        price_diff=priced.total_price_diff,
        idempotency_key=new_key(),
    )
    db.session.add(correction)
    db.session.flush()
    audit(
        AuditAction.CORRECTION_QUOTED,
        user,
        sale,
        correction_id=correction.id,
        product=item.position + 1,
        changes=changes,
        update_id=priced.update_id,
        price_diff=str(priced.total_price_diff),
        currency=sale.currency,
    )
    db.session.commit()
    return correction


def _open_corrections(item: SaleItem) -> list[Correction]:
    """The item's corrections priced and not yet applied or dropped."""
    return list(
        db.session.scalars(
            sa.select(Correction).where(Correction.item_id == item.id, Correction.status == CorrectionStatus.QUOTED)
        )
    )


def _failed(sale: Sale, user: User, item: SaleItem, fields: list[str], **details: Any) -> None:
    """Record a correction XCover would not price."""
    audit(
        AuditAction.CORRECTION_FAILED,
        user,
        sale,
        result=AuditResult.FAILURE,
        product=item.position + 1,
        fields=fields,
        **details,
    )
    db.session.commit()


def _status(correction: Correction) -> Message:
    """The correction's status label as a value in a sentence (translated with it)."""
    return Message(correction.status.label)


def confirm_correction(correction: Correction, user: User, client: AfterSaleClient, till_reference: str = "") -> str:
    """Apply a priced change at XCover, then in the portal; a price difference needs the till's reference."""
    if correction.status == CorrectionStatus.CONFIRMED:
        return N_("This correction is already applied.")
    if correction.status != CorrectionStatus.QUOTED:
        raise InvalidTransition(
            Message(N_("This correction cannot be applied now: %(status)s."), status=_status(correction))
        )
    reference = till_reference.strip()
    if correction.price_diff != 0 and not reference:
        message = N_("Enter the till's reference for the price difference.")
        raise SaleError(message, {"till_reference": [message]})
    # Only the request whose conditional UPDATE wins calls XCover; the rest is checked after winning.
    if not move(
        correction,
        [CorrectionStatus.QUOTED],
        CorrectionStatus.CONFIRMING,
        till_reference=reference or None,
        last_error=None,
    ):
        db.session.rollback()
        return N_("This correction is already on its way.")
    if not _booked(correction.item):
        _fail(correction, user, N_("This product's policy is no longer in force; nothing was changed."))
        raise SaleError(correction.last_error or "")
    db.session.commit()
    return send(UPDATE, correction, user, client, retry=False)


def check_again(correction: Correction, user: User | None, client: AfterSaleClient) -> str:
    """Settle a confirmation whose answer did not arrive: the same call with the same key."""
    if correction.status != CorrectionStatus.CONFIRMING:
        return Message(N_("Nothing to check: this correction is %(status)s."), status=_status(correction))
    return send(UPDATE, correction, user, client, retry=True)


def _refused(correction: Correction, user: User | None, _client: AfterSaleClient, error: XCoverError | None) -> str:
    """Fail a correction XCover refused."""
    reason = error.message if error else ""
    _fail(correction, user, f"XCover refused the change: {reason} Nothing was changed; correct it again.")
    return correction.last_error or ""


def _fail(correction: Correction, user: User | None, message: str) -> None:
    """Close a correction XCover refused."""
    if move(
        correction,
        [CorrectionStatus.QUOTED, CorrectionStatus.CONFIRMING],
        CorrectionStatus.FAILED,
        last_error=message[:500],
    ):
        audit(
            AuditAction.CORRECTION_FAILED,
            user,
            correction.sale,
            result=AuditResult.FAILURE,
            correction_id=correction.id,
            reason=message,
        )
    db.session.commit()


def _accept(correction: Correction, user: User | None, booking: Any) -> str:
    """XCover applied the change: apply it to the product and the policies' prices."""
    if not move(correction, [CorrectionStatus.CONFIRMING], CorrectionStatus.CONFIRMED, confirmed_at=utcnow()):
        db.session.rollback()
        return N_("Settled by another check.")
    item = correction.item
    for field, (_, new) in correction.changes.items():
        setattr(item, field, Decimal(new) if field == "price" else new)
    prices = {q.id: q for q in booking.quotes}
    for cover in item.covers:
        quote = prices.get(cover.quote_id)
        if quote is not None and cover.status == CoverStatus.BOOKED:
            cover.price = quote.price
            cover.price_formatted = quote.price_formatted or cover.price_formatted
    audit(
        AuditAction.CORRECTION_CONFIRMED,
        user,
        correction.sale,
        correction_id=correction.id,
        product=item.position + 1,
        changes=correction.changes,
        price_diff=str(correction.price_diff),
        currency=correction.sale.currency,
        till_reference=correction.till_reference,
    )
    db.session.commit()
    return N_("Corrected at XCover and here.")


# How machine.send confirms and settles one (defined here, below the functions it names).
UPDATE = Confirmable[Correction](
    call=lambda client, correction: client.confirm_update(
        correction.sale.xcover_ref, correction.update_id, idempotency_key=correction.idempotency_key
    ),
    done=_accept,
    refused=_refused,
    put_back=lambda correction: move(
        correction, [CorrectionStatus.CONFIRMING], CorrectionStatus.QUOTED, last_error=DOWN
    ),
    unknown=AuditAction.CORRECTION_OUTCOME_UNKNOWN,
    failed=AuditAction.CORRECTION_FAILED,
    lost=LOST,
    down=DOWN,
    audit_key="correction_id",
)


def discard(correction: Correction, user: User) -> None:
    """Drop a priced change that was not applied (XCover lets its update id lapse)."""
    if not move(correction, [CorrectionStatus.QUOTED], CorrectionStatus.DISCARDED):
        db.session.rollback()
        raise InvalidTransition(N_("This correction can no longer be discarded."))
    audit(AuditAction.CORRECTION_DISCARDED, user, correction.sale, correction_id=correction.id)
    db.session.commit()
