"""`flask reconcile` after the sale: returns and corrections whose confirmation answer never arrived.

A confirmation whose answer was lost waits in "confirming" until someone taps Check again. Cron settles it as that
tap would: the same call to XCover with the same idempotency key, so XCover applies it at most once, and the
compare-and-set moves make a tap racing the cron settle it once. A confirmation still in flight (sent less than
`stale_after` ago) is left to the request that sent it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from ..extensions import db
from ..models import Correction, PolicyReturn, utcnow
from ..vocab import CorrectionStatus, ReturnStatus, TonedStrEnum
from . import corrections, return_confirmation
from .machine import AfterSaleClient, R


def returns_to_reconcile(stale_after: timedelta) -> list[PolicyReturn]:
    """Returns sent for cancellation more than `stale_after` ago whose answer never arrived."""
    return _stale(PolicyReturn, ReturnStatus.CONFIRMING, PolicyReturn.confirm_started_at, stale_after)


def corrections_to_reconcile(stale_after: timedelta) -> list[Correction]:
    """Corrections sent to XCover more than `stale_after` ago whose answer never arrived."""
    return _stale(Correction, CorrectionStatus.CONFIRMING, Correction.updated_at, stale_after)


def _stale(
    model: type[R], confirming: TonedStrEnum, sent_at: InstrumentedAttribute[Any], stale_after: timedelta
) -> list[R]:
    """A model's records waiting in `confirming` since before `stale_after` ago (or since a time not recorded)."""
    cutoff = utcnow() - stale_after
    return list(
        db.session.scalars(
            sa.select(model)
            .where(model.status == confirming.value, sa.or_(sent_at.is_(None), sent_at < cutoff))
            .order_by(model.id)
        )
    )


def reconcile(client: AfterSaleClient, stale_after: timedelta) -> list[str]:
    """Settle every unsettled return and correction as Check again would; return a line for each."""
    lines = []
    kinds = (
        ("Return", returns_to_reconcile, return_confirmation.check_again),
        ("Correction", corrections_to_reconcile, corrections.check_again),
    )
    for name, to_reconcile, check_again in kinds:
        for row in to_reconcile(stale_after):
            check_again(row, None, client)
            db.session.refresh(row)
            lines.append(f"{name} {row.id} of sale {row.sale_id} {row.sale.xcover_ref}: {row.status.label}")
    return lines
