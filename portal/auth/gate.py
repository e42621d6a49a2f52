"""The one gate before every page: where a browser may go while it is locked, showing the customer, or on a temporary
password, and when an idle session locks.

The checks run in this order, and the first that applies decides (docs/quick-switch.md, docs/sale.md):

1. static files and the health check always pass;
2. a locked iPad stays on its names screen (quick switch);
3. a session showing the customer the options stays on the customer view, a lock of its own: a customer reading it
   is never sent to the names screen;
4. a person signed in with a temporary password chooses their own before anything else;
5. a session left idle too long, whose person could come back with a PIN, locks the iPad.
"""

from __future__ import annotations

from flask import Flask, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..sales.customer_views import LOCK as CUSTOMER_VIEW
from .views import LOCKED, lock_if_idle

ALWAYS = frozenset({"static", "main.healthz"})
# What a locked iPad may still reach: the names, the PIN pad, a password sign-in ("Someone else").
LOCKED_ALLOWS = ALWAYS | {"auth.locked", "auth.unlock", "auth.sign_in", "auth.sign_out"}
# What the customer view may still reach: itself, the customer's tap, the associate's unlock. Signing out is allowed
# too: it ends the session, so the customer reaches nothing more (as after 5 wrong unlocks).
CUSTOMER_VIEW_ALLOWS = ALWAYS | {"customer.view", "customer.acknowledge", "customer.unlock", "auth.sign_out"}
# What a person signed in with a temporary password may still reach: everything else leads to choosing one.
TEMPORARY_ALLOWS = ALWAYS | {"auth.change_password", "auth.sign_out", "auth.sign_in"}


def screen_gate() -> Response | None:
    """Send this request where the browser's state allows it to go, or let it through (None)."""
    endpoint = request.endpoint
    if endpoint in ALWAYS:
        return None
    if session.get(LOCKED) is not None:
        return None if endpoint in LOCKED_ALLOWS else redirect(url_for("auth.locked"))
    if session.get(CUSTOMER_VIEW) is not None:
        if current_user.is_authenticated:
            return None if endpoint in CUSTOMER_VIEW_ALLOWS else redirect(url_for("customer.view"))
        session.pop(CUSTOMER_VIEW, None)  # the session ended (idle, signed out elsewhere): nothing left to guard
    if not current_user.is_authenticated or endpoint == "auth.sign_out":
        return None
    if current_user.must_change_password and endpoint not in TEMPORARY_ALLOWS:
        return redirect(url_for("auth.change_password"))
    return lock_if_idle()


def init_app(app: Flask) -> None:
    """Check the gate before every request, after the request's own set-up (its id, the CSRF check)."""
    app.before_request(screen_gate)
