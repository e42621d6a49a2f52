"""The device cookie: a signed random id that tells one browser (a store iPad) from another, for quick switch."""

from __future__ import annotations

import re
import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

_SALT = "portal-device-cookie"
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _serializer() -> URLSafeSerializer:
    """Sign with the app's secret key, under a salt of its own (a session cookie's signature never fits)."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def current_device() -> str | None:
    """Return this browser's device id from its cookie, or None when it has none or it was not signed by us."""
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not raw:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def device_for_sign_in() -> str:
    """Return this browser's device id, or a new random one for a browser that has none yet."""
    return current_device() or secrets.token_urlsafe(24)


def remember(response: Response, device_id: str) -> Response:
    """Set (or renew) the device cookie: long-lived, signed, HttpOnly, SameSite=Lax, Secure like the session."""
    config = current_app.config
    response.set_cookie(
        config["DEVICE_COOKIE_NAME"],
        _serializer().dumps(device_id),
        max_age=config["DEVICE_COOKIE_DAYS"] * 86400,
        secure=config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
        path="/",
    )
    return response
