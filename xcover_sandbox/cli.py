"""The sandbox's commands: inject or clear faults, purge old idempotency keys.

The same group serves `flask --app xcover_sandbox.wsgi ...`, `python -m xcover_sandbox ...` and, in the
portal stack, `flask xcover-sandbox ...`; each command runs in the sandbox's own app context.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask

from . import control


def commands(app: Flask) -> click.Group:
    """The command group bound to one sandbox app."""

    def faults_allowed() -> None:
        """Faults follow the same switch as the HTTP endpoint (never in production)."""
        if not app.config["XCOVER_SANDBOX_FAULTS_ENABLED"]:
            raise click.ClickException("faults are switched off (XCOVER_SANDBOX_FAULTS_ENABLED)")

    @click.group("xcover-sandbox")
    def group() -> None:
        """Control the XCover sandbox."""

    @group.command("fault")
    @click.argument("operation")
    @click.argument("mode", type=click.Choice(control.MODES))
    @click.option("--count", default=1, show_default=True, help="How many calls misbehave.")
    @click.option(
        "--seconds",
        default=0.0,
        show_default=True,
        help="Latency, Retry-After, or the delay after applying (timeout_after_apply).",
    )
    def fault(operation: str, mode: str, count: int, seconds: float) -> None:
        """Make the next COUNT calls of OPERATION (or *) misbehave."""
        faults_allowed()
        with app.app_context():
            try:
                control.inject_fault(app.config["XCOVER_SANDBOX_PARTNER_CODE"], operation, mode, count, seconds)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(f"Next {count} {operation} call(s): {mode}.")

    @group.command("clear-faults")
    def clear() -> None:
        """Remove every injected fault."""
        with app.app_context():
            click.echo(f"Removed {control.clear_faults()} fault(s).")

    @group.command("purge")
    def purge() -> None:
        """Delete idempotency keys older than 48 hours."""
        with app.app_context():
            click.echo(f"Purged {control.purge(datetime.now(UTC))} key(s).")

    return group
