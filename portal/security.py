"""Request ids, client addresses, security headers and role checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Response, abort, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

from .sensitive import find_card_number, new_key

F = TypeVar("F", bound=Callable[..., Any])

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
# No page may use the camera, microphone or location, except the products screen's Scan (CAMERA_PERMISSIONS,
# set by that view): the camera for this origin only.
PERMISSIONS = "camera=(), microphone=(), geolocation=()"
CAMERA_PERMISSIONS = "camera=(self), microphone=(), geolocation=()"
# A client's request id is taken only as a canonical (lowercase) UUID: it lands in the audit chain, the log and
# exports, so nothing free-form may come in with it.
_REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow a view only to signed-in users holding one of the roles; others get 403."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                from .extensions import login_manager

                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def request_id(incoming: str) -> str:
    """Return the client's request id when it is a canonical UUID that spells no card number, else a new one."""
    if _REQUEST_ID.fullmatch(incoming) and not find_card_number(incoming):
        return incoming
    return new_key()  # ours must not look like a card number to a scanner either


def _start_request() -> None:
    """Give every request an id (honouring a client's UUID) and note the client."""
    g.request_id = request_id(request.headers.get("X-Request-ID", ""))
    g.client_ip = request.remote_addr


def _refuse_nul() -> None:
    """Answer 400 to a NUL in the query string or a form: no field takes one, and PostgreSQL cannot compare one."""
    sent = [*request.args.items(multi=True)]
    if request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        sent += request.form.items(multi=True)
    if any("\x00" in name or "\x00" in value for name, value in sent):
        abort(400)


def _set_headers(response: Response) -> Response:
    """Add the security headers every response carries."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Permissions-Policy", PERMISSIONS)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if g.get("request_id"):
        response.headers["X-Request-ID"] = g.request_id
    if request.endpoint != "static":
        # Pages carry customer data: never let a shared iPad's back button show a cached copy.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Install proxy handling, request ids and security headers."""
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        # Client address and scheme from the proxies; the Host stays the one the proxy passes on (checked
        # against TRUSTED_HOSTS), never an X-Forwarded-Host a client could have added.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    # First of all the hooks (CSRFProtect's was registered before): a request refused early still has its id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.before_request(_refuse_nul)
    app.after_request(_set_headers)
