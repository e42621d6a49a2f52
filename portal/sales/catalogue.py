"""The offer catalogue, and building the quote request through the configured item template (item_template.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app

from . import item_template

# Which cover to ask XCover for, per product category. Matches the embedded sandbox.
DEFAULT_CATALOGUE: dict[str, dict[str, Any]] = {
    "electronics": {
        "label": "Electronics",
        "offers": [
            {"policy_type": "product_warranty", "policy_type_version": 1, "cover_term_months": 24},
            {"policy_type": "product_insurance", "policy_type_version": 1, "cover_term_months": 12},
        ],
    },
    "mobile_phones": {
        "label": "Mobile phones",
        "offers": [
            {"policy_type": "device_protection", "policy_type_version": 1, "cover_term_months": 12},
            {"policy_type": "device_protection", "policy_type_version": 1, "cover_term_months": 24},
        ],
    },
    "tablets": {
        "label": "Tablets",
        "offers": [
            {"policy_type": "device_protection", "policy_type_version": 1, "cover_term_months": 12},
            {"policy_type": "product_warranty", "policy_type_version": 1, "cover_term_months": 24},
        ],
    },
    "computers": {
        "label": "Computers",
        "offers": [
            {"policy_type": "product_warranty", "policy_type_version": 1, "cover_term_months": 24},
            {"policy_type": "product_insurance", "policy_type_version": 1, "cover_term_months": 12},
        ],
    },
    "appliances": {
        "label": "Appliances",
        "offers": [
            {"policy_type": "product_warranty", "policy_type_version": 1, "cover_term_months": 36},
        ],
    },
    "furniture": {
        "label": "Furniture",
        "offers": [
            {"policy_type": "product_insurance", "policy_type_version": 1, "cover_term_months": 36},
        ],
    },
    "jewellery": {
        "label": "Jewellery",
        "offers": [
            {"policy_type": "product_insurance", "policy_type_version": 1, "cover_term_months": 12},
        ],
    },
}


@dataclass(frozen=True)
class Offer:
    """One kind of cover to request for a product."""

    policy_type: str
    policy_type_version: Any
    cover_term_months: int | None


@dataclass(frozen=True)
class QuoteLine:
    """Which product and offer one element of the quote request stands for."""

    item_position: int
    offer: Offer


def catalogue() -> dict[str, dict[str, Any]]:
    """Return the configured offer catalogue (or the default)."""
    return current_app.config.get("OFFER_CATALOGUE") or DEFAULT_CATALOGUE


def item_shape() -> dict[str, Any]:
    """Return the configured template of one request[] item (XCOVER_ITEM_TEMPLATE, else today's flat shape)."""
    return item_template.configured(current_app.config)


def category_choices() -> list[tuple[str, str]]:
    """Return (value, label) pairs for the Category field."""
    return [(key, entry.get("label") or key.replace("_", " ").capitalize()) for key, entry in catalogue().items()]


def category_label(key: str) -> str:
    """Return a category's label."""
    return dict(category_choices()).get(key, key)


def offers_for(category: str) -> list[Offer]:
    """Return the offers to request for a category (none for an unknown one)."""
    entry = catalogue().get(category) or {}
    return [
        Offer(o["policy_type"], o.get("policy_type_version", 1), o.get("cover_term_months"))
        for o in entry.get("offers", [])
    ]


def item_payload(product: Mapping[str, Any], offer: Offer, template: Mapping[str, Any]) -> dict[str, Any]:
    """Build one request[] element from a product and an offer, through the item template."""
    values = {
        **product,
        "policy_type": offer.policy_type,
        "policy_type_version": offer.policy_type_version,
        "cover_term_months": offer.cover_term_months,
        "policy_start_date": f"{product['purchase_date'].isoformat()}T00:00:00Z",
    }
    return item_template.render(template, values)


def build_quote_request(
    products: list[Mapping[str, Any]], *, currency: str, country: str, region: str, language: str
) -> tuple[dict[str, Any], list[QuoteLine]]:
    """Build the one quote request for a basket and say which product each element is for."""
    template = item_shape()
    request: list[dict[str, Any]] = []
    lines: list[QuoteLine] = []
    for position, product in enumerate(products):
        for offer in offers_for(product["category"]):
            request.append(item_payload(product, offer, template))
            lines.append(QuoteLine(position, offer))
    payload: dict[str, Any] = {
        "request": request,
        "currency": currency,
        "customer_country": country,
        "customer_language": language,
    }
    if region:
        payload["customer_region"] = region
    return payload, lines


def our_field(xcover_key: str) -> str | None:
    """Return the product field an XCover item key (dotted when nested: product.retail_value) came from."""
    return item_template.field_at(item_shape(), xcover_key.split("."))
