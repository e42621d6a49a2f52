"""XCover: the client the portal calls, its typed results and errors, and the embedded sandbox."""
from __future__ import annotations

from flask import Flask

from .client import ClientSettings, XCoverClient, build_client, get_client
from .signature import verify_webhook
from .errors import (XCoverAuthError, XCoverConflict, XCoverError, XCoverNotFound, XCoverOutcomeUnknown,
                     XCoverRateLimited, XCoverUnavailable, XCoverValidationError)
from .types import (Benefitish, Booking, BookingPage, Cancellation, Content, Quote, QuotePackage,
                    UpdateQuote)

__all__ = [
    "Benefitish", "Booking", "BookingPage", "Cancellation", "ClientSettings", "Content", "Quote",
    "QuotePackage", "UpdateQuote", "XCoverAuthError", "XCoverClient", "XCoverConflict", "XCoverError",
    "XCoverNotFound", "XCoverOutcomeUnknown", "XCoverRateLimited", "XCoverUnavailable",
    "XCoverValidationError", "build_client", "get_client", "register_xcover", "verify_webhook",
]


def register_xcover(app: Flask) -> None:
    """Mount the embedded sandbox when it is in use; the client itself is created on first use."""
    enabled = app.config.get("XCOVER_SANDBOX_ENABLED")
    if enabled is None:
        enabled = not app.config.get("XCOVER_BASE_URL")
    app.config["XCOVER_SANDBOX_ENABLED"] = bool(enabled)
    if enabled:
        from .sandbox import init_app
        init_app(app)
