"""The sale's status machine, its errors and the audit helper every step shares."""
from __future__ import annotations

import uuid
from typing import Any, Protocol

import sqlalchemy as sa

from ..audit.service import record
from ..extensions import db
from ..models import Sale, User, utcnow

# Allowed moves of the sale's status machine (cancellations come with the returns issue).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"quoted"}),
    "quoted": frozenset({"draft", "quoted", "declined", "booking"}),
    "booking": frozenset({"booked", "outcome_unknown", "failed", "quoted"}),
    "outcome_unknown": frozenset({"booked", "failed", "quoted"}),
    "declined": frozenset(),
    "booked": frozenset(),
    "failed": frozenset(),
}

# What the associate sees for each status: words and badge colour.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "draft": ("Not quoted yet", "neutral"),
    "quoted": ("Options shown", "neutral"),
    "declined": ("Declined", "neutral"),
    "booking": ("Not yet confirmed, checking", "wait"),
    "outcome_unknown": ("Not yet confirmed, checking", "wait"),
    "booked": ("Covered", "ok"),
    "failed": ("Not covered", "bad"),
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


def can_transition(current: str, new: str) -> bool:
    """Tell whether the status machine allows a move."""
    return new in TRANSITIONS.get(current, frozenset())


def transition(sale: Sale, new: str) -> None:
    """Move a sale to a new status or refuse."""
    if not can_transition(sale.status, new):
        raise InvalidTransition(f"This sale is {STATUS_LABELS[sale.status][0].lower()}; that step is not possible now.")
    sale.status = new


def compare_and_set(sale: Sale, expected: str, new: str, **values: Any) -> bool:
    """Move a sale from one status to another in one conditional UPDATE; False if someone else moved it."""
    if not can_transition(expected, new):
        raise InvalidTransition(f"{expected} -> {new} is not allowed")
    sale_id = sa.inspect(sale).identity[0]
    result = db.session.execute(
        sa.update(Sale).where(Sale.id == sale_id, Sale.status == expected)
        .values(status=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def status_label(status: str) -> tuple[str, str]:
    """Return the words and badge colour for a status."""
    return STATUS_LABELS.get(status, (status, "neutral"))


def audit(action: str, user: User | None, sale: Sale, result: str = "success", **details: Any) -> None:
    """Record an event about a sale (the caller commits)."""
    record(action, actor=user, store_id=sale.store_id, object_type="sale", object_id=sale.id, result=result,
           details=details)


def new_booking_body(sale: Sale) -> None:
    """Give a sale a fresh booking key when what it books changed after an attempt XCover did not apply.

    The key stands for one request body; XCover may replay a stored answer for it, so a changed body
    needs its own key. Only a sale still 'quoted' may change: one already on its way keeps its key.
    """
    if sale.booking_started_at is None:
        return
    if not compare_and_set(sale, "quoted", "quoted", idempotency_key=str(uuid.uuid4()), booking_started_at=None):
        db.session.rollback()
        raise InvalidTransition("This booking is already on its way; it can no longer be changed.")
    db.session.refresh(sale)
