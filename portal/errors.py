"""Error pages in the portal's own layout."""

from __future__ import annotations

from flask import Flask, Response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, SecurityError

from .extensions import db
from .i18n import N_

MESSAGES = {
    400: (N_("Something was wrong with that request"), N_("Go back and try again.")),
    403: (N_("Not allowed"), N_("Your role does not allow this. Ask your store manager if you need it.")),
    404: (N_("Page not found"), N_("The page may have moved, or the link was mistyped.")),
    405: (N_("Not allowed"), N_("That action cannot be done this way.")),
    413: (N_("Too much data"), N_("That request was larger than the portal accepts.")),
    500: (
        N_("Something went wrong"),
        N_("Nothing you typed was sent. Try again; if it keeps happening, tell your manager."),
    ),
}


def _render(code: int, title: str, message: str) -> tuple[str, int]:
    """Render an error page with the given status."""
    return render_template("errors/error.html", code=code, heading=title, message=message, title=title), code


def register_error_handlers(app: Flask) -> None:
    """Render 400, 403, 404, 405, 413 and 500 in the layout."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return _render(400, N_("This form expired"), N_("Go back, reload the page and submit again."))

    @app.errorhandler(SecurityError)
    def untrusted_host(error: SecurityError) -> Response:
        # The layout's links are built from the Host header, the very thing refused: answer in plain text.
        return Response("Bad request: this portal is not served at that address.\n", 400, mimetype="text/plain")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int, list[tuple[str, str]]] | HTTPException:
        code = error.code or 500
        if code not in MESSAGES:
            return error
        # Keep the headers the error carries (a 405's Allow), not its plain-text Content-Type.
        headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
        return (*_render(code, *MESSAGES[code]), headers)

    @app.errorhandler(500)
    def server_error(error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return _render(500, *MESSAGES[500])
