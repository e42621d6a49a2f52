"""Helpers for the after-sale tests: a booked sale on the mounted sandbox, and the forms that follow."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, PolicyReturn, Sale
from tests.conftest import PASSWORD, csrf_token
from tests.test_sales_views import choose_all, start_sale


def book_sale(client: Any, **overrides: str) -> Sale:
    """Sell a two-product sale with cover for both through the screens, on the sandbox; return it booked."""
    sale_id = start_sale(client, **overrides)
    choose_all(client, sale_id)
    html = client.get(f"/sales/{sale_id}/payment").get_data(as_text=True)
    total = re.search(r'id="cover-total">£([0-9,]+\.[0-9]{2})<', html).group(1).replace(",", "")
    token = csrf_token(client, f"/sales/{sale_id}/payment")
    data = {"csrf_token": token, "payment_method": "card", "receipt_number": "T-1", "amount_collected": total}
    client.post(f"/sales/{sale_id}/payment", data=data)
    db.session.expire_all()
    sale = db.session.get(Sale, sale_id)
    assert sale.status == "booked", sale.last_error
    return sale


def post(client: Any, path: str, data: dict[str, Any], form: str) -> Any:
    """POST with a CSRF token taken from the page `form`."""
    return client.post(path, data={"csrf_token": csrf_token(client, form), **data})


def request_return(client: Any, sale: Sale, *covers: int, reason: str = "product_returned") -> Any:
    """Ask for a return of the given policies (ids) through the form."""
    form = f"/sales/{sale.id}/returns/new"
    return post(client, form, {"covers": [str(c) for c in covers], "reason": reason}, form)


def latest_return() -> PolicyReturn:
    """The newest return."""
    db.session.expire_all()
    return db.session.scalar(sa.select(PolicyReturn).order_by(PolicyReturn.id.desc()))


def return_page(ret: PolicyReturn) -> str:
    """The return's page path."""
    return f"/sales/{ret.sale_id}/returns/{ret.id}"


def approve_here(client: Any, ret: PolicyReturn, username: str, password: str = PASSWORD, decision: str = "approve"):
    """A manager signs for the decision in the sheet on the return's page."""
    data = {"username": username, "password": password, "decision": decision}
    return post(client, return_page(ret) + "/approve-here", data, return_page(ret))


def confirm(client: Any, ret: PolicyReturn, reference: str = "R-77") -> Any:
    """Type the till's refund reference and confirm."""
    return post(client, return_page(ret) + "/confirm", {"refund_reference": reference}, return_page(ret))


def actions_since(event_id: int) -> list[str]:
    """The audit actions recorded after an event id."""
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.id > event_id).order_by(AuditEvent.id))
    )


def last_event_id() -> int:
    """The highest audit event id so far."""
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))
