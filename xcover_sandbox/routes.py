"""XCover's paths: each path and method with the operation it calls and how its answer is shaped."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from flask import request

from . import catalogue as cat
from . import changes, records, service, shapes
from .validation import validation_error
from .views import route

# Postgres and SQLite both stop at a signed 64-bit OFFSET; DRF-style bound well inside it.
MAX_OFFSET = 2_147_483_647


def _events(doc: dict[str, Any], pages: str, *names: str) -> list[tuple[str, dict[str, Any]]]:
    """Webhook events carrying the slim booking XCover's webhooks carry."""
    return [(name, shapes.webhook_payload(doc)) for name in names]


def h_create_quote(partner: str, body: Any, now: datetime, pages: str) -> tuple[int, Any, list]:
    """POST quotes/ -> 201 and the package."""
    doc, _ = service.create_quote(partner, body, now)
    return 201, shapes.package_view(doc, pages), []


def h_get_quote(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """GET quotes/{id}/ -> the package."""
    return 200, shapes.package_view(records.load(partner, package_id).doc, pages), []


def h_update_quote(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH quotes/{id}/ -> the re-priced package."""
    return 200, shapes.package_view(service.update_quote(partner, package_id, body, now), pages), []


def h_opt_out(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/opt_out -> 204, no body."""
    service.opt_out(partner, package_id, body, now)
    return 204, None, []


def h_create_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/ -> 200 and the booking."""
    doc = service.create_booking(partner, package_id, body, now)
    events = _events(doc, pages, "BOOKING_CREATED") if doc["status"] == "CONFIRMED" else []
    return 200, shapes.booking_view(doc, pages), events


def h_confirm_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PUT bookings/{id}/confirm -> 201 and the confirmed booking."""
    doc = service.confirm_booking(partner, package_id, body, now)
    return 201, shapes.booking_view(doc, pages), _events(doc, pages, "BOOKING_CREATED")


def h_get_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """GET bookings/{id}/ -> the booking."""
    return 200, shapes.booking_view(service.get_booking(partner, package_id), pages), []


def _query_int(name: str, default: int) -> int:
    """An integer query parameter, or the 422 XCover would send."""
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise validation_error({name: ["A valid integer is required."]}) from None


def h_list_bookings(partner: str, body: Any, now: datetime, pages: str) -> tuple[int, Any, list]:
    """GET bookings/?limit=&offset= -> a DRF-style page."""
    limit = min(100, max(1, _query_int("limit", 20)))
    offset = max(0, _query_int("offset", 0))
    if offset > MAX_OFFSET:
        raise validation_error({"offset": [f"Ensure this value is less than or equal to {MAX_OFFSET}."]})
    count, docs = service.list_bookings(partner, limit, offset)

    def page(start: int) -> str:
        return f"{request.base_url}?{urlencode({'limit': limit, 'offset': start})}"

    return (
        200,
        {
            "count": count,
            "next": page(offset + limit) if offset + limit < count else None,
            "previous": page(max(0, offset - limit)) if offset > 0 else None,
            "results": [shapes.booking_view(d, pages) for d in docs],
        },
        [],
    )


def _with_diff(view: dict[str, Any], diff: Decimal, currency: str) -> dict[str, Any]:
    """Add total_price_diff (and its formatted twin) to a booking view."""
    return {**view, "total_price_diff": cat.num(diff), "total_price_diff_formatted": cat.fmt(diff, currency)}


def h_modify_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH bookings/{id}/ -> the changed booking with total_price_diff."""
    doc, diff = changes.modify_booking(partner, package_id, body, now)
    return (
        200,
        _with_diff(shapes.booking_view(doc, pages), diff, doc["currency"]),
        _events(doc, pages, "BOOKING_UPDATED"),
    )


def h_quote_for_update(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH bookings/{id}/quote_for_update -> the priced change and its update_id."""
    doc, update_id, diff = changes.quote_for_update(partner, package_id, body, now)
    return 200, {**_with_diff(shapes.booking_view(doc, pages), diff, doc["currency"]), "update_id": update_id}, []


def h_confirm_update(
    partner: str, body: Any, now: datetime, pages: str, package_id: str, update_id: str
) -> tuple[int, Any, list]:
    """POST bookings/{id}/confirm_update/{uid}/ -> 201 and the changed booking with total_price_diff."""
    doc, diff = changes.confirm_update(partner, package_id, update_id, body, now)
    return (
        201,
        _with_diff(shapes.booking_view(doc, pages), diff, doc["currency"]),
        _events(doc, pages, "BOOKING_UPDATED"),
    )


def _cancel_events(doc: dict[str, Any], pages: str) -> list[tuple[str, dict[str, Any]]]:
    """BOOKING_CANCELLED when nothing is left in force, BOOKING_UPDATED after a partial cancellation."""
    return _events(doc, pages, "BOOKING_CANCELLED" if doc["status"] == "CANCELLED" else "BOOKING_UPDATED")


def h_cancel(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/cancel -> the cancellation (a preview changes nothing)."""
    doc, refund, pending = changes.cancel(partner, package_id, body, now)
    if pending is not None:
        return 200, shapes.cancellation_view(doc, pages, refund, pending.id, pending.expires_at), []
    return 200, shapes.cancellation_view(doc, pages, refund, None, None), _cancel_events(doc, pages)


def h_confirm_cancellation(
    partner: str, body: Any, now: datetime, pages: str, package_id: str, cancellation_id: str
) -> tuple[int, Any, list]:
    """POST bookings/{id}/confirm_cancellation/{cid}/ -> the done cancellation."""
    doc, refund = changes.confirm_cancellation(partner, package_id, cancellation_id, body, now)
    # As recorded: the done cancellation carries no cancellation_id or confirm_before any more.
    return 200, shapes.cancellation_view(doc, pages, refund, None, None), _cancel_events(doc, pages)


def h_send_email(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/send_email -> 202, no body."""
    service.send_email(partner, package_id, body, now)
    return 202, None, []


route("quotes/", "create_quote", "POST", h_create_quote)
route("quotes/<package_id>/", "get_quote", "GET", h_get_quote)
route("quotes/<package_id>/", "update_quote", "PATCH", h_update_quote)
route("bookings/<package_id>/opt_out", "opt_out", "POST", h_opt_out)
route("bookings/", "list_bookings", "GET", h_list_bookings)
route("bookings/<package_id>/", "create_booking", "POST", h_create_booking)
route("bookings/<package_id>/", "get_booking", "GET", h_get_booking)
route("bookings/<package_id>/", "modify_booking", "PATCH", h_modify_booking)
route("bookings/<package_id>/confirm", "confirm_booking", "PUT", h_confirm_booking)
route("bookings/<package_id>/quote_for_update", "quote_for_update", "PATCH", h_quote_for_update)
route("bookings/<package_id>/confirm_update/<update_id>/", "confirm_update", "POST", h_confirm_update)
route("bookings/<package_id>/cancel", "cancel", "POST", h_cancel)
route(
    "bookings/<package_id>/confirm_cancellation/<cancellation_id>/",
    "confirm_cancellation",
    "POST",
    h_confirm_cancellation,
)
route("bookings/<package_id>/send_email", "send_email", "POST", h_send_email)
