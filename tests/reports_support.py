"""Sales written straight into the database for the report tests: exactly the rows a fixture needs, nothing else."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from portal.extensions import db
from portal.models import Cover, PolicyReturn, ReturnLine, Sale, SaleItem, Store, User
from portal.vocab import CoverStatus, Decision, ReturnReason, ReturnStatus, SaleStatus


def sale(
    store: Store,
    associate: User,
    created_at: datetime,
    status: SaleStatus = SaleStatus.BOOKED,
    covers: list[tuple[str, str, str, CoverStatus]] | None = None,
    declines: list[str] | None = None,
    quoted: bool = True,
    **values: Any,
) -> Sale:
    """Add a sale: one product per cover (policy type, price, tax, status), then one declined product per reason."""
    s = Sale(
        store_id=store.id,
        associate_id=associate.id,
        status=status,
        currency=store.currency,
        first_name="Jane",
        last_name="Doe",
        email="jane@example.com",
        phone="+447400123456",
        address1="1 High Street",
        city="London",
        postcode="SW1A 1AA",
        country=store.country,
        language="en",
        xcover_ref=f"{uuid.uuid4().hex[:5].upper()}-{uuid.uuid4().hex[:5].upper()}-INS" if quoted else None,
        created_at=created_at,
        updated_at=created_at,
        **values,
    )
    position = 0
    for kind, price, tax, cover_status in covers or []:
        item = SaleItem(
            position=position,
            product_name="TV",
            category="electronics",
            price=Decimal("500.00"),
            purchase_date=date(2026, 1, 1),
            decision=Decision.ADD,
        )
        s.items.append(item)
        s.covers.append(
            Cover(
                item=item,
                quote_index=position,
                quote_id=f"q-{uuid.uuid4().hex[:8]}",
                status=cover_status,
                policy_type=kind,
                price=Decimal(price),
                tax=Decimal(tax),
            )
        )
        position += 1
    for reason in declines or []:
        s.items.append(
            SaleItem(
                position=position,
                product_name="Speaker",
                category="electronics",
                price=Decimal("80.00"),
                purchase_date=date(2026, 1, 1),
                decision=Decision.DECLINE,
                decline_reason=reason,
            )
        )
        position += 1
    db.session.add(s)
    db.session.flush()
    return s


def confirmed_return(s: Sale, by: User, confirmed_at: datetime, refunded: str, inside: list[bool]) -> PolicyReturn:
    """Add a return XCover confirmed for the sale's policies, one line per policy with its cooling-off answer."""
    ret = PolicyReturn(
        sale_id=s.id,
        status=ReturnStatus.CONFIRMED,
        reason=ReturnReason.CHANGED_MIND,
        requested_by_id=by.id,
        cancellation_id=uuid.uuid4().hex,
        currency=s.currency,
        total_refund=Decimal(refunded),
        refunded_amount=Decimal(refunded),
        idempotency_key=uuid.uuid4().hex,
        confirmed_at=confirmed_at,
        created_at=confirmed_at,
    )
    for cover, within in zip(s.covers, inside, strict=False):
        ret.lines.append(ReturnLine(cover_id=cover.id, refund=cover.price, inside_cooling_off=within))
    db.session.add(ret)
    db.session.flush()
    return ret
