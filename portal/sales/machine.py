"""The sale's status machine, its errors and the audit helper every step shares."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa

from ..audit.service import record
from ..extensions import db
from ..i18n import N_, Message
from ..models import Sale, User, utcnow
from ..sensitive import new_key
from ..vocab import AuditAction, AuditResult, SaleStatus

# Allowed moves of the sale's status machine; a booked sale whose every policy is cancelled becomes cancelled
# (portal/policies).
TRANSITIONS: dict[SaleStatus, frozenset[SaleStatus]] = {
    SaleStatus.DRAFT: frozenset({SaleStatus.QUOTED}),
    SaleStatus.QUOTED: frozenset({SaleStatus.DRAFT, SaleStatus.QUOTED, SaleStatus.DECLINED, SaleStatus.BOOKING}),
    SaleStatus.BOOKING: frozenset(
        {SaleStatus.BOOKED, SaleStatus.OUTCOME_UNKNOWN, SaleStatus.FAILED, SaleStatus.QUOTED}
    ),
    SaleStatus.OUTCOME_UNKNOWN: frozenset({SaleStatus.BOOKED, SaleStatus.FAILED, SaleStatus.QUOTED}),
    SaleStatus.DECLINED: frozenset(),
    SaleStatus.BOOKED: frozenset({SaleStatus.CANCELLED}),
    SaleStatus.FAILED: frozenset(),
    SaleStatus.CANCELLED: frozenset(),
}


class XCoverClientLike(Protocol):
    """The part of the XCover client (portal/xcover/client.py) the sale uses."""

    def create_quote(self, payload: dict) -> Any: ...
    def opt_out(self, package_id: str, *, idempotency_key: str, partner_metadata: dict | None = None) -> None: ...
    def create_booking(self, package_id: str, payload: dict, *, idempotency_key: str) -> Any: ...
    def get_booking(self, package_id: str) -> Any: ...
    def send_email(self, package_id: str, *, event: str | None = None, idempotency_key: str) -> None: ...


class SaleError(Exception):
    """A rule of the sale refused the request; the message is for the associate."""

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidTransition(SaleError):
    """The sale is not in a status that allows this step."""


class XCoverDown(SaleError):
    """XCover did not answer; nothing was applied and the same step can be retried."""


class XCoverRejected(SaleError):
    """XCover refused the data; field_errors name our fields."""


def can_transition(current: SaleStatus, new: SaleStatus) -> bool:
    """Tell whether the status machine allows a move."""
    return new in TRANSITIONS.get(current, frozenset())


def transition(sale: Sale, new: SaleStatus) -> None:
    """Move a sale to a new status or refuse."""
    if not can_transition(sale.status, new):
        raise InvalidTransition(
            Message(N_("That step is not possible now: this sale is %(status)s."), status=Message(sale.status.label))
        )
    sale.status = new


def compare_and_set(sale: Sale, expected: SaleStatus, new: SaleStatus, **values: Any) -> bool:
    """Move a sale from one status to another in one conditional UPDATE; False if someone else moved it."""
    if not can_transition(expected, new):
        raise ValueError(f"{expected} -> {new} is not allowed")  # a bug, not something a person can change
    sale_id = sa.inspect(sale).identity[0]
    result = db.session.execute(
        sa.update(Sale)
        .where(Sale.id == sale_id, Sale.status == expected)
        .values(status=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def audit(
    action: AuditAction, user: User | None, sale: Sale, result: AuditResult = AuditResult.SUCCESS, **details: Any
) -> None:
    """Record an event about a sale (the caller commits); a step by someone else names who started the sale."""
    if user is not None and sale.associate_id is not None and user.id != sale.associate_id:
        # The sale stays its starter's (docs/quick-switch.md): the event says whose sale the actor worked on. Read
        # without flushing the sale's pending changes: that would lock its row before the chain head, the reverse of
        # every other request's order (a deadlock on PostgreSQL).
        with db.session.no_autoflush:
            details = {"started_by": sale.associate.username, **details}
    record(
        action,
        actor=user,
        store_id=sale.store_id,
        object_type="sale",
        object_id=sale.id,
        result=result,
        details=details,
    )


def new_booking_body(sale: Sale) -> None:
    """Give a sale a fresh booking key when what it books changed after an attempt XCover did not apply.

    The key stands for one request body; XCover may replay a stored answer for it, so a changed body
    needs its own key. Only a sale still 'quoted' may change: one already on its way keeps its key.
    """
    if sale.booking_started_at is None:
        return
    if not compare_and_set(
        sale, SaleStatus.QUOTED, SaleStatus.QUOTED, idempotency_key=new_key(), booking_started_at=None
    ):
        db.session.rollback()
        raise InvalidTransition(N_("This booking is already on its way; it can no longer be changed."))
    db.session.refresh(sale)
