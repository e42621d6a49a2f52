"""The sandbox's XCover behaviour: quotes, opt-out, bookings, modifications, cancellations, emails.

Each operation takes the partner and the parsed body and returns (status, body) or raises ApiError,
mirroring the shapes and quirks in reference/xcover-api.md. Nothing here reads `request`.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from . import catalogue as cat
from .extensions import db
from .models import SandboxPackage, SandboxPending

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
# The order XCover echoes a policyholder in: every key, null when not sent, then allow_updates.
POLICYHOLDER_ECHO = (
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "phone",
    "country",
    "age",
    "address1",
    "address2",
    "city",
    "postcode",
    "region",
    "secondary_email",
    "birth_date",
    "company",
)
# An insured person as XCover echoes one (more keys when sent).
INSURED_ECHO = ("first_name", "last_name", "email", "region", "age")
INSURED_FIELDS = POLICYHOLDER_FIELDS | {"metadata"}
POLICYHOLDER_REQUIRED = ("first_name", "last_name", "email", "country")
BOOKED = ("CONFIRMED", "PENDING_PAYMENT", "CANCELLED")
DECLINE_LAST_NAME = "declineson"
PREVIEW_HOURS = 24
EMAIL_EVENTS = ("BOOKING_CREATED", "BOOKING_UPDATED", "BOOKING_CANCELLED")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ALNUM = string.ascii_uppercase + string.digits
_MIXED = string.ascii_letters + string.digits


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


# ---- small helpers --------------------------------------------------------------------------------


def new_ref(suffix: str) -> str:
    """An XCover reference such as 7QK2M-PL9XD-INS."""

    def part() -> str:
        return "".join(secrets.choice(_ALNUM) for _ in range(5))

    return f"{part()}-{part()}-{suffix}"


def new_change_ref(suffix: str) -> str:
    """A cancellation or update id in XCover's form: three mixed-case groups, e.g. u7Thv-d6C5P-8FAQW-CCL."""
    return "-".join("".join(secrets.choice(_MIXED) for _ in range(5)) for _ in range(3)) + f"-{suffix}"


def new_token() -> str:
    """A security token like OYXZP-CgGUR-YI3Lz-RefU1."""
    alphabet = string.ascii_letters + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def stamp(moment: datetime) -> str:
    """created_at/updated_at form: microseconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def policy_time(moment: datetime) -> str:
    """Policy date form: +00:00 offset."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_moment(value: Any) -> datetime:
    """Read an RFC 3339 date or date-time; a bare date means midnight UTC."""
    text = str(value).strip().replace("Z", "+00:00")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


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


def public(doc: Any) -> Any:
    """Drop the sandbox's own bookkeeping keys (those starting with "_") from a document."""
    if isinstance(doc, dict):
        return {k: public(v) for k, v in doc.items() if not str(k).startswith("_")}
    if isinstance(doc, list):
        return [public(v) for v in doc]
    return doc


# ---- validation ---------------------------------------------------------------------------------


def _unexpected(body: dict[str, Any], allowed: set[str], errors: dict[str, Any]) -> None:
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


