"""The sandbox's API plumbing: signatures, faults, bodies, idempotency, one commit, webhooks (routes.py: the paths)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, request

from . import control
from .config import INPROCESS_ENVIRON_KEY
from .extensions import db
from .signature import AuthFailure, same_text, verify
from .validation import ApiError, decline, not_found
from .webhooks import send_later

# Paths are relative to wherever the sandbox is served: the root when alone, /sandbox/xcover when mounted.
bp = Blueprint("xcover_sandbox", __name__)
# POST/GET/DELETE partners/{code}/_faults: registered only when XCOVER_SANDBOX_FAULTS_ENABLED is on.
faults_bp = Blueprint("xcover_sandbox_faults", __name__)

Handler = Callable[..., tuple[int, Any, list[tuple[str, dict[str, Any]]]]]
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
        error = not_found()
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
        raise ApiError(400, {"type": "parse_error", "message": "JSON parse error.", "errors": {}}) from None


def _fault_response(fault: Any) -> Response | None:
    """Answer for a fault that fires before anything is applied (None for latency and timeout-after-apply)."""
    if fault.mode.startswith("error_"):
        return json_response(int(fault.mode[6:]), json.dumps({}))
    if fault.mode == "rate_limit":
        wait = fault.seconds or 1
        after = str(int(wait)) if float(wait).is_integer() else str(wait)
        return error_response(429, "rate_limit", "Too many requests.", {"Retry-After": after})
    if fault.mode == "decline":
        error = decline()
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
        except ApiError as error:
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
        except ApiError as error:
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
