"""The XCover client: one signed requests.Session per process, timeouts, safe retries, typed results."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError
from xcover.auth import XCoverAuth
from xcover.config import AuthConfig, SignatureAlgorithm
from xcover.utils import http_date

from .errors import (
    XCoverAuthError,
    XCoverConflict,
    XCoverError,
    XCoverNotFound,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
    XCoverValidationError,
)
from .transport import INPROCESS_BASE, INPROCESS_EXTENSION, InProcess, WSGITransport
from .types import Booking, BookingPage, Cancellation, QuotePackage, UpdateQuote

log = logging.getLogger("portal.xcover")

RETRY_STATUSES = frozenset({423, 429, 502, 503, 504})
ALGORITHMS = tuple(a.value for a in SignatureAlgorithm)
# A retry is not started unless at least this much of the budget is left for the attempt itself.
MIN_ATTEMPT_SECONDS = 0.05

READ, KEYED, UNKEYED = "read", "keyed", "unkeyed"


@dataclass(frozen=True)
class ClientSettings:
    """Everything the client needs; built from the app config by get_client()."""

    base_url: str
    partner_code: str
    api_key: str
    api_secret: str
    algorithm: str = "hmac-sha512"
    auth_headers: str = "date"
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    booking_read_timeout: float = 10.0
    total_budget: float = 18.0
    max_attempts: int = 3
    retry_base_delay: float = 0.5
    retry_max_delay: float = 4.0

    def __post_init__(self) -> None:
        """Refuse settings that break the timeout rules or name an unknown algorithm."""
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"XCOVER_AUTH_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        # The brief's ceilings: connect <= 3 s, non-booking read <= 5 s, whole call < 20 s.
        object.__setattr__(self, "connect_timeout", min(self.connect_timeout, 3.0))
        object.__setattr__(self, "read_timeout", min(self.read_timeout, 5.0))
        object.__setattr__(self, "booking_read_timeout", min(self.booking_read_timeout, 10.0))
        object.__setattr__(self, "total_budget", min(self.total_budget, 19.0))


def _json_default(value: Any) -> Any:
    """Encode Decimals as JSON numbers and dates as RFC 3339 text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: seconds (fractions accepted) or an HTTP date; None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _never_sent(exc: requests.RequestException) -> bool:
    """Tell whether the request certainly never reached XCover (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def _body(response: requests.Response) -> Any:
    """Parse a response body: JSON when there is some, None when empty, the text otherwise."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:500]}


def _is_replay(body: Any) -> bool:
    """A 409 carrying a stored success body (not an error envelope) is our own request replayed."""
    if body is None:
        return True
    return not (isinstance(body, dict) and "id" not in body and ("type" in body or "message" in body))


def _message(body: Any, fallback: str) -> str:
    """Pick XCover's message out of an error body (`message`, then `error`, then `detail`)."""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return fallback


