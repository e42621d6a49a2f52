"""The offer catalogue in use (published in the database), and the quote request built through the item template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, has_request_context

from ..extensions import db
from ..models import CatalogueVersion
from ..vocab import CatalogueStatus
from . import item_template

# Which cover to ask XCover for, per product category, on a database with no catalogue yet: `flask init-db`
# publishes it (or OFFER_CATALOGUE instead) as version 1; head office edits later versions on screen.
# Matches the embedded sandbox.
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


@dataclass(frozen=True)
class Catalogue:
    """The catalogue in use: its version (none before one is published) and its categories, key -> entry."""

    version_id: int | None
    number: int | None
    categories: dict[str, dict[str, Any]]


_IN_USE = "offer_catalogue_in_use"
# The version in use: one index lookup on the partial unique index of the published version.
_PUBLISHED = sa.select(CatalogueVersion.id).where(CatalogueVersion.status == CatalogueStatus.PUBLISHED)
_PUBLISHED_KEPT = "offer_catalogue_published"  # app.extensions: version id -> Catalogue, for this app's database
_KEEP = 8


def version_value(text: str) -> Any:
    """Return a policy type version as XCover takes it: a number when it is one, else the text."""
    return int(text) if text.isdigit() else text


def as_mapping(version: CatalogueVersion) -> dict[str, dict[str, Any]]:
    """Return a catalogue version's categories in the OFFER_CATALOGUE shape."""
    return {
        category.key: {
            "label": category.label,
            "offers": [
                {
                    "policy_type": line.policy_type,
                    "policy_type_version": version_value(line.policy_type_version),
                    "cover_term_months": line.cover_term_months,
                }
                for line in category.lines
            ],
        }
        for category in version.categories
    }


def in_use() -> Catalogue:
    """Return the published catalogue version, read once per request (empty until `flask init-db` seeds one)."""
    if has_request_context() and _IN_USE in g:
        return g.get(_IN_USE)
    row = db.session.execute(_PUBLISHED).first()
    # A published version never changes (only drafts are edited): its categories are read once per process.
    found = Catalogue(None, None, {}) if row is None else _kept().get(row.id) or _remember(row.id)
    if has_request_context():
        setattr(g, _IN_USE, found)
    return found


def _kept() -> dict[int, Catalogue]:
    """Return the published versions this app has read (its own database's)."""
    return current_app.extensions.setdefault(_PUBLISHED_KEPT, {})


def _remember(version_id: int) -> Catalogue:
    """Read a published version's categories and keep them for this process."""
    version = db.session.get(CatalogueVersion, version_id)
    assert version is not None
    found = Catalogue(version.id, version.number, as_mapping(version))
    kept = _kept()
    if len(kept) >= _KEEP:
        kept.clear()
    kept[version_id] = found
    return found


def forget_in_use() -> None:
    """Drop this request's copy of the catalogue in use (after publishing a new one)."""
    if has_request_context():
        g.pop(_IN_USE, None)


def catalogue() -> dict[str, dict[str, Any]]:
    """Return the catalogue in use, category key -> {"label", "offers"}."""
    return in_use().categories


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
    return quote_payload(request, currency=currency, country=country, region=region, language=language), lines


def quote_payload(
    request: list[dict[str, Any]], *, currency: str, country: str, region: str, language: str
) -> dict[str, Any]:
    """Wrap request[] elements in a quote request: currency, the customer's country, region and language."""
    payload: dict[str, Any] = {
        "request": request,
        "currency": currency,
        "customer_country": country,
        "customer_language": language,
    }
    if region:
        payload["customer_region"] = region
    return payload


def field_keys() -> dict[str, str]:
    """Our fields that the item template sends whole at its top level, with their XCover keys."""
    return item_template.top_level_keys(item_shape())


def our_field(xcover_key: str) -> str | None:
    """Return the product field an XCover item key (dotted when nested: product.retail_value) came from."""
    return item_template.field_at(item_shape(), xcover_key.split("."))
