"""A faithful local XCover: its own app, database, CLI and pages. It knows nothing of the portal."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config
from .extensions import db

CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create the sandbox: settings, database (tables created on start), routes, errors and commands."""
    app = Flask(__name__, instance_path=str(config.INSTANCE))
    app.config.from_mapping(config.load())
    if overrides:
        app.config.from_mapping(overrides)
    config.check(app.config)
    if app.config["XCOVER_SANDBOX_PROXY_COUNT"]:
        n = app.config["XCOVER_SANDBOX_PROXY_COUNT"]
        # X-Forwarded-Host is never believed, as in the portal: the proxy passes Host through.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    db.init_app(app)
    with app.app_context():
        sa.event.listen(db.engine, "connect", _sqlite_pragmas)
        create_tables()

    from .cli import commands
    from .errors import register_error_handlers
    from .views import bp, faults_bp

    app.register_blueprint(bp)
    if app.config["XCOVER_SANDBOX_FAULTS_ENABLED"]:
        app.register_blueprint(faults_bp)
    register_error_handlers(app)
    app.after_request(_headers)
    for command in commands(app).commands.values():
        app.cli.add_command(command)
    return app


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL and a busy timeout, so several worker processes can share one SQLite file."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


def create_tables(attempts: int = 3) -> None:
    """Create the sandbox's tables if missing (its schema is create_all, not migrations: it holds test data).

    Worker processes starting together may race to create them; the loser sees them on its next look.
    """
    from . import models  # noqa: F401  (the tables, on the sandbox's own metadata)

    for attempt in range(1, attempts + 1):
        try:
            db.create_all()
            return
        except sa.exc.DBAPIError:
            db.session.rollback()
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)


def _headers(response: Response) -> Response:
    """Security headers; its pages carry customer data and tokens, so nothing is cached."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
