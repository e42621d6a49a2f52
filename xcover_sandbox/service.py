"""The sandbox's XCover behaviour: quotes, opt-out, bookings and emails; changes to a booking are in changes.py.

Each operation takes the partner and the parsed body and returns the stored document or raises ApiError,
mirroring the shapes and quirks in reference/xcover-api.md. Nothing here reads `request`.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models import SandboxPackage
from .records import BOOKED, booked_quotes, load, lock, new_ref, new_token, save, stamp
from .shapes import INSURED_ECHO, build_quote, echo_policyholder
from .validation import (
    REQUIRED,
    UNEXPECTED,
    check_insured,
    check_item,
    check_policyholder,
    check_top,
    decline,
    is_flat,
    latest_local_date,
    not_found,
    only,
    validation_error,
)

DECLINE_LAST_NAME = "declineson"
EMAIL_EVENTS = ("BOOKING_CREATED", "BOOKING_UPDATED", "BOOKING_CANCELLED")


def create_quote(partner: str, body: Any, now: datetime) -> tuple[dict[str, Any], SandboxPackage]:
    """POST quotes/: validate, price each item, store the package (status RECEIVED)."""
    top = check_top(body, partial=False)
    clean_items, item_errors = [], []
    for item in top["request"]:
        clean, errors = check_item(item, latest_local_date(now))
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
    top = check_top(body, partial=True)
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
        clean, item_errors = check_item(change, latest_local_date(now), partial=True)
        index = ids.get(change.get("quote_id")) if isinstance(change, dict) else None
        if index is None and not item_errors:
            item_errors = {"quote_id": ["Quote not found in this package."]}
        errors.append(item_errors)
        if not item_errors and index is not None:
            merged = {**items[index], **clean}
            _, merged_errors = check_item(merged, latest_local_date(now))
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
    body = only(body, {"partner_metadata"})
    if body.get("partner_metadata") is not None and not is_flat(body["partner_metadata"]):
        raise validation_error({"partner_metadata": ["Must be an object of simple key-value pairs."]})
    row = lock(partner, package_id)
    doc = copy.deepcopy(row.doc)
    if doc["status"] in BOOKED:
        raise validation_error([f"Quote package in status {doc['status']} cannot be opted out."])
    doc["status"] = "OPTED_OUT"
    doc["_partner_metadata"] = body.get("partner_metadata") or {}
    save(row, doc, now)


def create_booking(partner: str, package_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """POST bookings/{id}/: book chosen quotes for a policyholder; CONFIRMED, or PENDING_PAYMENT if asked."""
    body = only(
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
        holder_errors = check_policyholder(body["policyholder"])
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
        insured_errors = check_insured(entry.get("insured"))
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


def confirm_booking(partner: str, package_id: str, body: Any, now: datetime) -> dict[str, Any]:
    """PUT bookings/{id}/confirm: PENDING_PAYMENT becomes CONFIRMED."""
    only(body, set())
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


def send_email(partner: str, package_id: str, body: Any, now: datetime) -> None:
    """POST bookings/{id}/send_email: queue the customer email (recorded in the sandbox, never sent)."""
    body = only(body, {"event"})
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
