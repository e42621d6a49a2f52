"""What the sandbox refuses, as XCover does: ApiError (with its 422 and 404) and the checks of every request body."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from . import catalogue as cat

REQUIRED = "This field is required."
UNEXPECTED = "Unexpected field"
TOP_FIELDS = {
    "request",
    "currency",
    "customer_country",
    "customer_region",
    "customer_language",
    "customer_postcode",
    "partner_customer_id",
    "partner_subsidiary",
    "partner_metadata",
    "partner_transaction_id",
}
ITEM_FIELDS = {
    "policy_type",
    "policy_type_version",
    "policy_start_date",
    "product_name",
    "product_category",
    "product_price",
    "product_brand",
    "product_model",
    "product_sku",
    "serial_number",
    "purchase_date",
    "quantity",
    "cover_term_months",
}
# An Offers-style item's product{} keys -> the flat keys above (None: accepted, not used for pricing).
PRODUCT_KEYS: dict[str, str | None] = {
    "sku": "product_sku",
    "title": "product_name",
    "quantity": "quantity",
    "retail_value": "product_price",
    "brand": "product_brand",
    "model": "product_model",
    "category": "product_category",
    "term": "cover_term_months",
    "serial_number": "serial_number",
    "description": None,
    "variant": None,
    "condition": None,
}
ITEM_REQUIRED = ("policy_type", "product_name", "product_category", "product_price", "cover_term_months")
UPDATABLE_ITEM_FIELDS = {
    "product_name",
    "product_price",
    "product_brand",
    "product_model",
    "product_sku",
    "serial_number",
    "purchase_date",
    "quantity",
}
POLICYHOLDER_FIELDS = {
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "secondary_email",
    "phone",
    "country",
    "region",
    "city",
    "postcode",
    "address1",
    "address2",
    "age",
    "birth_date",
    "company",
}
INSURED_FIELDS = POLICYHOLDER_FIELDS | {"metadata"}
POLICYHOLDER_REQUIRED = ("first_name", "last_name", "email", "country")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ApiError(Exception):
    """An XCover error answer: status and body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def validation_error(errors: Any, message: str = "An API error occurred.") -> ApiError:
    """A 422 in XCover's shape."""
    return ApiError(422, {"type": "validation_error", "message": message, "errors": errors})


def not_found() -> ApiError:
    """A 404 for an unknown package or one of another partner."""
    return ApiError(404, {"type": "not_found", "message": "Not found.", "errors": {}})


def decline() -> ApiError:
    """The insurer's refusal of a booking (magic last name or the decline fault)."""
    return validation_error(["The booking was declined by the insurer. No policy was issued."], "Booking declined.")


def parse_moment(value: Any) -> datetime:
    """Read an RFC 3339 date or date-time; a bare date means midnight UTC."""
    text = str(value).strip().replace("Z", "+00:00")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(value: Any) -> Decimal | None:
    """A number from JSON (or numeric text), or None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _int(value: Any) -> int | None:
    """An integer from JSON (or digits), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def mark_unexpected(body: dict[str, Any], allowed: set[str], errors: dict[str, Any]) -> None:
    """Mark every key XCover would not know."""
    for key in body:
        if key not in allowed:
            errors[key] = UNEXPECTED


def latest_local_date(now: datetime) -> date:
    """Return the latest calendar date anywhere on Earth (UTC+14) at this instant."""
    # A store in Sydney or Auckland is already on tomorrow's date while UTC is still on today's.
    return (now.astimezone(UTC) + timedelta(hours=14)).date()


