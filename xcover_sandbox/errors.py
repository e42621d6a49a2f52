"""Errors the sandbox answers itself, in XCover's JSON shape: unknown paths, wrong methods, its own failures."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db
from .views import error_response

KINDS = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error as JSON (405 with its Allow header) and any failure as a 500."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.code or 500
        allowed = getattr(error, "valid_methods", None)
        headers = {"Allow": ", ".join(allowed)} if code == 405 and allowed else None
        return error_response(code, KINDS.get(code, "error"), error.name, headers)

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> Response:
        # A real server answers 500 and carries on; the transaction of the failed request is dropped.
        db.session.rollback()
        return error_response(500, "server_error", "The sandbox failed to handle this request.")
