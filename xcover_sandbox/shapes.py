"""Pricing a quote, and the shapes XCover answers in: package, booking, cancellation, partner, webhook payload."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from . import catalogue as cat
from .records import add_months, booked_quotes, policy_time, public, stamp
from .validation import parse_moment

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


def echo_policyholder(holder: dict[str, Any]) -> dict[str, Any]:
    """The policyholder as XCover echoes it: every key (null when not sent), then allow_updates."""
    return {**{k: holder.get(k) for k in POLICYHOLDER_ECHO}, "allow_updates": False}
