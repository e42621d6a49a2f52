"""The sandbox's HTTP face: XCover's paths, methods, status codes and quirks, plus its own customer pages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, abort, current_app, render_template, request

from . import catalogue as cat
from . import control, service
from .config import INPROCESS_ENVIRON_KEY
from .extensions import db
from .models import SandboxPackage
from .pdf import certificate_pdf
from .signature import AuthFailure, same_text, verify
from .webhooks import send_later

# Paths are relative to wherever the sandbox is served: the root when alone, /sandbox/xcover when mounted.
bp = Blueprint("xcover_sandbox", __name__)
# POST/GET/DELETE partners/{code}/_faults: registered only when XCOVER_SANDBOX_FAULTS_ENABLED is on.
faults_bp = Blueprint("xcover_sandbox_faults", __name__)

Handler = Callable[..., tuple[int, Any, list[tuple[str, dict[str, Any]]]]]
# Postgres and SQLite both stop at a signed 64-bit OFFSET; DRF-style bound well inside it.
MAX_OFFSET = 2_147_483_647
MAX_IDEMPOTENCY_KEY = 255


def json_response(status: int, body: str | None, headers: dict[str, str] | None = None) -> Response:
    """An API answer with XCover's (placeholder) rate-limit headers."""
    response = Response(
        body if body is not None else "", status=status, mimetype="application/json" if body is not None else None
    )
    response.headers.update(
        {"X-Ratelimit-Limit": "-1", "X-Ratelimit-Remaining": "-1", "X-Ratelimit-Reset": "1568836675", **(headers or {})}
    )
    return response


