"""The XCover client: one signed requests.Session per process, timeouts, safe retries, typed results."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from xcover.auth import XCoverAuth
from xcover.config import AuthConfig, SignatureAlgorithm

from . import retry
from .transport import INPROCESS_EXTENSION, InProcess, new_session, send_signed
from .types import Booking, BookingPage, Cancellation, QuotePackage, UpdateQuote

log = logging.getLogger("portal.xcover")

ALGORITHMS = tuple(a.value for a in SignatureAlgorithm)


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
        s = self.settings
        return retry.backoff_delay(retry_number, s.retry_base_delay, s.retry_max_delay, self.rng, retry_after)

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
        """Make one logical call with retries inside the budget (retry.py); return the success body (None if empty)."""
        s = self.settings

        def attempt(timeout: tuple[float, float]) -> requests.Response:
            """Send the request once, signed afresh."""
            return send_signed(
                self.session,
                self.auth,
                s.api_key,
                method,
                self.url(path),
                payload=payload,
                params=params,
                idempotency_key=idempotency_key,
                timeout=timeout,
            )

        def log_attempt(number: int, started: float, status: int | None, error: str | None) -> None:
            """Log this call's attempt."""
            self._log(operation, method, path, number, started, status, error)

        return retry.with_retries(
            attempt,
            kind=retry.kind_of(method, idempotency_key),
            idempotency_key=idempotency_key,
            connect_timeout=s.connect_timeout,
            read_timeout=s.booking_read_timeout if booking else s.read_timeout,
            total_budget=s.total_budget,
            max_attempts=s.max_attempts,
            backoff=self.backoff_delay,
            sleep=self.sleep,
            log_attempt=log_attempt,
        )

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
    session, base_url = new_session(config.get("XCOVER_BASE_URL") or "", inprocess)
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
