"""`flask reconcile` after the sale: returns and corrections whose confirmation answer never arrived.

A confirmation whose answer was lost waits in "confirming" until someone taps Check again. Cron settles it as that
tap would: the same call to XCover with the same idempotency key, so XCover applies it at most once, and the
compare-and-set moves make a tap racing the cron settle it once. A confirmation still in flight (sent less than
`stale_after` ago) is left to the request that sent it.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import Correction, PolicyReturn, utcnow
from ..vocab import CorrectionStatus, ReturnStatus
from . import corrections, return_confirmation
from .machine import AfterSaleClient


def returns_to_reconcile(stale_after: timedelta) -> list[PolicyReturn]:
    """Returns sent for cancellation more than `stale_after` ago whose answer never arrived."""
    cutoff = utcnow() - stale_after
    return list(
        db.session.scalars(
            sa.select(PolicyReturn)
            .where(
                PolicyReturn.status == ReturnStatus.CONFIRMING.value,
                sa.or_(PolicyReturn.confirm_started_at.is_(None), PolicyReturn.confirm_started_at < cutoff),
            )
            .order_by(PolicyReturn.id)
        )
    )


def corrections_to_reconcile(stale_after: timedelta) -> list[Correction]:
    """Corrections sent to XCover more than `stale_after` ago whose answer never arrived."""
    cutoff = utcnow() - stale_after
    return list(
        db.session.scalars(
            sa.select(Correction)
            .where(Correction.status == CorrectionStatus.CONFIRMING.value, Correction.updated_at < cutoff)
            .order_by(Correction.id)
        )
    )


def reconcile(client: AfterSaleClient, stale_after: timedelta) -> list[str]:
    """Settle every unsettled return and correction as Check again would; return a line for each."""
    lines = []
    for ret in returns_to_reconcile(stale_after):
        return_confirmation.check_again(ret, None, client)
        db.session.refresh(ret)
        lines.append(f"Return {ret.id} of sale {ret.sale_id} {ret.sale.xcover_ref}: {ret.status.label}")
    for correction in corrections_to_reconcile(stale_after):
        corrections.check_again(correction, None, client)
        db.session.refresh(correction)
        lines.append(
            f"Correction {correction.id} of sale {correction.sale_id} {correction.sale.xcover_ref}: "
            f"{correction.status.label}"
        )
    return lines
