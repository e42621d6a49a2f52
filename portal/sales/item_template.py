"""The shape of one retail item in XCover's quote request, as configuration: a JSON template over our fields.

XCover has not confirmed its retail item fields, so their names and nesting are set by XCOVER_ITEM_TEMPLATE.
The template is a JSON object. A string that is exactly "{field}" becomes that field's value with its JSON
type (a number stays a number); a string mixing text and fields ("{brand} {model}") becomes text; any other
value is sent as written. Keys whose value is empty are left out, and so are objects left empty. Objects nest,
so an Offers-style `product{sku, title, quantity, retail_value}` is a template like any other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

# What a template may name: the product as typed at the counter, the offer, and the cover's start.
FIELDS = frozenset(
    {
        "product_name",
        "category",
        "price",
        "quantity",
        "brand",
        "model",
        "sku",
        "serial_number",
        "purchase_date",
        "policy_type",
        "policy_type_version",
        "cover_term_months",
        "policy_start_date",
    }
)

# Today's flat shape, which the sandbox serves.
DEFAULT_TEMPLATE: dict[str, Any] = {
    "policy_type": "{policy_type}",
    "policy_type_version": "{policy_type_version}",
    "cover_term_months": "{cover_term_months}",
    "policy_start_date": "{policy_start_date}",
    "product_name": "{product_name}",
    "product_category": "{category}",
    "product_price": "{price}",
    "quantity": "{quantity}",
    "product_brand": "{brand}",
    "product_model": "{model}",
    "product_sku": "{sku}",
    "serial_number": "{serial_number}",
    "purchase_date": "{purchase_date}",
}

# The Offers API's retail product (see docs/xcover.md), nested, with a description built from our fields.
OFFERS_STYLE_TEMPLATE: dict[str, Any] = {
    "policy_type": "{policy_type}",
    "policy_type_version": "{policy_type_version}",
    "policy_start_date": "{policy_start_date}",
    "purchase_date": "{purchase_date}",
    "product": {
        "sku": "{sku}",
        "title": "{product_name}",
        "quantity": "{quantity}",
        "retail_value": "{price}",
        "brand": "{brand}",
        "model": "{model}",
        "category": "{category}",
        "description": "{brand} {model} {product_name}",
        "term": "{cover_term_months}",
    },
}

_REF = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class TemplateError(ValueError):
    """The configured item template cannot be used."""


def validate(template: Any, where: str = "XCOVER_ITEM_TEMPLATE") -> None:
    """Raise TemplateError unless the template is a JSON object naming only known fields."""
    if not isinstance(template, Mapping) or not template:
        raise TemplateError(f"{where} must be a non-empty JSON object")
    _check(template, where)


def _check(node: Any, where: str) -> None:
    """Check one node of the template."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if not isinstance(key, str) or not key:
                raise TemplateError(f"{where}: keys must be non-empty text")
            _check(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _check(value, f"{where}[{index}]")
    elif isinstance(node, str):
        unknown = sorted(set(_REF.findall(node)) - FIELDS)
        if unknown:
            known = ", ".join(sorted(FIELDS))
            raise TemplateError(f"{where} names unknown field(s) {', '.join(unknown)}; known: {known}")
    elif node is not None and not isinstance(node, (bool, int, float)):
        raise TemplateError(f"{where}: {type(node).__name__} is not a JSON value")


def _json_value(value: Any) -> Any:
    """A Python value as XCover's JSON carries it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _empty(value: Any) -> bool:
    """Tell whether a rendered value is left out."""
    return value is None or value == "" or value == {} or value == []


def render(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Build one request[] item from the template and our values."""
    rendered = _render(template, values)
    return rendered if isinstance(rendered, dict) else {}


def _render(node: Any, values: Mapping[str, Any]) -> Any:
    """Render one node; None means "leave it out"."""
    if isinstance(node, Mapping):
        out = {key: _render(value, values) for key, value in node.items()}
        return {key: value for key, value in out.items() if not _empty(value)} or None
    if isinstance(node, list):
        return [item for item in (_render(value, values) for value in node) if not _empty(item)] or None
    if isinstance(node, str):
        whole = _WHOLE.match(node)
        if whole:
            value = _json_value(values.get(whole.group(1)))
            return None if _empty(value) else value
        if not _REF.search(node):
            return node
        text = _REF.sub(lambda m: str(_json_value(values.get(m.group(1))) or ""), node)
        return " ".join(text.split()).strip(" ,;-") or None
    return node


def field_at(template: Mapping[str, Any], path: Sequence[str]) -> str | None:
    """The one field a key path of the item (as XCover names an error: product.retail_value) was built from."""
    node: Any = template
    for key in path:
        if isinstance(node, Mapping) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    if isinstance(node, str):
        whole = _WHOLE.match(node)
        if whole:
            return whole.group(1)
        named = _REF.findall(node)
        return named[0] if len(set(named)) == 1 else None
    return None


def top_level_keys(template: Mapping[str, Any]) -> dict[str, str]:
    """Our fields sent whole as a top-level key of the item ({"serial_number": "serial_number"}), e.g. to update."""
    keys: dict[str, str] = {}
    for key, node in template.items():
        whole = _WHOLE.match(node) if isinstance(node, str) else None
        if whole:
            keys.setdefault(whole.group(1), key)
    return keys


def from_field_map(field_map: Mapping[str, str | None], base: Mapping[str, Any] = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The flat template a legacy XCOVER_ITEM_FIELD_MAP ({our field: XCover key or null}) makes of `base`."""
    template = dict(base)
    for ours, theirs in field_map.items():
        template = {key: value for key, value in template.items() if value != f"{{{ours}}}"}
        if theirs:
            template[str(theirs)] = f"{{{ours}}}"
    return template


def configured(config: Mapping[str, Any]) -> dict[str, Any]:
    """The item template an app config sets: XCOVER_ITEM_TEMPLATE, else the default, with any legacy field map."""
    template = config.get("XCOVER_ITEM_TEMPLATE") or DEFAULT_TEMPLATE
    legacy = config.get("XCOVER_ITEM_FIELD_MAP")
    if legacy:
        if config.get("XCOVER_ITEM_TEMPLATE"):
            raise TemplateError("set XCOVER_ITEM_TEMPLATE or the older XCOVER_ITEM_FIELD_MAP, not both")
        if not isinstance(legacy, Mapping):
            raise TemplateError("XCOVER_ITEM_FIELD_MAP must be a JSON object")
        template = from_field_map(legacy)
    validate(template)
    return dict(template)
