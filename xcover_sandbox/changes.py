"""Changes to a booking: modifications (at once, or priced then confirmed) and cancellations (previewed or not)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import catalogue as cat
from .extensions import db
from .models import SandboxPackage, SandboxPending
from .records import booked_quotes, lock, new_change_ref, policy_time, save, stamp
from .shapes import build_quote, echo_policyholder
from .validation import (
    UNEXPECTED,
    UPDATABLE_ITEM_FIELDS,
    check_item,
    check_policyholder,
    latest_local_date,
    not_found,
    only,
    parse_moment,
    validation_error,
)

PREVIEW_HOURS = 24


def _modification(doc: dict[str, Any], body: Any, now: datetime) -> tuple[dict[str, Any], Decimal]:
    """Apply a modification body to a copy of doc; return (new doc, total price difference)."""
    body = only(body, {"policyholder", "quotes"})
    if doc["status"] not in ("CONFIRMED", "PENDING_PAYMENT"):
        raise validation_error([f"Booking in status {doc['status']} cannot be modified."])
    doc = copy.deepcopy(doc)
    errors: dict[str, Any] = {}
    if "policyholder" in body:
        holder_errors = check_policyholder(body["policyholder"], partial=True)
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
        _, item_errors = check_item(merged, latest_local_date(now))
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
    only(body, set())
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


def cancel(
    partner: str, package_id: str, body: Any, now: datetime
) -> tuple[dict[str, Any], Decimal, SandboxPending | None]:
    """POST bookings/{id}/cancel: all, listed quotes (partial) or a preview that changes nothing."""
    body = only(body, {"quotes", "preview", "reason_for_cancellation"})
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
    only(body, set())
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
