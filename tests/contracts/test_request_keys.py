"""Send only what XCover knows: every request body the portal builds carries only keys that the reference
documents or the recorded traffic shows (the retail item's keys come from the configured item template)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.extensions import db
from portal.models import Sale
from portal.sales.item_template import OFFERS_STYLE_TEMPLATE, configured
from portal.xcover import get_client
from portal.xcover.recording import Call, Capture, load

from ..conftest import csrf_token
from ..test_sales_views import start_sale
from .documented import DOCUMENTED, key_paths, recorded_paths, undocumented

FULL_SALE = {
    "items-0-model": "X1",
    "items-0-sku": "SKU-1",
    "items-0-serial_number": "SN-1",
    "items-1-brand": "Fone",
    "region": "London",
    "address1": "1 High Street",
}


def unknown_keys(app: Flask, calls: list[Call]) -> dict[str, list[str]]:
    """Each call's undocumented key paths, by call."""
    template_keys = key_paths(configured(app.config))
    found = {}
    for call in calls:
        assert call.operation, f"{call.method} {call.path} is no XCover operation"
        unknown = undocumented(call.operation, call.request_body, template_keys)
        if unknown:
            found[f"{call.operation} {call.path}"] = unknown
    return found


def test_the_checker_knows_every_recorded_operation_and_catches_a_policyholder_language() -> None:
    assert set(recorded_paths()) - set(DOCUMENTED) <= {
        "get_quote",
        "get_booking",
        "list_bookings",
        "add_quotes",
        "delete_quotes",
        "instant_booking",
        "get_instalments",
        "record_instalment",
    }
    body = {"quotes": [{"id": "q"}], "policyholder": {"first_name": "Ada", "language": "en"}}
    assert undocumented("create_booking", body, ()) == ["policyholder.language"]
    assert undocumented("create_quote", {"request": [{"product_name": "TV"}], "currency": "GBP"}, ()) == [
        "request[].product_name"
    ]
    assert undocumented("opt_out", {"partner_metadata": {"sale_id": "1", "deep": {"x": 1}}}, ()) == [
        "partner_metadata.deep.x"
    ]


@pytest.fixture
def seller(store, make_user, auth):
    """A signed-in associate selling against the mounted sandbox."""
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def sell_and_decline(client: Any) -> None:
    """Two sales through the screens: one with cover for both products, booked and emailed; one declined."""
    sale_id = start_sale(client, **FULL_SALE)
    sale = db.session.get(Sale, sale_id)
    data = {"csrf_token": csrf_token(client, f"/sales/{sale_id}/options"), "acknowledged": "y"}
    data.update({f"choice_{item.id}": str(next(c.id for c in item.covers if c.quote_id)) for item in sale.items})
    assert client.post(f"/sales/{sale_id}/options", data=data).status_code == 302
    db.session.expire_all()
    amount = str(db.session.get(Sale, sale_id).cover_total)
    pay = {"csrf_token": csrf_token(client, f"/sales/{sale_id}/payment"), "payment_method": "card"}
    pay.update({"receipt_number": "R-1", "amount_collected": amount})
    assert client.post(f"/sales/{sale_id}/payment", data=pay).status_code == 302
    db.session.expire_all()
    assert db.session.get(Sale, sale_id).status == "booked", db.session.get(Sale, sale_id).last_error
    client.post(f"/sales/{sale_id}/email", data={"csrf_token": csrf_token(client, f"/sales/{sale_id}")})

    declined_id = start_sale(client)
    declined = db.session.get(Sale, declined_id)
    data = {"csrf_token": csrf_token(client, f"/sales/{declined_id}/options")}
    for item in declined.items:
        data[f"choice_{item.id}"] = "none"
        data[f"reason_{item.id}"] = "too_expensive"
    client.post(f"/sales/{declined_id}/options", data=data)
    db.session.expire_all()
    assert db.session.get(Sale, declined_id).status == "declined"


def test_a_sale_sends_only_known_keys(app: Flask, seller: Any) -> None:
    capture = Capture()
    capture.attach(get_client().session)
    sell_and_decline(seller)
    calls = capture.take()
    assert {"create_quote", "create_booking", "send_email", "opt_out"} <= {c.operation for c in calls}
    assert unknown_keys(app, calls) == {}


def test_the_recorders_requests_carry_only_known_keys(app: Flask, runner: Any, tmp_path: Path) -> None:
    result = runner.invoke(args=["xcover", "record", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    calls = [r.call for r in load(tmp_path)]
    assert {"create_quote", "create_booking", "cancel", "confirm_cancellation", "opt_out"} <= {
        c.operation for c in calls
    }
    assert unknown_keys(app, calls) == {}


def test_with_a_nested_item_template_the_item_keys_are_the_templates(app: Flask) -> None:
    app.config["XCOVER_ITEM_TEMPLATE"] = OFFERS_STYLE_TEMPLATE
    body = {"request": [{"policy_type": "p", "product": {"title": "TV", "retail_value": 1.0}}], "currency": "GBP"}
    assert undocumented("create_quote", body, key_paths(configured(app.config))) == []
    stray = {"request": [{"product": {"title": "TV", "colour": "red"}}]}
    assert undocumented("create_quote", stray, key_paths(configured(app.config))) == ["request[].product.colour"]
