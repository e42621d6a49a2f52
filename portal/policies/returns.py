"""Returns: XCover's refund preview for chosen policies, a manager's decision; return_confirmation.py confirms."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..i18n import N_, Message
from ..intl import store_time
from ..models import Cover, PolicyReturn, ReturnLine, Sale, User, utcnow
from ..sales.machine import InvalidTransition, SaleError, XCoverDown, audit
from ..sensitive import new_key
from ..vocab import AuditAction, AuditResult, CoverStatus, ReturnReason, ReturnStatus, Role, SaleStatus
from ..xcover.errors import XCoverError, XCoverNotFound, XCoverValidationError
from ..xcover.types import money
from .machine import (
    OPEN_RETURN,
    AfterSaleClient,
    moment,
    move,
    move_covers,
)

# A return can be asked for on a booked sale, and on one whose booking partly failed (the booked part).
RETURNABLE_SALES = (SaleStatus.BOOKED, SaleStatus.FAILED)
# A policy still in force (alone, or waiting in a return).
IN_FORCE = (CoverStatus.BOOKED, CoverStatus.RETURNING, CoverStatus.CANCELLING)

DOWN = N_("XCover is not answering right now. Nothing was cancelled and everything is kept: try again.")
LOST = N_(
    "XCover's answer did not arrive, so the cancellation may or may not have gone through. "
    "The policies are not cancelled in the portal until XCover confirms: tap Check again."
)


class ApprovalDenied(SaleError):
    """The person who signed for the approval may not approve this return."""


class ReturnExpired(SaleError):
    """XCover's deadline for confirming the preview passed: the preview must be run again."""


def returnable_covers(sale: Sale) -> list[Cover]:
    """Return the policies of a sale that can be returned now (in force and not already in a return)."""
    if sale.status not in RETURNABLE_SALES:
        return []
    return [c for c in sale.covers if c.status == CoverStatus.BOOKED and c.quote_id]


def open_returns(store_id: int, statuses: Sequence[ReturnStatus] = OPEN_RETURN) -> list[PolicyReturn]:
    """Return a store's returns in the given statuses (open ones by default), oldest first."""
    return list(
        db.session.scalars(
            sa.select(PolicyReturn)
            .join(Sale, Sale.id == PolicyReturn.sale_id)
            .where(Sale.store_id == store_id, PolicyReturn.status.in_(tuple(statuses)))
            .order_by(PolicyReturn.created_at, PolicyReturn.id)
        )
    )


def get_return(sale: Sale, return_id: int) -> PolicyReturn | None:
    """Load one of a sale's returns."""
    return db.session.scalar(
        sa.select(PolicyReturn).where(PolicyReturn.id == return_id, PolicyReturn.sale_id == sale.id)
    )


def cover_ids(ret: PolicyReturn) -> list[int]:
    """The policies a return is about."""
    return [line.cover_id for line in ret.lines]


def _when(ret: PolicyReturn) -> str:
    """XCover's deadline as the store writes times."""
    return store_time(ret.confirm_before, ret.sale.store) if ret.confirm_before else Message(N_("its deadline"))


