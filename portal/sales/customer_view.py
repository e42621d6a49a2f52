"""The customer's screen: the iPad turned to the customer to read the cover options and acknowledge the key facts.

While it is shown, the session is locked to it (portal/sales/customer_views.py); the associate's secret unlocks it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..audit import record
from ..auth.pins import verify_unlock
from ..extensions import db
from ..i18n import N_
from ..models import AuditEvent, Cover, Sale, User
from ..vocab import AuditAction, AuditResult, SaleStatus
from .lookup import options_by_item
from .machine import InvalidTransition, audit
from .options import disclaimer_hash, quote_event, quote_event_values

# Wrong secrets in a row before the locked session is signed out (a customer cannot keep guessing).
UNLOCK_ATTEMPTS = 5
NOT_SHOWABLE = N_("The customer view shows a sale's cover options; this sale has none to show now.")
WRONG_SECRET = N_("That is not the password of the person who locked this screen.")


def offered(sale: Sale) -> list[Cover]:
    """The covers the customer view shows: every option XCover offered on this quote, products in order."""
    return [c for _item, covers in options_by_item(sale) for c in covers if c.quote_id]


def check_showable(sale: Sale) -> None:
    """Refuse a sale whose options are not open (quoted, with at least one cover offered)."""
    if sale.status != SaleStatus.QUOTED or not offered(sale):
        raise InvalidTransition(NOT_SHOWABLE)


def show(sale: Sale, user: User) -> None:
    """Turn the iPad to the customer for this sale's options (the caller locks the session)."""
    check_showable(sale)
    audit(AuditAction.CUSTOMER_VIEW_SHOWN, user, sale, xcover_ref=sale.xcover_ref, language=sale.language)
    db.session.commit()


def _versions(covers: list[Cover]) -> dict[str, str]:
    """The policy version of each cover, by XCover quote id."""
    return {c.quote_id: c.policy_version for c in covers if c.quote_id}


def acknowledge(sale: Sale, user: User) -> None:
    """Record that the customer, on their screen, acknowledged the key facts and disclaimers of the covers shown."""
    check_showable(sale)
    if customer_acknowledgement(sale) is not None:
        return  # a second tap on the same quote says nothing new
    covers = offered(sale)
    audit(
        AuditAction.SALE_CUSTOMER_ACKNOWLEDGED,
        user,
        sale,
        xcover_ref=sale.xcover_ref,
        policy_versions=_versions(covers),
        disclaimer_sha256=disclaimer_hash(covers),
        language=sale.language,
    )
    db.session.commit()


# Asked on every view of Options: built once (building it each time doubled its cost).
_ACKNOWLEDGED = (
    sa.select(AuditEvent)
    .where(quote_event(AuditAction.SALE_CUSTOMER_ACKNOWLEDGED))
    .order_by(AuditEvent.id.desc())
    .limit(1)
)


def customer_acknowledgement(sale: Sale) -> AuditEvent | None:
    """The customer's acknowledgement on their screen for this sale's current quote, if they gave it."""
    return db.session.scalar(_ACKNOWLEDGED, quote_event_values(sale))


def unlock(
    sale_id: int | None, user: User, secret: str, failures: int, device_id: str | None = None
) -> tuple[bool, bool]:
    """Check the associate's password or PIN to end the customer view; return (unlocked, sign the session out).

    Every try is audited; after UNLOCK_ATTEMPTS wrong ones in a row the session must be signed out.
    """
    ok = verify_unlock(user, secret, device_id)
    give_up = not ok and failures + 1 >= UNLOCK_ATTEMPTS
    details: dict[str, Any] = {"attempt": failures + 1}
    if give_up:
        details["signed_out"] = True
    record(
        AuditAction.CUSTOMER_VIEW_UNLOCKED,
        actor=user,
        store_id=user.store_id,
        object_type="sale",
        object_id=sale_id,
        result=AuditResult.SUCCESS if ok else AuditResult.FAILURE,
        details=details,
    )
    db.session.commit()
    return ok, give_up