def error_response(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error in XCover's shape: type, message and (empty) errors."""
    return json_response(status, json.dumps({"type": kind, "message": message, "errors": {}}), headers)


def pages_base() -> str:
    """Where the sandbox's customer pages live, as links in its answers should name them."""
    public = current_app.config.get("XCOVER_SANDBOX_PUBLIC_URL") or ""
    origin = public or ("" if request.environ.get(INPROCESS_ENVIRON_KEY) else request.host_url.rstrip("/"))
    return f"{origin}{request.script_root}/en"


def _signed_path() -> str:
    """The path as the client sent it, for the (request-target) line."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw.split("?", 1)[0]
    return quote(request.script_root + request.path)


def _authenticate(partner: str) -> Response | None:
    """Check the signature, then the partner code; return the 401 or 404 to send, if any."""
    config = current_app.config
    try:
        verify(
            method=request.method,
            path=_signed_path(),
            headers=request.headers,
            api_key=config["XCOVER_SANDBOX_API_KEY"],
            api_secret=config["XCOVER_SANDBOX_API_SECRET"],
            max_skew=config["XCOVER_SANDBOX_CLOCK_SKEW"],
        )
    except AuthFailure as failure:
        return json_response(
            401, json.dumps({"type": "authentication_error", "message": str(failure), "error": str(failure)})
        )
    if not same_text(partner, config["XCOVER_SANDBOX_PARTNER_CODE"]):
        # XCover documents 404 for an unknown partner, or a booking that is not the partner's.
        error = service.not_found()
        return json_response(error.status, json.dumps(error.body))
    return None


def _json_body() -> Any:
    """Parse the body; XCover's Python SDK sends `null` on GET, so empty and null both mean no body."""
    raw = request.get_data()
    if not raw.strip() or raw.strip() == b"null":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise service.ApiError(400, {"type": "parse_error", "message": "JSON parse error.", "errors": {}}) from None


def _fault_response(fault: Any) -> Response | None:
    """Answer for a fault that fires before anything is applied (None for latency and timeout-after-apply)."""
    if fault.mode.startswith("error_"):
        return json_response(int(fault.mode[6:]), json.dumps({}))
    if fault.mode == "rate_limit":
        wait = fault.seconds or 1
        after = str(int(wait)) if float(wait).is_integer() else str(wait)
        return error_response(429, "rate_limit", "Too many requests.", {"Retry-After": after})
    if fault.mode == "decline":
        error = service.decline()
        return json_response(error.status, json.dumps(error.body))
    return None


def api(operation: str, handler: Handler) -> Callable[..., Response]:
    """Wrap an operation: signature, faults, body parsing, idempotency, one commit, webhooks."""

    def view(partner: str, **kwargs: Any) -> Response:
        denied = _authenticate(partner)
        if denied is not None:
            return denied
        fault = control.take_fault(partner, operation) if current_app.config["XCOVER_SANDBOX_FAULTS_ENABLED"] else None
        if fault is not None:
            early = _fault_response(fault)
            if early is not None:
                return early
        key = request.headers.get("x-idempotency-key") if request.method != "GET" else None
        if key and len(key) > MAX_IDEMPOTENCY_KEY:
            return error_response(
                400, "validation_error", f"x-idempotency-key must be at most {MAX_IDEMPOTENCY_KEY} characters."
            )
        now = datetime.now(UTC)
        try:
            body = _json_body()
        except service.ApiError as error:
            return json_response(error.status, json.dumps(error.body))
        if key:
            replay = control.begin(
                partner, key, control.request_hash(request.method, request.path, request.get_data()), now
            )
            if replay is not None:
                return json_response(replay.status, replay.body)
        if fault is not None and fault.mode == "latency":
            # Slow while holding the key, so a duplicate meanwhile sees 423 as it would on XCover.
            time.sleep(fault.seconds)
        try:
            status, result, events = handler(partner, body, now, pages_base(), **kwargs)
        except service.ApiError as error:
            if key:
                control.release(partner, key)
            else:
                db.session.rollback()
            return json_response(error.status, json.dumps(error.body))
        except Exception:
            if key:
                control.release(partner, key)
            raise
        text = json.dumps(result) if result is not None else None
        if key:
            control.finish(partner, key, status, text)
        db.session.commit()
        for event, payload in events:
            send_later(current_app.config, event, payload)
        if fault is not None and fault.mode == "timeout_after_apply":
            # Applied and stored; the answer comes too late for the caller, who must reconcile.
            time.sleep(fault.seconds or 12.0)
        return json_response(status, text)

    view.__name__ = operation
    return view


def route(rule: str, operation: str, method: str, handler: Handler) -> None:
    """Register an XCover path in both trailing-slash forms (clients differ; XCover's own forms come first)."""
    view = api(operation, handler)
    other = rule[:-1] if rule.endswith("/") else rule + "/"
    for path in (rule, other):
        bp.add_url_rule(
            f"/partners/<partner>/{path}",
            endpoint=f"{operation}{'_alt' if path is other else ''}",
            view_func=view,
            methods=[method],
            strict_slashes=True,
        )


# ---- handlers ---------------------------------------------------------------------------------------


def _events(doc: dict[str, Any], pages: str, *names: str) -> list[tuple[str, dict[str, Any]]]:
    """Webhook events carrying the slim booking XCover's webhooks carry."""
    return [(name, service.webhook_payload(doc)) for name in names]


def h_create_quote(partner: str, body: Any, now: datetime, pages: str) -> tuple[int, Any, list]:
    """POST quotes/ -> 201 and the package."""
    doc, _ = service.create_quote(partner, body, now)
    return 201, service.package_view(doc, pages), []


def h_get_quote(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """GET quotes/{id}/ -> the package."""
    return 200, service.package_view(service.load(partner, package_id).doc, pages), []


def h_update_quote(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH quotes/{id}/ -> the re-priced package."""
    return 200, service.package_view(service.update_quote(partner, package_id, body, now), pages), []


def h_opt_out(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/opt_out -> 204, no body."""
    service.opt_out(partner, package_id, body, now)
    return 204, None, []


def h_create_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/ -> 200 and the booking."""
    doc = service.create_booking(partner, package_id, body, now)
    events = _events(doc, pages, "BOOKING_CREATED") if doc["status"] == "CONFIRMED" else []
    return 200, service.booking_view(doc, pages), events


def h_confirm_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PUT bookings/{id}/confirm -> 201 and the confirmed booking."""
    doc = service.confirm_booking(partner, package_id, body, now)
    return 201, service.booking_view(doc, pages), _events(doc, pages, "BOOKING_CREATED")


def h_get_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """GET bookings/{id}/ -> the booking."""
    return 200, service.booking_view(service.get_booking(partner, package_id), pages), []


def _query_int(name: str, default: int) -> int:
    """An integer query parameter, or the 422 XCover would send."""
    try:
        return int(request.args.get(name, default))
    except ValueError:
        raise service.validation_error({name: ["A valid integer is required."]}) from None


def h_list_bookings(partner: str, body: Any, now: datetime, pages: str) -> tuple[int, Any, list]:
    """GET bookings/?limit=&offset= -> a DRF-style page."""
    limit = min(100, max(1, _query_int("limit", 20)))
    offset = max(0, _query_int("offset", 0))
    if offset > MAX_OFFSET:
        raise service.validation_error({"offset": [f"Ensure this value is less than or equal to {MAX_OFFSET}."]})
    count, docs = service.list_bookings(partner, limit, offset)

    def page(start: int) -> str:
        return f"{request.base_url}?{urlencode({'limit': limit, 'offset': start})}"

    return (
        200,
        {
            "count": count,
            "next": page(offset + limit) if offset + limit < count else None,
            "previous": page(max(0, offset - limit)) if offset > 0 else None,
            "results": [service.booking_view(d, pages) for d in docs],
        },
        [],
    )


def _with_diff(view: dict[str, Any], diff: Decimal, currency: str) -> dict[str, Any]:
    """Add total_price_diff (and its formatted twin) to a booking view."""
    return {**view, "total_price_diff": cat.num(diff), "total_price_diff_formatted": cat.fmt(diff, currency)}


def h_modify_booking(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH bookings/{id}/ -> the changed booking with total_price_diff."""
    doc, diff = service.modify_booking(partner, package_id, body, now)
    return (
        200,
        _with_diff(service.booking_view(doc, pages), diff, doc["currency"]),
        _events(doc, pages, "BOOKING_UPDATED"),
    )


def h_quote_for_update(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """PATCH bookings/{id}/quote_for_update -> the priced change and its update_id."""
    doc, update_id, diff = service.quote_for_update(partner, package_id, body, now)
    return 200, {**_with_diff(service.booking_view(doc, pages), diff, doc["currency"]), "update_id": update_id}, []


def h_confirm_update(
    partner: str, body: Any, now: datetime, pages: str, package_id: str, update_id: str
) -> tuple[int, Any, list]:
    """POST bookings/{id}/confirm_update/{uid}/ -> 201 and the changed booking with total_price_diff."""
    doc, diff = service.confirm_update(partner, package_id, update_id, body, now)
    return (
        201,
        _with_diff(service.booking_view(doc, pages), diff, doc["currency"]),
        _events(doc, pages, "BOOKING_UPDATED"),
    )


def _cancel_events(doc: dict[str, Any], pages: str) -> list[tuple[str, dict[str, Any]]]:
    """BOOKING_CANCELLED when nothing is left in force, BOOKING_UPDATED after a partial cancellation."""
    return _events(doc, pages, "BOOKING_CANCELLED" if doc["status"] == "CANCELLED" else "BOOKING_UPDATED")


def h_cancel(partner: str, body: Any, now: datetime, pages: str, package_id: str) -> tuple[int, Any, list]:
    """POST bookings/{id}/cancel -> the cancellation (a preview changes nothing)."""
    doc, refund, pending = service.cancel(partner, package_id, body, now)
    if pending is not None:
        return 200, service.cancellation_view(doc, pages, refund, pending.id, pending.expires_at), []
    return 200, service.cancellation_view(doc, pages, refund, None, None), _cancel_events(doc, pages)


def h_confirm_cancellation(
    partner: str, body: Any, now: datetime, pages: str, package_id: str, cancellation_id: str
) -> tuple[int, Any, list]:
    """POST bookings/{id}/confirm_cancellation/{cid}/ -> the done cancellation."""
    doc, refund = service.confirm_cancellation(partner, package_id, cancellation_id, body, now)
    # As recorded: the done cancellation carries no cancellation_id or confirm_before any more.
    return 200, service.cancellation_view(doc, pages, refund, None, None), _cancel_events(doc, pages)


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


# ---- faults (signed like any partner call) ------------------------------------------------------------


@faults_bp.route("/partners/<partner>/_faults", methods=["GET", "POST", "DELETE"])
def faults(partner: str) -> Response:
    """List, add or clear this partner's injected faults (see the docs' "Sandbox faults")."""
    denied = _authenticate(partner)
    if denied is not None:
        return denied
    if request.method == "DELETE":
        control.clear_faults(partner)
        return json_response(204, None)
    if request.method == "POST":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return error_response(422, "validation_error", "Send a JSON object: operation, mode, count, seconds.")
        count, seconds = body.get("count", 1), body.get("seconds", 0)
        try:
            if isinstance(count, bool) or isinstance(seconds, bool):
                raise ValueError("count and seconds are numbers")
            control.inject_fault(
                partner, str(body.get("operation", "*")), str(body.get("mode", "")), int(count), float(seconds)
            )
        except (TypeError, ValueError, OverflowError) as exc:
            return error_response(422, "validation_error", str(exc))
        return json_response(201, json.dumps({"faults": control.list_faults(partner)}))
    return json_response(200, json.dumps({"faults": control.list_faults(partner)}))


# ---- customer pages the links point to ----------------------------------------------------------------


def _package_or_404(package_id: str) -> SandboxPackage:
    """A package by INS id, for the public pages."""
    row = db.session.get(SandboxPackage, package_id)
    if row is None:
        abort(404)
    return row


def _with_token(package_id: str) -> SandboxPackage:
    """A package whose security token the link carries (404 otherwise, as for an unknown one)."""
    row = _package_or_404(package_id)
    if not same_text(request.args.get("security_token", ""), row.doc["security_token"]):
        abort(404)
    return row


@bp.get("/en/pds/<package_id>")
def pds(package_id: str) -> str:
    """The policy wording (PDS) for the package's policy types, naming the customer's products."""
    row = _with_token(package_id)
    wanted = request.args.get("policy_type", "").removesuffix("_v1")
    quotes = [q for q in row.doc["quotes"].values() if q and (not wanted or q["policy"]["policy_type"] == wanted)]
    return render_template(
        "document.html",
        kind="pds",
        doc=row.doc,
        quotes=quotes,
        words=cat.POLICY_TYPES,
        title=f"Policy wording {package_id}",
    )


def _checked(package_id: str) -> SandboxPackage:
    """A booked package whose security token the link carries."""
    row = _with_token(package_id)
    if row.status not in service.BOOKED:
        abort(404)
    return row


@bp.get("/en/coi/<package_id>.pdf")
def coi_pdf(package_id: str) -> Response:
    """The certificate of insurance as a PDF."""
    row = _checked(package_id)
    return Response(
        certificate_pdf(row.doc),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{package_id}.pdf"'},
    )


@bp.get("/en/coi/<package_id>")
def coi(package_id: str) -> str:
    """The certificate of insurance."""
    row = _checked(package_id)
    return render_template(
        "document.html",
        kind="coi",
        doc=row.doc,
        quotes=service.booked_quotes(row.doc),
        words=cat.POLICY_TYPES,
        title=f"Certificate of insurance {package_id}",
    )


@bp.get("/en/account")
def account() -> str:
    """The customer's account landing page (claims and documents live on xcover.com for real)."""
    return render_template("document.html", kind="account", doc=None, quotes=[], title="Your XCover account")
