"""XCover: the client the portal calls, its typed results and errors, and the hand-over of an in-process XCover."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from .client import ClientSettings, XCoverClient, build_client, get_client
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
from .signature import verify_webhook
from .transport import INPROCESS_EXTENSION, InProcess
from .types import Benefitish, Booking, BookingPage, Cancellation, Content, Quote, QuotePackage, UpdateQuote

__all__ = [
    "Benefitish",
    "Booking",
    "BookingPage",
    "Cancellation",
    "ClientSettings",
    "Content",
    "Quote",
    "QuotePackage",
    "UpdateQuote",
    "XCoverAuthError",
    "XCoverClient",
    "XCoverConflict",
    "XCoverError",
    "XCoverNotFound",
    "XCoverOutcomeUnknown",
    "XCoverRateLimited",
    "XCoverUnavailable",
    "XCoverValidationError",
    "build_client",
    "get_client",
    "register_xcover",
    "use_inprocess",
    "verify_webhook",
]

SANDBOX_MOUNT = "/sandbox/xcover"


def register_xcover(app: Flask) -> None:
    """Decide whether a sandbox is to be mounted beside the portal; the client itself is created on first use.

    XCOVER_SANDBOX_ENABLED unset means "when XCOVER_BASE_URL is empty", except in production, where only an
    explicit 1 mounts it. The portal never imports the sandbox: the top-level app.py builds it and hands it
    over with use_inprocess().
    """
    enabled = app.config.get("XCOVER_SANDBOX_ENABLED")
    if enabled is None:
        enabled = not app.config.get("XCOVER_BASE_URL") and app.config["PORTAL_ENV"] != "production"
    app.config["XCOVER_SANDBOX_ENABLED"] = bool(enabled)


def use_inprocess(app: Flask, wsgi_app: Callable[..., Any], mount: str = SANDBOX_MOUNT) -> None:
    """Let the client reach an XCover WSGI app served at `mount` by calling it in-process (no socket).

    Used only while XCOVER_BASE_URL is empty; its links are root-relative under `mount`, which is where the
    same app must be mounted for browsers (app.py does both).
    """
    app.extensions[INPROCESS_EXTENSION] = InProcess(wsgi_app, mount.rstrip("/"))
    app.extensions.pop("xcover", None)
