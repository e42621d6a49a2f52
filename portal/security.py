"""Request ids, client addresses, security headers and role checks."""
from __future__ import annotations

import re
import uuid
from functools import wraps
from typing import Any, Callable, TypeVar

from flask import Flask, Response, abort, g, request
from flask_login import current_user
from werkzeug.middleware.proxy_fix import ProxyFix

F = TypeVar("F", bound=Callable[..., Any])

CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


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


def _start_request() -> None:
    """Give every request an id (honouring a sane incoming X-Request-ID) and note the client."""
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.client_ip = request.remote_addr


def _set_headers(response: Response) -> Response:
    """Add the security headers every response carries."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
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
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    app.before_request(_start_request)
    app.after_request(_set_headers)