def _check_item(item: Any, today: date, *, partial: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate one request[] element, flat or Offers-style nested; return (clean flat item, errors)."""
    if not isinstance(item, dict):
        return {}, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    if isinstance(item.get("product"), dict):
        flat, nesting = _from_offers_style(item)
        clean, errors = _check_item(flat, today, partial=partial)
        errors = _to_offers_style(errors)
        if nesting:
            errors.setdefault("product", {}).update(nesting["product"])
        return clean, errors
    errors: dict[str, Any] = {}
    allowed = ITEM_FIELDS | ({"quote_id"} if partial else set())
    _unexpected(item, allowed, errors)
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


def _check_top(body: Any, *, partial: bool) -> dict[str, Any]:
    """Validate the top level of a quote request; raise the 422 XCover would send."""
    if not isinstance(body, dict):
        raise validation_error({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    errors: dict[str, Any] = {}
    _unexpected(body, TOP_FIELDS, errors)
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
    if metadata is not None and not _flat(metadata):
        errors["partner_metadata"] = ["Must be an object of simple key-value pairs."]
    if errors:
        raise validation_error(errors)
    return body


def _flat(value: Any) -> bool:
    """Tell whether value is a flat key -> scalar object (partner_metadata)."""
    return isinstance(value, dict) and all(isinstance(v, (str, int, float, bool)) or v is None for v in value.values())


def _check_policyholder(holder: Any, *, partial: bool = False) -> dict[str, Any]:
    """Return the policyholder's field errors (empty when valid)."""
    if not isinstance(holder, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, Any] = {}
    _unexpected(holder, POLICYHOLDER_FIELDS, errors)
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


def _only(body: Any, allowed: set[str]) -> dict[str, Any]:
    """Require a JSON object holding only the allowed keys."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation_error({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    errors: dict[str, Any] = {}
    _unexpected(body, allowed, errors)
    if errors:
        raise validation_error(errors)
    return body


# ---- storage ------------------------------------------------------------------------------------


def load(partner: str, package_id: str) -> SandboxPackage:
    """Read a package of this partner, or 404."""
    row = db.session.get(SandboxPackage, package_id)
    if row is None or row.partner != partner:
        raise not_found()
    return row


def lock(partner: str, package_id: str) -> SandboxPackage:
    """Take the package's row lock first (a write), then read it: concurrent writers queue, even on SQLite."""
    bumped = db.session.execute(
        sa.update(SandboxPackage)
        .where(SandboxPackage.id == package_id, SandboxPackage.partner == partner)
        .values(version=SandboxPackage.version + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:
        raise not_found()
    row = db.session.get(SandboxPackage, package_id, populate_existing=True)
    assert row is not None
    return row


def save(row: SandboxPackage, doc: dict[str, Any], now: datetime) -> None:
    """Write a changed document back (a new object, so the JSON column is marked dirty)."""
    doc["updated_at"] = stamp(now)
    row.doc = doc
    row.status = doc["status"]


# ---- pricing and rendering ----------------------------------------------------------------------


def build_quote(
    item: dict[str, Any], top: dict[str, Any], now: datetime, quote_id: str | None = None, created_at: str | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """Price one clean item; return (quote, None) or (None, the eligibility reason)."""
    policy = cat.POLICY_TYPES[item["policy_type"]]
    price = Decimal(str(item["product_price"]))
    quantity = int(item.get("quantity") or 1)
    term = int(item["cover_term_months"])
    currency, country = top["currency"], top["customer_country"]
    age = None
    if item.get("purchase_date"):
        age = (now.date() - date.fromisoformat(str(item["purchase_date"]))).days
    reason = cat.eligibility_error(policy, item["product_category"], price, age)
    if reason:
        return None, reason
    priced = cat.price_item(policy, item["product_category"], price, quantity, term, country, currency)
    start = parse_moment(item["policy_start_date"]) if item.get("policy_start_date") else now
    end = add_months(start, term)
    cover = price * quantity
    total = priced["price"]
    commission = cat.cents(priced["commission"])
    shown_end = None if policy.open_ended else policy_time(end)
    return {
        "id": quote_id or str(uuid.uuid4()),
        "status": "RECEIVED",
        "policy_start_date": policy_time(start),
        "policy_end_date": shown_end,
        "price": cat.num(total),
        "price_formatted": cat.fmt(total, currency),
        "created_at": created_at or stamp(now),
        "confirmed_at": None,
        "updated_at": stamp(now),
        "cancelled_at": None,
        "policy": cat.policy_block(policy, currency, cover),
        "insured": None,
        "tax": priced["tax"],
        "duration": None if policy.open_ended else f"{(end - start).days} 00:00:00",
        "benefits": cat.benefits(policy, currency, cover),
        "commission": {
            "partner_commission": cat.num(commission),
            "partner_commission_formatted": cat.fmt(commission, currency),
            "surcharge_commission": 0.0,
            "surcharge_commission_formatted": cat.fmt(0, currency),
            "total_commission": cat.num(commission),
            "total_commission_formatted": cat.fmt(commission, currency),
        },
        "is_renewable": False,
        "is_pricebeat_enabled": False,
        "cover_amount": None if policy.open_ended else cat.num(cover),
        "cover_amount_formatted": None if policy.open_ended else cat.fmt(cover, currency),
        "attachments": [],
        "files": [],
        # XCover does not echo the item: every recorded answer has {} here.
        "extra_fields": {},
        "surcharge": {"total_amount": None, "total_amount_formatted": None, "surcharges": None},
        "discount_price": cat.num(total),
        "discount_price_formatted": cat.fmt(total, currency),
        "discount_amount": 0.0,
        "discount_amount_formatted": cat.fmt(0, currency),
        "instalment_plans": [],
        "partner_transaction_id": None,
        "_premium": str(priced["premium"]),
        # The sandbox's own record of the item and the end of cover (for its pages and refunds).
        "_item": dict(item),
        "_policy_end_date": policy_time(end),
    }, None


def _links(doc: dict[str, Any], pages: str, quote: dict[str, Any] | None = None) -> dict[str, Any]:
    """Customer links the sandbox serves itself: wording (PDS), certificate (COI) and account.

    Unlike XCover's generic wording page, the sandbox's names the customer's product and serial number,
    so its link carries the package's security token as the certificate's does.
    """
    ins = doc["id"]
    token = doc["security_token"]
    if quote is not None:
        return {"pds_url": f"{pages}/pds/{ins}?policy_type={quote['policy']['policy_type']}_v1&security_token={token}"}
    return {
        "pds_url": f"{pages}/pds/{ins}?security_token={token}",
        "coi": {
            "url": f"{pages}/coi/{ins}?security_token={token}",
            "pdf": f"{pages}/coi/{ins}.pdf?security_token={token}",
        },
        "account_url": f"{pages}/account?id={doc['_account_id']}&signup_token={token}",
    }


def _money_total(quotes: list[dict[str, Any]], key: str = "price") -> Decimal:
    """Sum a money field over quotes."""
    return sum((Decimal(str(q[key])) for q in quotes), Decimal("0"))


def package_view(doc: dict[str, Any], pages: str) -> dict[str, Any]:
    """The quote-endpoint shape: quotes as an object keyed "0", "1", ..., null for failed items."""
    currency = doc["currency"]
    priced = [q for q in doc["quotes"].values() if q]
    total = _money_total(priced)
    quotes = {k: (public({**q, **_links(doc, pages, q)}) if q else None) for k, q in doc["quotes"].items()}
    return {
        "id": doc["id"],
        "status": doc["status"],
        "currency": currency,
        "total_price": cat.num(total),
        "total_price_formatted": cat.fmt(total, currency),
        "partner_transaction_id": doc.get("partner_transaction_id"),
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "pds_url": _links(doc, pages)["pds_url"],
        "security_token": doc["security_token"],
        "quotes": quotes,
        "bundle_code": None,
        "bundle_price": cat.num(total),
        "bundle_price_formatted": cat.fmt(total, currency),
        "bundle_content": {},
        "bundle_discount_percent": 0.0,
        "bundle_discount_amount": 0.0,
        "bundle_discount_amount_formatted": cat.fmt(0, currency),
        "errors": doc.get("errors") or {},
    }


def booked_quotes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The quotes that were booked, in package order."""
    chosen = set(doc.get("_booked") or [])
    return [q for q in doc["quotes"].values() if q and q["id"] in chosen]


def booking_view(doc: dict[str, Any], pages: str) -> dict[str, Any]:
    """The booking-endpoint shape: quotes as a list, certificate and account links, the policyholder."""
    currency = doc["currency"]
    quotes = booked_quotes(doc)
    live = [q for q in quotes if q["status"] != "CANCELLED"]
    total = _money_total(live)
    premium = sum((Decimal(q["_premium"]) for q in live), Decimal("0"))
    tax = total - premium
    links = _links(doc, pages)
    rendered = []
    for q in quotes:
        item = public({**q, **_links(doc, pages, q)})
        item["can_be_cancelled"] = q["status"] in ("CONFIRMED", "PENDING_PAYMENT")
        item["next_renewal"] = None
        item["total_renewed_times"] = 0
        item.setdefault("price_diff", 0.0)
        item.setdefault("price_diff_formatted", cat.fmt(item["price_diff"], currency))
        rendered.append(item)
    return {
        "id": doc["id"],
        "status": doc["status"],
        "currency": currency,
        "total_price": cat.num(total),
        "total_price_formatted": cat.fmt(total, currency),
        "total_premium": cat.num(premium),
        "total_premium_formatted": cat.fmt(premium, currency),
        "total_tax": cat.num(tax),
        "total_tax_formatted": cat.fmt(tax, currency),
        "partner_transaction_id": doc.get("partner_transaction_id"),
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "pds_url": links["pds_url"],
        "security_token": doc["security_token"],
        "coi": links["coi"],
        "account_url": links["account_url"],
        "quotes": rendered,
        "policyholder": doc.get("policyholder") or {},
        "customer_language": doc.get("customer_language") or "en",
        "partner": partner_view(doc["_partner"]),
        "errors": {},
    }


def partner_view(partner: str) -> dict[str, Any]:
    """The partner block of get-booking and cancel answers (its subsidiary has the same fields)."""
    own = {
        "id": partner,
        "slug": partner.lower(),
        "name": partner,
        "title": "Sandbox partner",
        "logo": None,
        "contact_url": None,
        "partner_url": None,
        "help_center_url": None,
        "updated_at": "2026-01-01T00:00:00.000000Z",
        "xpay_refund_enabled": False,
        "emails": [],
        "attributes": {},
    }
    return {**own, "subsidiary": dict(own)}


def webhook_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The slim booking XCover's webhooks carry: ids, status, totals and a short list of quotes, no person."""
    currency = doc["currency"]
    quotes = booked_quotes(doc)
    total = _money_total([q for q in quotes if q["status"] != "CANCELLED"])
    return {
        "id": doc["id"],
        "status": doc["status"],
        "currency": currency,
        "total_price": cat.num(total),
        "total_price_formatted": cat.fmt(total, currency),
        "partner_transaction_id": doc.get("partner_transaction_id"),
        "quotes": [
            {
                "id": q["id"],
                "policy_start_date": q["policy_start_date"],
                "policy_end_date": q["policy_end_date"],
                "status": q["status"],
                "price": q["price"],
                "price_formatted": q["price_formatted"],
                "policy": {k: q["policy"][k] for k in ("policy_type", "policy_name", "policy_version")},
                "duration": q["duration"],
                "total_renewed_times": 0,
            }
            for q in quotes
        ],
    }


# ---- quotes -------------------------------------------------------------------------------------


def create_quote(partner: str, body: Any, now: datetime) -> tuple[dict[str, Any], SandboxPackage]:
    """POST quotes/: validate, price each item, store the package (status RECEIVED)."""
    top = _check_top(body, partial=False)
    clean_items, item_errors = [], []
    for item in top["request"]:
        clean, errors = _check_item(item, latest_local_date(now))
        clean_items.append(clean)
        item_errors.append(errors)
    if any(item_errors):
        raise validation_error({"request": item_errors})
    doc: dict[str, Any] = {
        "id": new_ref("INS"),
        "status": "RECEIVED",
        "currency": top["currency"],
        "customer_country": top["customer_country"],
        "customer_region": top.get("customer_region"),
        "customer_language": top.get("customer_language") or "en",
        "partner_transaction_id": top.get("partner_transaction_id"),
        "created_at": stamp(now),
        "updated_at": stamp(now),
        "security_token": new_token(),
        "quotes": {},
        "errors": {},
        "_items": clean_items,
        "_partner": partner,
        "_account_id": str(uuid.uuid4()),
        "_emails": [],
    }
    for index, item in enumerate(clean_items):
        quote, reason = build_quote(item, doc, now)
        doc["quotes"][str(index)] = quote
        if reason:
            doc["errors"][str(index)] = [reason]
    row = SandboxPackage(id=doc["id"], partner=partner, status="RECEIVED", version=0, doc=doc, created_at=now)
    db.session.add(row)
    return doc, row


def update_quote(partner: str, package_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """PATCH quotes/{id}/: change top-level fields or items (by quote_id) and re-price; no adding or removing."""
    top = _check_top(body, partial=True)
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] != "RECEIVED":
        raise validation_error([f"Quote package in status {doc['status']} cannot be updated."])
    for name in ("currency", "customer_country", "customer_region", "customer_language", "partner_transaction_id"):
        if name in top:
            doc[name] = top[name]
    items = list(doc["_items"])
    ids = {q["id"]: int(k) for k, q in doc["quotes"].items() if q}
    errors: list[dict[str, Any]] = []
    for change in top.get("request") or []:
        clean, item_errors = _check_item(change, latest_local_date(now), partial=True)
        index = ids.get(change.get("quote_id")) if isinstance(change, dict) else None
        if index is None and not item_errors:
            item_errors = {"quote_id": ["Quote not found in this package."]}
        errors.append(item_errors)
        if not item_errors and index is not None:
            merged = {**items[index], **clean}
            _, merged_errors = _check_item(merged, latest_local_date(now))
            if merged_errors:
                errors[-1] = merged_errors
            items[index] = merged
    if any(errors):
        raise validation_error({"request": errors})
    doc["_items"], doc["errors"] = items, {}
    for key, old in list(doc["quotes"].items()):
        quote, reason = build_quote(
            items[int(key)],
            doc,
            now,
            quote_id=old["id"] if old else None,
            created_at=old["created_at"] if old else None,
        )
        doc["quotes"][key] = quote
        if reason:
            doc["errors"][key] = [reason]
    save(row, doc, now)
    return doc


def opt_out(partner: str, package_id: str, body: Any, now: datetime) -> None:
    """POST bookings/{id}/opt_out: the customer declined; the package becomes OPTED_OUT (quotes stay RECEIVED)."""
    body = _only(body, {"partner_metadata"})
    if body.get("partner_metadata") is not None and not _flat(body["partner_metadata"]):
        raise validation_error({"partner_metadata": ["Must be an object of simple key-value pairs."]})
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] in BOOKED:
        raise validation_error([f"Quote package in status {doc['status']} cannot be opted out."])
    doc["status"] = "OPTED_OUT"
    doc["_partner_metadata"] = body.get("partner_metadata") or {}
    save(row, doc, now)


# ---- bookings -----------------------------------------------------------------------------------


def create_booking(partner: str, package_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """POST bookings/{id}/: book chosen quotes for a policyholder; CONFIRMED, or PENDING_PAYMENT if asked."""
    body = _only(
        body,
        {
            "quotes",
            "policyholder",
            "require_payment_confirmation",
            "partner_transaction_id",
            "customer_token_id",
            "customer_language",
        },
    )
    errors: dict[str, Any] = {}
    if not body.get("quotes"):
        errors["quotes"] = [REQUIRED]
    elif not isinstance(body["quotes"], list):
        errors["quotes"] = ['Expected a list of items but got type "dict".']
    if "policyholder" not in body:
        errors["policyholder"] = [REQUIRED]
    else:
        holder_errors = _check_policyholder(body["policyholder"])
        if holder_errors:
            errors["policyholder"] = holder_errors
    rpc = body.get("require_payment_confirmation", False)
    if not isinstance(rpc, bool):
        errors["require_payment_confirmation"] = ["Must be a valid boolean."]
    if errors:
        raise validation_error(errors)
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] in BOOKED:
        raise validation_error([f"Quote package {doc['id']} has already been booked."])
    by_id = {q["id"]: q for q in doc["quotes"].values() if q}
    quote_errors, chosen = [], []
    for entry in body["quotes"]:
        if not isinstance(entry, dict) or entry.get("id") not in by_id:
            quote_errors.append({"id": ["Quote not found in this package, or it could not be priced."]})
            continue
        extra = {k: UNEXPECTED for k in set(entry) - {"id", "insured", "instalment_plan"}}
        insured_errors = _check_insured(entry.get("insured"))
        if insured_errors:
            extra["insured"] = insured_errors
        quote_errors.append(extra)
        chosen.append(entry)
    if any(quote_errors):
        raise validation_error({"quotes": quote_errors})
    holder = dict(body["policyholder"])
    if str(holder.get("last_name", "")).strip().lower() == DECLINE_LAST_NAME:
        raise decline()
    status = "PENDING_PAYMENT" if rpc else "CONFIRMED"
    doc["status"], doc["policyholder"] = status, echo_policyholder(holder)
    doc["_booked"] = [entry["id"] for entry in chosen]
    for entry in chosen:
        quote = by_id[entry["id"]]
        quote["status"] = status
        quote["confirmed_at"] = stamp(now) if status == "CONFIRMED" else None
        quote["updated_at"] = stamp(now)
        # Null unless sent, as XCover answers.
        people = entry.get("insured")
        quote["insured"] = (
            [{"id": str(uuid.uuid4()), **{k: None for k in INSURED_ECHO}, **p} for p in people] if people else None
        )
        if entry.get("instalment_plan"):
            quote["instalment_plan"] = entry["instalment_plan"]
    for name in ("partner_transaction_id", "customer_language"):
        if body.get(name):
            doc[name] = body[name]
    save(row, doc, now)
    row.booked_at = now
    return doc


def echo_policyholder(holder: dict[str, Any]) -> dict[str, Any]:
    """The policyholder as XCover echoes it: every key (null when not sent), then allow_updates."""
    return {**{k: holder.get(k) for k in POLICYHOLDER_ECHO}, "allow_updates": False}


def _check_insured(people: Any) -> Any:
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
        _unexpected(person, INSURED_FIELDS, found)
        errors.append(found)
    return errors if any(errors) else None


def decline() -> ApiError:
    """The insurer's refusal of a booking (magic last name or the decline fault)."""
    return validation_error(["The booking was declined by the insurer. No policy was issued."], "Booking declined.")


def confirm_booking(partner: str, package_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """PUT bookings/{id}/confirm: PENDING_PAYMENT becomes CONFIRMED."""
    _only(body, set())
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] != "PENDING_PAYMENT":
        raise validation_error([f"Booking in status {doc['status']} cannot be confirmed."])
    doc["status"] = "CONFIRMED"
    for quote in booked_quotes(doc):
        quote.update(status="CONFIRMED", confirmed_at=stamp(now), updated_at=stamp(now))
    save(row, doc, now)
    return doc


def get_booking(partner: str, package_id: str) -> dict[str, Any]:
    """GET bookings/{id}/: only booked packages are bookings."""
    row = load(partner, package_id)
    if row.status not in BOOKED:
        raise not_found()
    return row.doc


def list_bookings(partner: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """GET bookings/: the partner's bookings, newest first."""
    where = (SandboxPackage.partner == partner, SandboxPackage.status.in_(BOOKED))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(SandboxPackage).where(*where)) or 0
    rows = db.session.scalars(
        sa.select(SandboxPackage)
        .where(*where)
        .order_by(SandboxPackage.booked_at.desc(), SandboxPackage.id)
        .limit(limit)
        .offset(offset)
    )
    return count, [r.doc for r in rows]


def _modification(doc: dict[str, Any], body: Any, now: datetime) -> tuple[dict[str, Any], Decimal]:
    """Apply a modification body to a copy of doc; return (new doc, total price difference)."""
    body = _only(body, {"policyholder", "quotes"})
    if doc["status"] not in ("CONFIRMED", "PENDING_PAYMENT"):
        raise validation_error([f"Booking in status {doc['status']} cannot be modified."])
    doc = copy.deepcopy(doc)
    errors: dict[str, Any] = {}
    if "policyholder" in body:
        holder_errors = _check_policyholder(body["policyholder"], partial=True)
        if holder_errors:
            errors["policyholder"] = holder_errors
        else:
            doc["policyholder"] = echo_policyholder({**doc["policyholder"], **body["policyholder"]})
    by_id = {q["id"]: (k, q) for k, q in doc["quotes"].items() if q and q["id"] in doc["_booked"]}
    quote_errors: list[dict[str, Any]] = []
    total_diff = Decimal("0")
    for entry in body.get("quotes") or []:
        if not isinstance(entry, dict) or entry.get("id") not in by_id:
            quote_errors.append({"id": ["Quote not found in this booking."]})
            continue
        fields = entry.get("update_fields") or {}
        if not isinstance(fields, dict):
            quote_errors.append({"update_fields": ["Invalid data. Expected a dictionary."]})
            continue
        bad = {k: UNEXPECTED for k in set(entry) - {"id", "update_fields"}}
        bad.update({k: ["This field cannot be modified."] for k in fields if k not in UPDATABLE_ITEM_FIELDS})
        key, quote = by_id[entry["id"]]
        merged = {**doc["_items"][int(key)], **fields}
        _, item_errors = _check_item(merged, latest_local_date(now))
        bad.update({k: v for k, v in item_errors.items() if k in fields})
        quote_errors.append(bad)
        if bad:
            continue
        repriced, _ = build_quote(
            {**merged, "purchase_date": None}, doc, now, quote_id=quote["id"], created_at=quote["created_at"]
        )
        if repriced is None:
            quote_errors[-1] = {"update_fields": ["The changed product can no longer be covered."]}
            continue
        diff = Decimal(str(repriced["price"])) - Decimal(str(quote["price"]))
        total_diff += diff
        for keep in (
            "status",
            "confirmed_at",
            "insured",
            "policy_start_date",
            "policy_end_date",
            "_policy_end_date",
            "duration",
        ):
            repriced[keep] = quote.get(keep)
        repriced["price_diff"] = cat.num(diff)
        repriced["price_diff_formatted"] = cat.fmt(diff, doc["currency"])
        doc["_items"][int(key)] = merged
        doc["quotes"][key] = repriced
    if any(quote_errors):
        errors["quotes"] = quote_errors
    if errors:
        raise validation_error(errors)
    return doc, total_diff


def modify_booking(partner: str, package_id: str, body: Any, now: datetime) -> tuple[dict[str, Any], Decimal]:
    """PATCH bookings/{id}/: apply at once."""
    row = lock(partner, package_id)
    doc, diff = _modification(row.doc, body, now)
    save(row, doc, now)
    return doc, diff


def quote_for_update(partner: str, package_id: str, body: Any, now: datetime) -> tuple[dict[str, Any], str, Decimal]:
    """PATCH bookings/{id}/quote_for_update: price the change, keep it pending under an -UPD id."""
    row = lock(partner, package_id)
    doc, diff = _modification(row.doc, body, now)
    update_id = new_change_ref("UPD")
    db.session.add(
        SandboxPending(
            id=update_id,
            package_id=row.id,
            kind="update",
            doc={"body": body},
            expires_at=now + timedelta(hours=PREVIEW_HOURS),
            used=False,
        )
    )
    return doc, update_id, diff


def _pending(row: SandboxPackage, pending_id: str, kind: str, now: datetime) -> SandboxPending:
    """Fetch an unused, unexpired pending change of this package."""
    pending = db.session.get(SandboxPending, pending_id)
    if pending is None or pending.package_id != row.id or pending.kind != kind:
        raise not_found()
    if pending.used:
        raise validation_error([f"{pending_id} has already been confirmed."])
    if pending.expires_at < now:
        raise validation_error([f"{pending_id} expired at {stamp(pending.expires_at)}; ask again."])
    return pending


def confirm_update(
    partner: str, package_id: str, update_id: str, body: Any, now: datetime
) -> tuple[dict[str, Any], Decimal]:
    """POST bookings/{id}/confirm_update/{update_id}/: apply the priced change; return it and its price difference."""
    _only(body, set())
    row = lock(partner, package_id)
    pending = _pending(row, update_id, "update", now)
    doc, diff = _modification(row.doc, pending.doc["body"], now)
    pending.used = True
    save(row, doc, now)
    return doc, diff


def _refund(quote: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Refund for one quote: in full within the cooling-off period, pro rata by days after it."""
    price = Decimal(str(quote["price"]))
    start = parse_moment(quote["policy_start_date"])
    end = parse_moment(quote.get("_policy_end_date") or quote["policy_end_date"])
    booked = parse_moment(quote["confirmed_at"]) if quote.get("confirmed_at") else now
    cooling_off = booked + timedelta(days=cat.POLICY_TYPES[quote["policy"]["policy_type"]].cooling_off_days)
    if now <= cooling_off or now <= start:
        refund, kind = price, "full_refund"
    else:
        left = max(0, (end - now).days)
        refund, kind = cat.cents(price * left / max(1, (end - start).days)), "pro_rata_refund"
    return {"refund": refund, "refund_type": kind, "policy_coolingoff_date": policy_time(cooling_off)}


def _cancel_targets(doc: dict[str, Any], body: dict[str, Any]) -> dict[str, str | None]:
    """Which booked quotes to cancel (all live ones when none are listed), with reasons."""
    if doc["status"] not in ("CONFIRMED", "PENDING_PAYMENT"):
        raise validation_error([f"Booking in status {doc['status']} cannot be cancelled."])
    live = {q["id"]: q for q in booked_quotes(doc) if q["status"] != "CANCELLED"}
    listed = body.get("quotes")
    if not listed:
        return {qid: body.get("reason_for_cancellation") for qid in live}
    if not isinstance(listed, list):
        raise validation_error({"quotes": ['Expected a list of items but got type "dict".']})
    errors, targets = [], {}
    for entry in listed:
        if not isinstance(entry, dict) or entry.get("id") not in live:
            errors.append({"id": ["Quote not found in this booking, or already cancelled."]})
            continue
        errors.append({k: UNEXPECTED for k in set(entry) - {"id", "reason_for_cancellation"}})
        targets[entry["id"]] = entry.get("reason_for_cancellation")
    if any(errors):
        raise validation_error({"quotes": errors})
    return targets


def _apply_cancel(
    doc: dict[str, Any], targets: dict[str, str | None], now: datetime, *, preview: bool
) -> tuple[dict[str, Any], Decimal]:
    """Mark the target quotes cancelled in a copy of doc (a preview leaves cancelled_at null)."""
    doc = copy.deepcopy(doc)
    total_refund = Decimal("0")
    for quote in booked_quotes(doc):
        if quote["id"] not in targets:
            continue
        refund = _refund(quote, now)
        total_refund += refund["refund"]
        # A preview already shows CANCELLED, with no cancellation date yet.
        quote.update(status="CANCELLED", cancelled_at=None if preview else stamp(now), updated_at=stamp(now))
        # Only cancel answers show the refund; XCover's get-booking of a cancelled booking does not.
        quote["_cancellation"] = {
            "policy_cancellation_date": None if preview else stamp(now),
            "policy_coolingoff_date": refund["policy_coolingoff_date"],
            "refund_value": cat.num(refund["refund"]),
            "refund_value_formatted": cat.fmt(refund["refund"], doc["currency"]),
            "adjustment_fee": 0.0,
            "refund_type": refund["refund_type"],
            "reason_for_cancellation": targets[quote["id"]],
        }
    if all(q["status"] == "CANCELLED" for q in booked_quotes(doc)):
        doc["status"] = "CANCELLED"
    return doc, total_refund


def cancellation_view(
    doc: dict[str, Any], pages: str, total_refund: Decimal, cancellation_id: str | None, confirm_before: datetime | None
) -> dict[str, Any]:
    """The booking as a cancel answers it: refunds per cancelled quote and in all, cancellation_id, confirm_before."""
    view = booking_view(doc, pages)
    cancelled = {q["id"]: q["_cancellation"] for q in booked_quotes(doc) if q.get("_cancellation")}
    for quote in view["quotes"]:
        quote.update(cancelled.get(quote["id"], {}))
    view.update(
        total_refund=cat.num(total_refund),
        total_refund_formatted=cat.fmt(total_refund, doc["currency"]),
        cancellation_id=cancellation_id,
        confirm_before=stamp(confirm_before) if confirm_before else None,
    )
    return view


def cancel(
    partner: str, package_id: str, body: Any, now: datetime
) -> tuple[dict[str, Any], Decimal, SandboxPending | None]:
    """POST bookings/{id}/cancel: all, listed quotes (partial) or a preview that changes nothing."""
    body = _only(body, {"quotes", "preview", "reason_for_cancellation"})
    if not isinstance(body.get("preview", False), bool):
        raise validation_error({"preview": ["Must be a valid boolean."]})
    row = lock(partner, package_id)
    targets = _cancel_targets(row.doc, body)
    doc, refund = _apply_cancel(row.doc, targets, now, preview=bool(body.get("preview")))
    if body.get("preview"):
        pending = SandboxPending(
            id=new_change_ref("CCL"),
            package_id=row.id,
            kind="cancellation",
            doc={"targets": targets},
            expires_at=now + timedelta(hours=PREVIEW_HOURS),
            used=False,
        )
        db.session.add(pending)
        return doc, refund, pending
    save(row, doc, now)
    return doc, refund, None


def confirm_cancellation(
    partner: str, package_id: str, cancellation_id: str, body: Any, now: datetime
) -> tuple[dict[str, Any], Decimal]:
    """POST bookings/{id}/confirm_cancellation/{cid}/: carry out the previewed cancellation."""
    _only(body, set())
    row = lock(partner, package_id)
    pending = _pending(row, cancellation_id, "cancellation", now)
    targets = pending.doc["targets"]
    live = {q["id"] for q in booked_quotes(row.doc) if q["status"] != "CANCELLED"}
    if not set(targets) <= live:
        raise validation_error(["Some of these policies are no longer active; preview the cancellation again."])
    doc, refund = _apply_cancel(row.doc, targets, now, preview=False)
    pending.used = True
    save(row, doc, now)
    return doc, refund


def send_email(partner: str, package_id: str, body: Any, now: datetime) -> None:
    """POST bookings/{id}/send_email: queue the customer email (recorded in the sandbox, never sent)."""
    body = _only(body, {"event"})
    event = body.get("event")
    if event is not None and event not in EMAIL_EVENTS:
        raise validation_error({"event": [f'"{event}" is not a valid choice.']})
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] not in BOOKED:
        raise not_found()
    if event == "BOOKING_CANCELLED" and doc["status"] != "CANCELLED":
        raise validation_error(["BOOKING_CANCELLED email can be only triggered for CANCELLED bookings."])
    doc["_emails"] = [
        *doc.get("_emails", []),
        {"event": event or "BOOKING_CREATED", "at": stamp(now), "to": (doc.get("policyholder") or {}).get("email")},
    ]
    save(row, doc, now)