def request_return(
    sale: Sale, user: User, client: AfterSaleClient, cover_ids: Sequence[int], reason: str
) -> PolicyReturn:
    """Ask XCover what cancelling the chosen policies would refund; nothing is cancelled yet."""
    offered = {c.id: c for c in returnable_covers(sale)}
    errors: dict[str, list[str]] = {}
    chosen = [offered[i] for i in dict.fromkeys(cover_ids) if i in offered]
    if not chosen or len(chosen) != len(set(cover_ids)):
        errors["covers"] = [N_("Choose the policies the customer is returning.")]
    if ReturnReason.get(reason) is None:
        errors["reason"] = [N_("Choose why the customer is returning the cover.")]
    if errors:
        raise SaleError(N_("Please check the highlighted fields."), errors)
    why = ReturnReason(reason)
    requested = {"policies": [c.quote_id for c in chosen], "reason": why}
    try:
        preview = client.cancel(
            sale.xcover_ref,
            quotes=[{"id": c.quote_id, "reason_for_cancellation": why.label} for c in chosen],
            preview=True,
            idempotency_key=new_key(),
        )
        lines = _preview_lines(preview, chosen)
    except XCoverError as exc:
        refused = isinstance(exc, (XCoverValidationError, XCoverNotFound))
        reason = xcover_reason(exc)[:450]
        message = Message(N_("XCover refused the refund preview: %(reason)s"), reason=reason) if refused else DOWN
        audit(AuditAction.RETURN_REQUESTED, user, sale, **requested)
        audit(
            AuditAction.RETURN_PREVIEW_FAILED,
            user,
            sale,
            result=AuditResult.FAILURE,
            reason=type(exc).__name__,
            status=exc.status,
        )
        db.session.commit()
        raise (SaleError if refused else XCoverDown)(message) from None
    # The policies join the return in the same transaction as the return itself: a second tap elsewhere
    # that chose any of them finds them taken and adds nothing.
    if move_covers([c.id for c in chosen], [CoverStatus.BOOKED], CoverStatus.RETURNING) != len(chosen):
        db.session.rollback()
        raise InvalidTransition(N_("Some of these policies were returned on another screen meanwhile."))
    ret = PolicyReturn(
        sale=sale,
        status=ReturnStatus.PREVIEWED,
        reason=why,
        requested_by_id=user.id,
        cancellation_id=str(preview.cancellation_id),
        confirm_before=moment(preview.confirm_before),
        currency=sale.currency,
        total_refund=preview.total_refund,
        idempotency_key=new_key(),
        lines=lines,
    )
    db.session.add(ret)
    db.session.flush()
    audit(AuditAction.RETURN_REQUESTED, user, sale, return_id=ret.id, **requested)
    audit(
        AuditAction.RETURN_PREVIEWED,
        user,
        sale,
        return_id=ret.id,
        cancellation_id=ret.cancellation_id,
        refunds={line.cover.quote_id: str(line.refund) for line in lines},
        total_refund=str(ret.total_refund),
        currency=ret.currency,
        inside_cooling_off=all(line.inside_cooling_off for line in lines),
        confirm_before=preview.confirm_before,
    )
    db.session.commit()
    return ret


def _preview_lines(preview: Any, chosen: list[Cover]) -> list[ReturnLine]:
    """One line per chosen policy from XCover's preview; a preview that leaves one out is refused."""
    if not preview.cancellation_id:
        raise XCoverError("XCover's preview came without a cancellation id.")
    by_id = {str(q.get("id")): q for q in preview.quotes if isinstance(q, dict)}
    now = utcnow()
    lines = []
    for cover in chosen:
        quote = by_id.get(cover.quote_id)
        if quote is None:
            raise XCoverError(f"XCover's preview left out {cover.title or cover.policy_type}.")
        until = quote.get("policy_coolingoff_date")
        ends = moment(until)
        lines.append(
            ReturnLine(
                cover=cover,
                refund=money(quote.get("refund_value")),
                adjustment_fee=money(quote.get("adjustment_fee")),
                refund_type=str(quote.get("refund_type") or "")[:32],
                cooling_off_until=str(until)[:40] if until else None,
                inside_cooling_off=ends is not None and now <= ends,
            )
        )
    return lines


def xcover_reason(exc: XCoverError) -> str:
    """XCover's own words for a refusal."""
    if isinstance(exc, XCoverValidationError):
        words = [m for messages in exc.field_errors().values() for m in messages]
        if words:
            return " ".join(words)
    return exc.message


def status_of(ret: PolicyReturn) -> Message:
    """The return's status label as a value in a sentence (translated with it)."""
    return Message(ret.status.label)


def may_approve(ret: PolicyReturn, person: User) -> str | None:
    """Return why this person may not decide on the return, or None when they may."""
    if person.role != Role.MANAGER or person.store_id != ret.sale.store_id or not person.active:
        return N_("Only a manager of this store can approve or refuse a return.")
    if person.id == ret.requested_by_id:
        return N_("A return needs a second person: ask another manager to approve it.")
    return None


