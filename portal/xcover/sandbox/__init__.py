"""The embedded XCover sandbox: a faithful local XCover under /sandbox/xcover (see README)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click
from flask import Flask

from ...extensions import csrf


def init_app(app: Flask) -> None:
    """Mount the sandbox blueprint (CSRF-exempt: partners sign requests instead) and its CLI."""
    from . import models  # noqa: F401  (tables known to the metadata)
    from .views import bp
    csrf.exempt(bp)
    app.register_blueprint(bp)
    register_json_errors(app)
    register_commands(app)


def register_json_errors(app: Flask) -> None:
    """Answer unknown API paths and methods with JSON as XCover does; other pages keep the portal's handler."""
    import json

    from flask import request
    from werkzeug.exceptions import HTTPException

    from .views import bp, json_response

    def routing_error(error: HTTPException) -> Any:
        if request.path.startswith(f"{bp.url_prefix}/partners/"):
            headers = {"Allow": ", ".join(error.valid_methods)} if getattr(error, "valid_methods", None) else None
            kind = "not_found" if error.code == 404 else "method_not_allowed"
            return json_response(error.code or 500, json.dumps({"type": kind, "message": error.name, "errors": {}}),
                                 headers)
        fallback = app.error_handler_spec.get(None, {}).get(None, {}).get(HTTPException)
        return fallback(error) if fallback else error

    app.register_error_handler(404, routing_error)
    app.register_error_handler(405, routing_error)


def register_commands(app: Flask) -> None:
    """`flask xcover-sandbox ...`: inject or clear faults, purge old idempotency keys."""
    from . import control

    @app.cli.group("xcover-sandbox")
    def group() -> None:
        """Control the embedded XCover sandbox."""

    @group.command("fault")
    @click.argument("operation")
    @click.argument("mode", type=click.Choice(control.MODES))
    @click.option("--count", default=1, show_default=True, help="How many calls misbehave.")
    @click.option("--seconds", default=0.0, show_default=True,
                  help="Latency, Retry-After, or the delay after applying (timeout_after_apply).")
    def fault(operation: str, mode: str, count: int, seconds: float) -> None:
        """Make the next COUNT calls of OPERATION (or *) misbehave."""
        try:
            control.inject_fault(app.config["XCOVER_PARTNER_CODE"], operation, mode, count, seconds)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Next {count} {operation} call(s): {mode}.")

    @group.command("clear-faults")
    def clear() -> None:
        """Remove every injected fault."""
        click.echo(f"Removed {control.clear_faults()} fault(s).")

    @group.command("purge")
    def purge() -> None:
        """Delete idempotency keys older than 48 hours."""
        click.echo(f"Purged {control.purge(datetime.now(timezone.utc))} key(s).")