def _from_offers_style(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An item nesting `product{...}` as the Offers API does, as the flat item; plus errors of the nesting."""
    product = item["product"]
    flat = {k: v for k, v in item.items() if k != "product"}
    unexpected = {k: UNEXPECTED for k in product if k not in PRODUCT_KEYS}
    for key, value in product.items():
        if PRODUCT_KEYS.get(key):
            flat[PRODUCT_KEYS[key]] = value
    return flat, ({"product": unexpected} if unexpected else {})


def _to_offers_style(errors: dict[str, Any]) -> dict[str, Any]:
    """Errors of a flat item named as the nested item's keys (product_price -> product.retail_value)."""
    back = {flat: nested for nested, flat in PRODUCT_KEYS.items() if flat}
    out: dict[str, Any] = {}
    for key, value in errors.items():
        if key in back:
            out.setdefault("product", {})[back[key]] = value
        else:
            out[key] = value
    return out


def check_item(item: Any, today: date, *, partial: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate one request[] element, flat or Offers-style nested; return (clean flat item, errors)."""
    if not isinstance(item, dict):
        return {}, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    if isinstance(item.get("product"), dict):
        flat, nesting = _from_offers_style(item)
        clean, errors = check_item(flat, today, partial=partial)
        errors = _to_offers_style(errors)
        if nesting:
            errors.setdefault("product", {}).update(nesting["product"])
        return clean, errors
    errors: dict[str, Any] = {}
    allowed = ITEM_FIELDS | ({"quote_id"} if partial else set())
    mark_unexpected(item, allowed, errors)
    if not partial:
        for name in ITEM_REQUIRED:
            if item.get(name) in (None, ""):
                errors[name] = [REQUIRED]
    clean: dict[str, Any] = {}
    for name, value in item.items():
        if name in errors or name not in ITEM_FIELDS or value is None:
            continue
        if name == "policy_type":
            if value not in cat.POLICY_TYPES:
                errors[name] = [f'"{value}" is not a valid choice.']
        elif name == "product_category":
            if value not in cat.CATEGORIES:
                errors[name] = [f'"{value}" is not a valid choice.']
        elif name == "product_price":
            number = _decimal(value)
            if number is None:
                errors[name] = ["A valid number is required."]
            elif number <= 0:
                errors[name] = ["Ensure this value is greater than 0."]
            elif number.as_tuple().exponent < -2:  # type: ignore[operator]
                errors[name] = ["Ensure that there are no more than 2 decimal places."]
            else:
                value = str(number)
        elif name == "cover_term_months":
            if _int(value) not in cat.TERMS:
                errors[name] = [f'"{value}" is not a valid choice.']
            else:
                value = _int(value)
        elif name == "quantity":
            count = _int(value)
            if count is None or not 1 <= count <= 99:
                errors[name] = ["Ensure this value is a whole number from 1 to 99."]
            else:
                value = count
        elif name == "purchase_date":
            try:
                bought = date.fromisoformat(str(value))
            except ValueError:
                errors[name] = ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]
            else:
                if bought > today:
                    errors[name] = ["The purchase date cannot be in the future."]
        elif name == "policy_start_date":
            try:
                parse_moment(value)
            except ValueError:
                errors[name] = ["Datetime has wrong format. Use RFC 3339, e.g. 2026-01-01T09:00:00Z."]
        elif name in ("product_name", "product_brand", "product_model", "product_sku", "serial_number"):
            if not isinstance(value, str):
                errors[name] = ["Not a valid string."]
            elif len(value) > 255:
                errors[name] = ["Ensure this field has no more than 255 characters."]
        clean[name] = value
    return clean, errors


def check_top(body: Any, *, partial: bool) -> dict[str, Any]:
    """Validate the top level of a quote request; raise the 422 XCover would send."""
    if not isinstance(body, dict):
        raise validation_error({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    errors: dict[str, Any] = {}
    mark_unexpected(body, TOP_FIELDS, errors)
    if not partial:
        for name in ("currency", "request", "customer_country"):
            if body.get(name) in (None, "", []):
                errors[name] = [REQUIRED] if body.get(name) != [] else ["This list may not be empty."]
    currency = body.get("currency")
    if currency not in (None, "") and currency not in cat.CURRENCIES:
        errors["currency"] = [f'"{currency}" is not a valid choice.']
    country = body.get("customer_country")
    if country not in (None, "") and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
        errors["customer_country"] = ["Enter a valid ISO 3166-1 alpha-2 country code."]
    request_items = body.get("request")
    if request_items is not None and not isinstance(request_items, list):
        errors["request"] = [f'Expected a list of items but got type "{type(request_items).__name__}".']
    metadata = body.get("partner_metadata")
    if metadata is not None and not is_flat(metadata):
        errors["partner_metadata"] = ["Must be an object of simple key-value pairs."]
    if errors:
        raise validation_error(errors)
    return body


def is_flat(value: Any) -> bool:
    """Tell whether value is a flat key -> scalar object (partner_metadata)."""
    return isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) or v is None for v in value.values())


def check_policyholder(holder: Any, *, partial: bool = False) -> dict[str, Any]:
    """Return the policyholder's field errors (empty when valid)."""
    if not isinstance(holder, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, Any] = {}
    mark_unexpected(holder, POLICYHOLDER_FIELDS, errors)
    if not partial:
        for name in POLICYHOLDER_REQUIRED:
            if not holder.get(name):
                errors[name] = [REQUIRED]
    email = holder.get("email")
    if email and not (isinstance(email, str) and _EMAIL.match(email)):
        errors["email"] = ["Enter a valid email address."]
    phone = holder.get("phone")
    if phone not in (None, ""):
        if not isinstance(phone, str) or not phone.startswith("+"):
            errors["phone"] = ['The phone number should start with "+" character']
        elif not re.fullmatch(r"\+\d{6,15}", phone.replace(" ", "")):
            errors["phone"] = ["Enter a valid phone number."]
    country = holder.get("country")
    if country and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
        errors["country"] = ["Enter a valid ISO 3166-1 alpha-2 country code."]
    return errors


def check_insured(people: Any) -> Any:
    """Errors of a quote's insured list (None when absent or valid)."""
    if people is None:
        return None
    if not isinstance(people, list):
        return [f'Expected a list of items but got type "{type(people).__name__}".']
    errors = []
    for person in people:
        if not isinstance(person, dict):
            errors.append({"non_field_errors": ["Invalid data. Expected a dictionary."]})
            continue
        found: dict[str, Any] = {}
        mark_unexpected(person, INSURED_FIELDS, found)
        errors.append(found)
    return errors if any(errors) else None


def only(body: Any, allowed: set[str]) -> dict[str, Any]:
    """Require a JSON object holding only the allowed keys."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    errors: dict[str, Any] = {}
    mark_unexpected(body, allowed, errors)
    if errors:
        raise validation_error(errors)
    return body