class XCoverClient:
    """Calls XCover: every operation the portal uses, signed, timed out, retried only where safe."""

    def __init__(
        self,
        settings: ClientSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.auth = XCoverAuth(
            AuthConfig(
                api_key=settings.api_key,
                api_secret=settings.api_secret,
                algorithm=SignatureAlgorithm(settings.algorithm),
                headers=settings.auth_headers,
            )
        )

    # ---- plumbing -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """Return the full URL of a partner path such as "quotes/"."""
        return f"{self.settings.base_url}/partners/{quote(self.settings.partner_code, safe='')}/{path}"

    def backoff_delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number n (1-based): exponential with jitter, at least Retry-After."""
        ceiling = min(self.settings.retry_max_delay, self.settings.retry_base_delay * (2 ** (retry_number - 1)))
        delay = ceiling / 2 + self.rng.uniform(0, ceiling / 2)
        return max(delay, retry_after) if retry_after is not None else delay

    def _send(
        self,
        method: str,
        path: str,
        payload: Any,
        params: dict[str, Any] | None,
        idempotency_key: str | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        """Send one signed attempt (a fresh Date and signature every time)."""
        headers = {"Date": http_date(), "Content-Type": "application/json", "X-Api-Key": self.settings.api_key}
        if idempotency_key:
            headers["x-idempotency-key"] = idempotency_key
        data = json.dumps(payload, default=_json_default) if payload is not None else None
        return self.session.request(
            method,
            self.url(path),
            data=data,
            params=params,
            headers=headers,
            auth=self.auth,
            timeout=timeout,
            allow_redirects=False,
        )

    def _error(self, status: int, body: Any, kind: str) -> XCoverError:
        """Map a final non-success answer to the XCoverError family."""
        message = _message(body, f"XCover answered {status}")
        if status == 404:
            return XCoverNotFound(message, status=status, body=body)
        if status in (401, 403) or (status == 400 and "authori" in message.lower()):
            return XCoverAuthError(message, status=status, body=body)
        if status in (400, 422):
            return XCoverValidationError(message, status=status, body=body)
        if status == 409:
            return XCoverConflict(message, status=status, body=body)
        if status == 429:
            return XCoverRateLimited(message, status=status, body=body)
        if status == 423 or status >= 500:
            if kind == KEYED:
                return XCoverOutcomeUnknown(message, status=status, body=body)
            return XCoverUnavailable(message, status=status, body=body)
        return XCoverError(message, status=status, body=body)

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        payload: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        booking: bool = False,
    ) -> Any:
        """Make one logical call with retries inside the budget; return the success body (None if empty)."""
        s = self.settings
        kind = READ if method == "GET" else (KEYED if idempotency_key else UNKEYED)
        read_timeout = s.booking_read_timeout if booking else s.read_timeout
        started = time.monotonic()
        deadline = started + s.total_budget
        attempt = 0
        # Once an attempt of a keyed write may have been applied, a later "not applied" answer (429, no
        # connection, the budget running out) cannot clear it: the call's outcome stays unknown.
        maybe_applied = False
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            # Connecting and reading share what is left, so a slow connect cannot stretch the call past it.
            connect = min(s.connect_timeout, remaining)
            timeout = (connect, min(read_timeout, max(remaining - connect, MIN_ATTEMPT_SECONDS)))
            retry_after: float | None = None
            try:
                response = self._send(method, path, payload, params, idempotency_key, timeout)
            except requests.RequestException as exc:
                never_sent = _never_sent(exc)
                self._log(operation, method, path, attempt, started, None, type(exc).__name__)
                retryable = never_sent or kind != UNKEYED
                if never_sent or kind != KEYED:
                    failure: XCoverError = XCoverUnavailable(f"XCover could not be reached: {exc}")
                else:
                    failure = XCoverOutcomeUnknown(f"XCover did not answer; the request may have been applied: {exc}")
            else:
                status = response.status_code
                body = _body(response)
                self._log(operation, method, path, attempt, started, status, None)
                if 200 <= status < 300 or (status == 409 and idempotency_key and _is_replay(body)):
                    return body
                failure = self._error(status, body, kind)
                retryable = status in RETRY_STATUSES and kind != UNKEYED
                # 429 and 503 (and 423 from some gateways) may say when to come back.
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if isinstance(failure, XCoverRateLimited):
                    failure.retry_after = retry_after
            maybe_applied = maybe_applied or isinstance(failure, XCoverOutcomeUnknown)
            if not retryable or attempt >= s.max_attempts:
                raise self._final(failure, maybe_applied)
            delay = self.backoff_delay(attempt, retry_after)
            if time.monotonic() + delay + MIN_ATTEMPT_SECONDS > deadline:
                raise self._final(failure, maybe_applied)
            self.sleep(delay)

    @staticmethod
    def _final(failure: XCoverError, maybe_applied: bool) -> XCoverError:
        """The error to raise: outcome unknown if an earlier attempt may have applied the write."""
        if maybe_applied and isinstance(failure, (XCoverRateLimited, XCoverUnavailable)):
            unknown = XCoverOutcomeUnknown(
                f"an earlier attempt may have been applied; last answer: {failure.message}",
                status=failure.status,
                body=failure.body,
            )
            unknown.__cause__ = failure
            return unknown
        return failure

    def _log(
        self,
        operation: str,
        method: str,
        path: str,
        attempt: int,
        started: float,
        status: int | None,
        error: str | None,
    ) -> None:
        """Log one attempt (never bodies: they hold customer data)."""
        log.info(
            "xcover %s %s",
            operation,
            status or error,
            extra={
                "xcover": {
                    "operation": operation,
                    "method": method,
                    "path": path,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                    "ms": round((time.monotonic() - started) * 1000),
                }
            },
        )

    # ---- quotes ---------------------------------------------------------------------------------

    def create_quote(self, payload: dict[str, Any]) -> QuotePackage:
        """Ask for a quote package (POST quotes/, 201)."""
        return QuotePackage.from_json(self.call("create_quote", "POST", "quotes/", payload=payload))

    def get_quote(self, package_id: str) -> QuotePackage:
        """Read a quote package (GET quotes/{id}/)."""
        return QuotePackage.from_json(self.call("get_quote", "GET", f"quotes/{_seg(package_id)}/"))

    def update_quote(
        self, package_id: str, payload: dict[str, Any], *, idempotency_key: str | None = None
    ) -> QuotePackage:
        """Re-price a quote package (PATCH quotes/{id}/)."""
        return QuotePackage.from_json(
            self.call(
                "update_quote", "PATCH", f"quotes/{_seg(package_id)}/", payload=payload, idempotency_key=idempotency_key
            )
        )

    def opt_out(self, package_id: str, *, idempotency_key: str, partner_metadata: dict[str, Any] | None = None) -> None:
        """Tell XCover the customer declined cover (POST bookings/{id}/opt_out, 204)."""
        payload = {"partner_metadata": partner_metadata} if partner_metadata else {}
        self.call(
            "opt_out", "POST", f"bookings/{_seg(package_id)}/opt_out", payload=payload, idempotency_key=idempotency_key
        )

    # ---- bookings -------------------------------------------------------------------------------

    def create_booking(
        self,
        package_id: str,
        payload: dict[str, Any],
        *,
        idempotency_key: str,
        require_payment_confirmation: bool = False,
    ) -> Booking:
        """Book chosen quotes (POST bookings/{id}/, 200); PENDING_PAYMENT when confirmation is required."""
        if require_payment_confirmation:
            payload = {**payload, "require_payment_confirmation": True}
        return Booking.from_json(
            self.call(
                "create_booking",
                "POST",
                f"bookings/{_seg(package_id)}/",
                payload=payload,
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def confirm_booking(self, package_id: str, *, idempotency_key: str) -> Booking:
        """Confirm a PENDING_PAYMENT booking (PUT bookings/{id}/confirm, 201)."""
        return Booking.from_json(
            self.call(
                "confirm_booking",
                "PUT",
                f"bookings/{_seg(package_id)}/confirm",
                payload={},
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def get_booking(self, package_id: str) -> Booking:
        """Read a booking (GET bookings/{id}/)."""
        return Booking.from_json(self.call("get_booking", "GET", f"bookings/{_seg(package_id)}/"))

    def list_bookings(self, limit: int = 20, offset: int = 0) -> BookingPage:
        """List the partner's bookings, newest first (GET bookings/)."""
        return BookingPage.from_json(
            self.call("list_bookings", "GET", "bookings/", params={"limit": limit, "offset": offset})
        )

    def modify_booking(self, package_id: str, payload: dict[str, Any], *, idempotency_key: str) -> Booking:
        """Change policyholder or item details at once (PATCH bookings/{id}/)."""
        return Booking.from_json(
            self.call(
                "modify_booking",
                "PATCH",
                f"bookings/{_seg(package_id)}/",
                payload=payload,
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def quote_for_update(self, package_id: str, payload: dict[str, Any], *, idempotency_key: str) -> UpdateQuote:
        """Price a modification without applying it (PATCH bookings/{id}/quote_for_update)."""
        return UpdateQuote.from_json(
            self.call(
                "quote_for_update",
                "PATCH",
                f"bookings/{_seg(package_id)}/quote_for_update",
                payload=payload,
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def confirm_update(self, package_id: str, update_id: str, *, idempotency_key: str) -> Booking:
        """Apply a priced modification (POST bookings/{id}/confirm_update/{update_id}/, 201)."""
        return Booking.from_json(
            self.call(
                "confirm_update",
                "POST",
                f"bookings/{_seg(package_id)}/confirm_update/{_seg(update_id)}/",
                payload={},
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def cancel(
        self,
        package_id: str,
        *,
        quotes: list[dict[str, Any]] | None = None,
        preview: bool = False,
        idempotency_key: str,
    ) -> Cancellation:
        """Cancel all or the listed quotes, or only preview the refund (POST bookings/{id}/cancel)."""
        payload: dict[str, Any] = {}
        if quotes:
            payload["quotes"] = quotes
        if preview:
            payload["preview"] = True
        return Cancellation.from_json(
            self.call(
                "cancel",
                "POST",
                f"bookings/{_seg(package_id)}/cancel",
                payload=payload,
                idempotency_key=idempotency_key,
                booking=True,
            )
        )

    def confirm_cancellation(self, package_id: str, cancellation_id: str, *, idempotency_key: str) -> Cancellation:
        """Carry out a previewed cancellation (POST bookings/{id}/confirm_cancellation/{cid}/)."""
        path = f"bookings/{_seg(package_id)}/confirm_cancellation/{_seg(cancellation_id)}/"
        return Cancellation.from_json(
            self.call("confirm_cancellation", "POST", path, payload={}, idempotency_key=idempotency_key, booking=True)
        )

    def send_email(self, package_id: str, *, event: str | None = None, idempotency_key: str) -> None:
        """Ask XCover to (re)send the customer's email (POST bookings/{id}/send_email, 202)."""
        self.call(
            "send_email",
            "POST",
            f"bookings/{_seg(package_id)}/send_email",
            payload={"event": event} if event else {},
            idempotency_key=idempotency_key,
        )


def _seg(value: str) -> str:
    """Escape an id for use as one path segment."""
    return quote(str(value), safe="")


_lock = threading.Lock()


def build_client(config: Any, inprocess: InProcess | None = None) -> XCoverClient:
    """Build a client from an app config mapping; with no XCOVER_BASE_URL, call the handed-over XCover in-process."""
    session = requests.Session()
    base_url = config.get("XCOVER_BASE_URL") or ""
    if not base_url:
        if inprocess is None:
            raise RuntimeError(
                "XCOVER_BASE_URL is empty and no in-process XCover was handed over: serve the "
                "portal through app.py (it mounts the sandbox) or set XCOVER_BASE_URL"
            )
        base_url = INPROCESS_BASE + inprocess.mount
        session.mount(INPROCESS_BASE + "/", WSGITransport(inprocess.wsgi_app, inprocess.mount))
    settings = ClientSettings(
        base_url=base_url.rstrip("/"),
        partner_code=config["XCOVER_PARTNER_CODE"],
        api_key=config["XCOVER_API_KEY"],
        api_secret=config["XCOVER_API_SECRET"],
        algorithm=config["XCOVER_AUTH_ALGORITHM"],
        connect_timeout=config["XCOVER_CONNECT_TIMEOUT"],
        read_timeout=config["XCOVER_READ_TIMEOUT"],
        booking_read_timeout=config["XCOVER_BOOKING_READ_TIMEOUT"],
        total_budget=config["XCOVER_TOTAL_BUDGET"],
        max_attempts=config["XCOVER_RETRY_MAX_ATTEMPTS"],
        retry_base_delay=config["XCOVER_RETRY_BASE_DELAY"],
        retry_max_delay=config["XCOVER_RETRY_MAX_DELAY"],
    )
    return XCoverClient(settings, session)


def get_client() -> XCoverClient:
    """Return this process's client for the current app (created on first use)."""
    from flask import current_app

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("xcover")
    if client is None:
        with _lock:
            client = app.extensions.get("xcover")
            if client is None:
                client = build_client(app.config, app.extensions.get(INPROCESS_EXTENSION))
                app.extensions["xcover"] = client
    return client
