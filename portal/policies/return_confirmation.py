"""Confirming an approved return: XCover's cancellation under the return's one idempotency key, then the refund."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..extensions import db
from ..i18n import N_, Message
from ..intl import money as show_money
from ..models import PolicyReturn, User, utcnow
from ..sales.machine import InvalidTransition, SaleError, audit, compare_and_set
from ..vocab import AuditAction, AuditResult, CoverStatus, ReturnStatus, SaleStatus
from ..xcover.errors import XCoverError
from .machine import AfterSaleClient, Confirmable, move, move_covers, send
from .returns import DOWN, IN_FORCE, LOST, cover_ids, expire, status_of, xcover_reason


def confirm(ret: PolicyReturn, user: User, client: AfterSaleClient, refund_reference: str) -> str:
    """Confirm an approved return with XCover (one idempotency key for every attempt) and record the refund."""
    if ret.status == ReturnStatus.CONFIRMED:
        return N_("This return is already cancelled and refunded.")
    if ret.status != ReturnStatus.APPROVED:
        raise InvalidTransition(Message(N_("This return cannot be confirmed now: %(status)s."), status=status_of(ret)))
    reference = refund_reference.strip()
    if not reference:
        raise SaleError(
            N_("Enter the till's refund reference."), {"refund_reference": [N_("Enter the till's refund reference.")]}
        )
    if ret.expired():
        expire(ret, user)
    # Only the request whose conditional UPDATE wins calls XCover: a double tap cancels once. Everything
    # below is checked after winning, so a tap that read the return before another one moved it changes nothing.
    if not move(
        ret,
        [ReturnStatus.APPROVED],
        ReturnStatus.CONFIRMING,
        refund_reference=reference,
        confirmed_by_id=user.id,
        confirm_started_at=utcnow(),
        last_error=None,
    ):
        db.session.rollback()
        db.session.refresh(ret)
        if ret.status in (ReturnStatus.CONFIRMING, ReturnStatus.CONFIRMED):
            return N_("This cancellation is already on its way.")
        raise InvalidTransition(Message(N_("This return has changed meanwhile: %(status)s."), status=status_of(ret)))
    ids = cover_ids(ret)
    if move_covers(ids, [CoverStatus.RETURNING], CoverStatus.CANCELLING) != len(ids):
        _fail(
            ret, user, N_("Some of these policies changed at XCover meanwhile. Nothing was cancelled; preview again.")
        )
        raise SaleError(ret.last_error or "")
    db.session.commit()
    return send(CANCELLATION, ret, user, client, retry=False)


def check_again(ret: PolicyReturn, user: User | None, client: AfterSaleClient) -> str:
    """Settle a confirmation whose answer did not arrive: the same call with the same key."""
    if ret.status != ReturnStatus.CONFIRMING:
        return Message(N_("Nothing to check: this return is %(status)s."), status=status_of(ret))
    return send(CANCELLATION, ret, user, client, retry=True)


def _settle(ret: PolicyReturn, user: User | None, done: Any) -> str:
    """Accept XCover's confirmation when it cancelled every policy of the return; otherwise fail the return."""
    cancelled = {str(q.get("id")) for q in done.quotes if isinstance(q, dict) and q.get("status") == "CANCELLED"}
    missing = [line.cover for line in ret.lines if line.cover.quote_id not in cancelled]
    if missing:
        names = ", ".join(c.title or c.policy_type for c in missing)
        _fail(ret, user, f"XCover did not cancel {names}. Nothing was cancelled in the portal; preview again.")
        return ret.last_error or ""
    return _accept(ret, user, done.total_refund)


def _refused(ret: PolicyReturn, user: User | None, client: AfterSaleClient, error: XCoverError | None) -> str:
    """Fail a return XCover refused, unless the refusal is of a repeat after the first attempt went through."""
    if _already_cancelled(ret, client):
        return _accept(ret, user, ret.total_refund)
    reason = xcover_reason(error) if error else ""
    _fail(ret, user, f"XCover refused the cancellation: {reason} Nothing was cancelled; preview again.")
    return ret.last_error or ""


def _put_back(ret: PolicyReturn) -> None:
    """XCover certainly did not cancel: the return is approved again, its policies waiting in it."""
    move(ret, [ReturnStatus.CONFIRMING], ReturnStatus.APPROVED, last_error=DOWN)
    move_covers(cover_ids(ret), [CoverStatus.CANCELLING], CoverStatus.RETURNING)


def _already_cancelled(ret: PolicyReturn, client: AfterSaleClient) -> bool:
    """Ask XCover whether every policy of the return is cancelled already."""
    try:
        booking = client.get_booking(ret.sale.xcover_ref)
    except XCoverError:
        return False
    status = {q.id: q.status for q in booking.quotes}
    return all(status.get(line.cover.quote_id) == "CANCELLED" for line in ret.lines)


def _fail(ret: PolicyReturn, user: User | None, message: str) -> None:
    """Close a return XCover refused; its policies stay in force (those still waiting in it)."""
    open_ = [ReturnStatus.PREVIEWED, ReturnStatus.APPROVED, ReturnStatus.CONFIRMING]
    if move(ret, open_, ReturnStatus.FAILED, last_error=message[:500]):
        move_covers(cover_ids(ret), [CoverStatus.RETURNING, CoverStatus.CANCELLING], CoverStatus.BOOKED)
        audit(AuditAction.RETURN_FAILED, user, ret.sale, result=AuditResult.FAILURE, return_id=ret.id, reason=message)
    db.session.commit()


def _accept(ret: PolicyReturn, user: User | None, refunded: Decimal) -> str:
    """XCover cancelled the policies: close the return, the policies and (when nothing is left) the sale."""
    sale = ret.sale
    if not move(
        ret, [ReturnStatus.CONFIRMING], ReturnStatus.CONFIRMED, refunded_amount=refunded, confirmed_at=utcnow()
    ):
        db.session.rollback()
        return N_("Settled by another check.")
    move_covers(cover_ids(ret), [*IN_FORCE], CoverStatus.CANCELLED)
    left = [c for c in sale.covers if c.status in IN_FORCE]
    if not left and sale.status == SaleStatus.BOOKED:
        compare_and_set(sale, SaleStatus.BOOKED, SaleStatus.CANCELLED)
        db.session.refresh(sale)
    audit(
        AuditAction.RETURN_CONFIRMED,
        user,
        sale,
        return_id=ret.id,
        cancellation_id=ret.cancellation_id,
        policies=[line.cover.quote_id for line in ret.lines],
        still_covered=len(left),
    )
    audit(
        AuditAction.RETURN_REFUNDED,
        user,
        sale,
        return_id=ret.id,
        amount=str(refunded),
        currency=ret.currency,
        refund_reference=ret.refund_reference,
    )
    db.session.commit()
    return Message(N_("Cancelled. Refunded %(amount)s."), amount=show_money(refunded, ret.currency, sale.store))


# How machine.send confirms and settles one (defined here, below the functions it names).
CANCELLATION = Confirmable[PolicyReturn](
    call=lambda client, ret: client.confirm_cancellation(
        ret.sale.xcover_ref, ret.cancellation_id, idempotency_key=ret.idempotency_key
    ),
    done=_settle,
    refused=_refused,
    put_back=_put_back,
    unknown=AuditAction.RETURN_OUTCOME_UNKNOWN,
    failed=AuditAction.RETURN_FAILED,
    lost=LOST,
    down=DOWN,
    audit_key="return_id",
)
