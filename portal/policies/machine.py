"""After the sale: the status machines of returns and corrections, compare-and-set moves, and what they share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from ..extensions import db
from ..models import Correction, Cover, PolicyReturn, User, utcnow
from ..sales.machine import audit
from ..vocab import AuditAction, AuditResult, CorrectionStatus, ReturnStatus, TonedStrEnum
from ..xcover.errors import (
    XCoverAuthError,
    XCoverConflict,
    XCoverError,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
)

# Allowed moves of a return: a preview waits for a manager; approved, it is confirmed with XCover.
RETURN_TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    ReturnStatus.PREVIEWED: frozenset(
        {
            ReturnStatus.APPROVED,
            ReturnStatus.REFUSED,
            ReturnStatus.EXPIRED,
            ReturnStatus.WITHDRAWN,
            ReturnStatus.FAILED,
        }
    ),
    ReturnStatus.APPROVED: frozenset(
        {ReturnStatus.CONFIRMING, ReturnStatus.EXPIRED, ReturnStatus.WITHDRAWN, ReturnStatus.FAILED}
    ),
    # Back to approved only when XCover certainly did not apply the confirmation (it was not reachable).
    ReturnStatus.CONFIRMING: frozenset({ReturnStatus.CONFIRMED, ReturnStatus.FAILED, ReturnStatus.APPROVED}),
    ReturnStatus.CONFIRMED: frozenset(),
    ReturnStatus.REFUSED: frozenset(),
    ReturnStatus.EXPIRED: frozenset(),
    ReturnStatus.FAILED: frozenset(),
    ReturnStatus.WITHDRAWN: frozenset(),
}
OPEN_RETURN = (ReturnStatus.PREVIEWED, ReturnStatus.APPROVED, ReturnStatus.CONFIRMING)

CORRECTION_TRANSITIONS: dict[CorrectionStatus, frozenset[CorrectionStatus]] = {
    CorrectionStatus.QUOTED: frozenset(
        {CorrectionStatus.CONFIRMING, CorrectionStatus.DISCARDED, CorrectionStatus.FAILED}
    ),
    CorrectionStatus.CONFIRMING: frozenset(
        {CorrectionStatus.CONFIRMED, CorrectionStatus.FAILED, CorrectionStatus.QUOTED}
    ),
    CorrectionStatus.CONFIRMED: frozenset(),
    CorrectionStatus.FAILED: frozenset(),
    CorrectionStatus.DISCARDED: frozenset(),
}

MACHINES: dict[type, dict[Any, frozenset[Any]]] = {
    PolicyReturn: RETURN_TRANSITIONS,
    Correction: CORRECTION_TRANSITIONS,
}


class AfterSaleClient(Protocol):
    """The part of the XCover client (portal/xcover/client.py) returns, corrections and webhooks use."""

    def get_booking(self, package_id: str) -> Any: ...
    def cancel(
        self,
        package_id: str,
        *,
        quotes: list[dict[str, Any]] | None = None,
        preview: bool = False,
        idempotency_key: str,
    ) -> Any: ...
    def confirm_cancellation(self, package_id: str, cancellation_id: str, *, idempotency_key: str) -> Any: ...
    def quote_for_update(self, package_id: str, payload: dict[str, Any], *, idempotency_key: str) -> Any: ...
    def confirm_update(self, package_id: str, update_id: str, *, idempotency_key: str) -> Any: ...


# How a confirmation (one idempotency key for every attempt) ended.
DONE, UNKNOWN, NOT_APPLIED, REFUSED = "done", "unknown", "not_applied", "refused"


@dataclass(frozen=True)
class Answer:
    """XCover's answer to a confirmation: its body when done, else the error and what it means."""

    kind: str
    body: Any = None
    error: XCoverError | None = None


def confirmation(call: Callable[[], Any]) -> Answer:
    """Make a keyed confirmation call and say how it ended: done, maybe applied, certainly not, or refused."""
    try:
        return Answer(DONE, call())
    except (XCoverOutcomeUnknown, XCoverConflict) as exc:
        return Answer(UNKNOWN, error=exc)
    except (XCoverUnavailable, XCoverRateLimited, XCoverAuthError) as exc:
        return Answer(NOT_APPLIED, error=exc)
    except XCoverError as exc:
        return Answer(REFUSED, error=exc)


R = TypeVar("R", PolicyReturn, Correction)


@dataclass(frozen=True)
class Confirmable(Generic[R]):
    """One kind of confirmation (a return's cancellation, a correction's update): XCover's call and each outcome."""

    call: Callable[[AfterSaleClient, R], Any]  # under the record's one idempotency key
    done: Callable[[R, User | None, Any], str]  # given the body of XCover's answer
    refused: Callable[[R, User | None, AfterSaleClient, XCoverError | None], str]
    put_back: Callable[[R], object]  # XCover certainly did not apply it: the record waits for another tap
    unknown: AuditAction  # audited when XCover may have applied it
    failed: AuditAction  # audited when XCover certainly did not
    lost: str  # the answer when XCover may have applied it
    down: str  # the answer when XCover certainly did not
    audit_key: str  # the record's id in the audit details: return_id, correction_id


def send(kind: Confirmable[R], record: R, user: User | None, client: AfterSaleClient, *, retry: bool) -> str:
    """Make a record's confirmation call (the same key on every attempt) and settle the record from the answer."""
    sale = record.sale
    answer = confirmation(lambda: kind.call(client, record))
    if answer.kind == DONE:
        return kind.done(record, user, answer.body)
    if answer.kind == REFUSED:
        return kind.refused(record, user, client, answer.error)
    if answer.kind == NOT_APPLIED and retry:  # an earlier attempt may still have been applied
        return kind.lost
    if answer.kind == NOT_APPLIED:
        kind.put_back(record)
    maybe = answer.kind == UNKNOWN
    audit(
        kind.unknown if maybe else kind.failed,
        user,
        sale,
        result=AuditResult.PENDING if maybe else AuditResult.FAILURE,
        reason=type(answer.error).__name__,
        **{kind.audit_key: record.id},
    )
    db.session.commit()
    return kind.lost if maybe else kind.down


def move(row: PolicyReturn | Correction, expected: Iterable[TonedStrEnum], new: TonedStrEnum, **values: Any) -> bool:
    """Move a return or correction on in one conditional UPDATE; False when another request moved it first."""
    expected = tuple(expected)
    transitions = MACHINES[type(row)]
    if any(new not in transitions[e] for e in expected):
        raise ValueError(f"{expected} -> {new} is not allowed")
    model = type(row)
    result = db.session.execute(
        sa.update(model)
        .where(model.id == row.id, model.status.in_(expected))
        .values(status=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(row)
    return True


def move_covers(cover_ids: Iterable[int], expected: Iterable[str], new: str, **values: Any) -> int:
    """Move the listed policies that are in an expected status to a new one; return how many moved."""
    ids = list(cover_ids)
    if not ids:
        return 0
    result = db.session.execute(
        sa.update(Cover)
        .where(Cover.id.in_(ids), Cover.status.in_(tuple(expected)))
        .values(status=new, **values)
        .execution_options(synchronize_session=False)
    )
    for cover in db.session.scalars(sa.select(Cover).where(Cover.id.in_(ids))):
        db.session.refresh(cover)
    return result.rowcount


def moment(text: Any) -> datetime | None:
    """Read an XCover timestamp (RFC 3339, "Z" or an offset) as an aware UTC time; None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
