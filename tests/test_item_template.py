"""The retail item's shape as configuration: a JSON template that can nest, default flat, checked at start-up."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from portal import create_app
from portal.extensions import db
from portal.models import Sale
from portal.sales import catalogue, quoting
from portal.sales.item_template import (
    DEFAULT_TEMPLATE,
    OFFERS_STYLE_TEMPLATE,
    TemplateError,
    configured,
    field_at,
    render,
    validate,
)
from portal.xcover import get_client
from portal.xcover.recording import Capture
from tests.test_sales_views import start_sale

VALUES: dict[str, Any] = {
    "product_name": "OLED TV",
    "category": "electronics",
    "price": Decimal("899.99"),
    "quantity": 2,
    "brand": "Sony",
    "model": "",
    "sku": "SKU-55",
    "serial_number": None,
    "purchase_date": date(2026, 11, 27),
    "policy_type": "product_warranty",
    "policy_type_version": 1,
    "cover_term_months": 24,
    "policy_start_date": "2026-11-27T00:00:00Z",
}


def test_the_default_template_is_todays_flat_shape() -> None:
    assert render(DEFAULT_TEMPLATE, VALUES) == {
        "policy_type": "product_warranty",
        "policy_type_version": 1,
        "cover_term_months": 24,
        "policy_start_date": "2026-11-27T00:00:00Z",
        "product_name": "OLED TV",
        "product_category": "electronics",
        "product_price": 899.99,
        "quantity": 2,
        "product_brand": "Sony",
        "product_sku": "SKU-55",
        "purchase_date": "2026-11-27",
    }


def test_an_offers_style_template_nests_and_builds_a_description() -> None:
    item = render(OFFERS_STYLE_TEMPLATE, VALUES)
    assert item["product"] == {
        "sku": "SKU-55",
        "title": "OLED TV",
        "quantity": 2,
        "retail_value": 899.99,
        "brand": "Sony",
        "category": "electronics",
        "description": "Sony OLED TV",
        "term": 24,
    }
    assert item["purchase_date"] == "2026-11-27" and "model" not in item["product"]


def test_empty_values_and_emptied_objects_are_left_out_literals_kept() -> None:
    template = {"a": "{model}", "b": {"c": "{serial_number}"}, "d": "fixed", "e": 3, "f": ["{sku}", "{model}"]}
    assert render(template, VALUES) == {"d": "fixed", "e": 3, "f": ["SKU-55"]}


@pytest.mark.parametrize(
    "path, field",
    [
        (["product", "retail_value"], "price"),
        (["product", "title"], "product_name"),
        (["product", "description"], None),  # built from several fields: no one field to point at
        (["product", "nowhere"], None),
        (["policy_type"], "policy_type"),
    ],
)
def test_an_error_path_leads_back_to_our_field(path: list[str], field: str | None) -> None:
    assert field_at(OFFERS_STYLE_TEMPLATE, path) == field


@pytest.mark.parametrize(
    "template, message",
    [
        ({"product": {"title": "{name}"}}, "unknown field(s) name"),
        ([], "non-empty JSON object"),
        ({}, "non-empty JSON object"),
        ({"a": {"": "{sku}"}}, "keys must be non-empty"),
    ],
)
def test_a_bad_template_is_refused(template: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(template)


def test_the_app_refuses_to_start_with_a_bad_template() -> None:
    with pytest.raises(RuntimeError, match="unknown field"):
        create_app({"TESTING": True, "XCOVER_ITEM_TEMPLATE": {"product": {"title": "{titel}"}}})


def test_the_older_field_map_still_works_but_not_with_a_template() -> None:
    flat = configured({"XCOVER_ITEM_FIELD_MAP": {"price": "item_value", "sku": None}})
    assert flat["item_value"] == "{price}" and "product_price" not in flat and "product_sku" not in flat
    with pytest.raises(TemplateError, match="not both"):
        configured({"XCOVER_ITEM_TEMPLATE": OFFERS_STYLE_TEMPLATE, "XCOVER_ITEM_FIELD_MAP": {"price": "x"}})


def test_xcover_errors_on_a_nested_item_land_on_our_fields(app) -> None:
    app.config["XCOVER_ITEM_TEMPLATE"] = OFFERS_STYLE_TEMPLATE
    lines = [catalogue.QuoteLine(0, catalogue.Offer("product_warranty", 1, 24))]
    errors = {"request.0.product.retail_value": ["Ensure this value is greater than 0."], "request.0.product.x": ["?"]}
    assert quoting.map_field_errors(errors, lines) == {
        "items-0-price": ["Ensure this value is greater than 0."],
        "__all__": ["?"],
    }


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"XCOVER_ITEM_TEMPLATE": OFFERS_STYLE_TEMPLATE}


@pytest.fixture
def seller(store, make_user, auth):
    """A signed-in associate selling against the mounted sandbox."""
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client


def test_a_sale_quotes_with_the_offers_style_template_on_the_sandbox(app, seller) -> None:
    capture = Capture()
    capture.attach(get_client().session)
    sale_id = start_sale(seller)
    sale = db.session.get(Sale, sale_id)
    assert sale.status == "quoted" and any(c.quote_id for c in sale.covers)
    (sent,) = [c.request_body for c in capture.take() if c.operation == "create_quote"]
    product = sent["request"][0]["product"]
    assert product["title"] == sale.items[0].product_name and product["retail_value"] == float(sale.items[0].price)
    assert "product_name" not in sent["request"][0] and product["description"]


def test_only_fields_sent_whole_at_the_top_level_can_be_named_for_an_update() -> None:
    from portal.sales.item_template import DEFAULT_TEMPLATE, OFFERS_STYLE_TEMPLATE, top_level_keys

    assert top_level_keys(DEFAULT_TEMPLATE)["serial_number"] == "serial_number"
    assert top_level_keys(DEFAULT_TEMPLATE)["price"] == "product_price"
    nested = top_level_keys(OFFERS_STYLE_TEMPLATE)
    assert "price" not in nested and nested["purchase_date"] == "purchase_date"