def decide(ret: PolicyReturn, approver: User, approve: bool, *, on_session_of: User | None = None) -> None:
    """Record a manager's approval or refusal; on_session_of: the person whose iPad it was signed on."""
    sale = ret.sale
    here = {"on_ipad_of": on_session_of.username} if on_session_of is not None else {}
    denied = may_approve(ret, approver)
    if denied:
        audit(
            AuditAction.RETURN_APPROVAL_DENIED,
            approver,
            sale,
            result=AuditResult.FAILURE,
            return_id=ret.id,
            **here,
        )
        db.session.commit()
        raise ApprovalDenied(denied)
    if ret.status != ReturnStatus.PREVIEWED:
        raise InvalidTransition(Message(N_("This return is already decided: %(status)s."), status=status_of(ret)))
    if ret.expired():
        expire(ret, approver)
    new = ReturnStatus.APPROVED if approve else ReturnStatus.REFUSED
    if not move(
        ret,
        [ReturnStatus.PREVIEWED],
        new,
        decided_by_id=approver.id,
        decided_at=utcnow(),
        decided_here=on_session_of is not None,
    ):
        db.session.rollback()
        raise InvalidTransition(N_("Another manager decided on this return meanwhile."))
    if not approve:
        move_covers(cover_ids(ret), [CoverStatus.RETURNING], CoverStatus.BOOKED)
    audit(
        AuditAction.RETURN_APPROVED if approve else AuditAction.RETURN_REFUSED,
        approver,
        sale,
        return_id=ret.id,
        requested_by=ret.requested_by.username,
        total_refund=str(ret.total_refund),
        currency=ret.currency,
        in_person=on_session_of is not None,
        **here,
    )
    db.session.commit()


def expire(ret: PolicyReturn, user: User | None) -> None:
    """Close a return whose preview passed XCover's deadline, and raise so the caller says so."""
    if not move(ret, [ReturnStatus.PREVIEWED, ReturnStatus.APPROVED], ReturnStatus.EXPIRED):
        db.session.rollback()
        db.session.refresh(ret)
        raise InvalidTransition(Message(N_("This return has changed meanwhile: %(status)s."), status=status_of(ret)))
    move_covers(cover_ids(ret), [CoverStatus.RETURNING], CoverStatus.BOOKED)
    audit(
        AuditAction.RETURN_EXPIRED,
        user,
        ret.sale,
        result=AuditResult.FAILURE,
        return_id=ret.id,
        confirm_before=ret.confirm_before.isoformat() if ret.confirm_before else None,
    )
    db.session.commit()
    raise ReturnExpired(
        Message(
            N_(
                "The refund preview expired at %(time)s: XCover no longer holds it. Nothing was cancelled; "
                "run the preview again."
            ),
            time=_when(ret),
        )
    )


def withdraw(ret: PolicyReturn, user: User) -> None:
    """Drop a return that was not confirmed: its policies stay in force."""
    if not move(ret, [ReturnStatus.PREVIEWED, ReturnStatus.APPROVED], ReturnStatus.WITHDRAWN):
        db.session.rollback()
        raise InvalidTransition(N_("This return can no longer be withdrawn."))
    move_covers(cover_ids(ret), [CoverStatus.RETURNING], CoverStatus.BOOKED)
    audit(AuditAction.RETURN_WITHDRAWN, user, ret.sale, return_id=ret.id)
    db.session.commit()


def preview_again(ret: PolicyReturn, user: User, client: AfterSaleClient) -> PolicyReturn:
    """Run a new preview for the policies of an expired or refused-by-XCover return."""
    if ret.status in (ReturnStatus.PREVIEWED, ReturnStatus.APPROVED) and ret.expired():
        with contextlib.suppress(ReturnExpired):  # here the expiry is why a new preview is wanted
            expire(ret, user)
    if ret.status not in (ReturnStatus.EXPIRED, ReturnStatus.FAILED):
        raise InvalidTransition(
            Message(N_("There is nothing to preview again: this return is %(status)s."), status=status_of(ret))
        )
    still = [line.cover_id for line in ret.lines if line.cover.status == CoverStatus.BOOKED]
    if not still:
        raise SaleError(N_("None of these policies can be returned any more."))
    return request_return(ret.sale, user, client, still, ret.reason)
