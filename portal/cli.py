"""Flask commands: database, stores, users and demo data."""

from __future__ import annotations

import os
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup
from flask_migrate import upgrade

from .admin.catalogue import seed as seed_catalogue
from .audit.verify import verify_chains
from .extensions import db
from .models import Store, User
from .stores import InvalidInput, create_store, create_user
from .vocab import Role, SaleStatus

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")

DEMO_PASSWORD = "counter-demo-2026"
DEMO_STORES = [
    ("LDN01", "Demo Electronics London", "GB", "GBP", "en", "Europe/London", "ldn"),
    ("SYD01", "Demo Electronics Sydney", "AU", "AUD", "en", "Australia/Sydney", "syd"),
]


def init_db() -> None:
    """Bring the schema up to date and seed the offer catalogue on an empty database; never drops anything."""
    # "heads": a feature may add its migration as a branch before the branches are merged.
    upgrade(directory=MIGRATIONS, revision="heads")
    seed_catalogue()


def seed_demo() -> list[tuple[str, str, str]]:
    """Create the demo stores and people unless any data exists; return who was created."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Store)) or db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
    ):
        return []
    created: list[tuple[str, str, str]] = []
    admin = create_user("admin", "Head Office Admin", Role.ADMIN, DEMO_PASSWORD, None)
    created.append((admin.username, Role.ADMIN, "head office"))
    for code, name, country, currency, language, tz, prefix in DEMO_STORES:
        create_store(code, name, country, currency, language, tz, actor=admin)
        people = [
            (f"{prefix}.manager", f"{name.split()[-1]} Manager", Role.MANAGER),
            (f"{prefix}.alex", "Alex Morgan", Role.ASSOCIATE),
            (f"{prefix}.sam", "Sam Patel", Role.ASSOCIATE),
        ]
        for username, display, role in people:
            create_user(username, display, role, DEMO_PASSWORD, code, actor=admin)
            created.append((username, role, code))
    db.session.commit()
    return created


def register_commands(app: Flask) -> None:
    """Attach the portal's commands to the flask CLI."""

    @app.cli.command("init-db")
    def init_db_command() -> None:
        """Create or upgrade the database schema, and seed the offer catalogue once (safe to run again)."""
        init_db()
        click.echo("Database is up to date.")

    @app.cli.command("create-store")
    @click.option("--code", required=True, help="Short store code, e.g. LDN01.")
    @click.option("--name", required=True, help="Store name shown to staff.")
    @click.option("--country", required=True, help="ISO 3166-1 alpha-2 country, e.g. GB.")
    @click.option("--currency", required=True, help="ISO 4217 currency, e.g. GBP.")
    @click.option("--language", default="en", show_default=True, help="ISO 639-1 language.")
    @click.option("--timezone", "tz", required=True, help="IANA time zone, e.g. Europe/London.")
    def create_store_command(code: str, name: str, country: str, currency: str, language: str, tz: str) -> None:
        """Add a store."""
        try:
            store = create_store(code, name, country, currency, language, tz)
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created store {store.code} ({store.name}).")

    @app.cli.command("create-user")
    @click.option("--username", required=True)
    @click.option("--name", "display_name", required=True, help="Full name shown in the portal.")
    @click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
    @click.option("--store", "store_code", default=None, help="Store code (associates and managers).")
    @click.option("--password", default=None, help="Password; else $PORTAL_USER_PASSWORD; else you are prompted.")
    def create_user_command(
        username: str, display_name: str, role: str, store_code: str | None, password: str | None
    ) -> None:
        """Add a person who can sign in."""
        password = (
            password
            or os.environ.get("PORTAL_USER_PASSWORD")
            or click.prompt("Password", hide_input=True, confirmation_prompt=True)
        )
        try:
            user = create_user(username, display_name, role, password, store_code)
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created {user.role} {user.username}.")

    audit = AppGroup("audit", help="The tamper-evident audit log.")
    app.cli.add_command(audit)

    @audit.command("verify")
    @click.option("--store", "store_code", default=None, help="Only this store's chain (default: every chain).")
    @click.option("--head-office", is_flag=True, help="Only head office's chain.")
    def audit_verify_command(store_code: str | None, head_office: bool) -> None:
        """Recompute the hash chains and name the first broken event; exit 1 if any is broken."""
        keys: list[int] | None = None
        if head_office:
            keys = [0]
        elif store_code:
            store_id = db.session.scalar(sa.select(Store.id).where(Store.code == store_code.strip().upper()))
            if store_id is None:
                raise click.BadParameter(f"no store with code {store_code!r}", param_hint="--store")
            keys = [store_id]
        db.session.rollback()
        reports = verify_chains(keys)
        for report in reports:
            click.echo(report.describe())
        if any(not r.ok for r in reports):
            raise SystemExit(1)

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create two demo stores and their people if the database is empty."""
        created = seed_demo()
        if not created:
            click.echo("Data already exists; nothing seeded.")
            return
        click.echo(f"Demo sign-in details (every password: {DEMO_PASSWORD})")
        for username, role, where in created:
            click.echo(f"  {username:<14} {role:<10} {where}")

    xcover = AppGroup("xcover", help="XCover: record the lifecycle against the configured XCover.")
    app.cli.add_command(xcover)

    @xcover.command("record")
    @click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Directory to write into.")
    @click.option("--category", default=None, help="Product category to quote (default: the catalogue's first).")
    @click.option("--price", default="499.00", show_default=True, help="The test product's price.")
    @click.option("--country", default="GB", show_default=True, help="Customer country (ISO 3166-1 alpha-2).")
    @click.option("--currency", default="GBP", show_default=True, help="Currency (ISO 4217).")
    @click.option("--language", default="en", show_default=True, help="Customer language (ISO 639-1).")
    def xcover_record_command(
        out: str, category: str | None, price: str, country: str, currency: str, language: str
    ) -> None:
        """Quote, book, preview and confirm a cancellation, opt out; write each call scrubbed, as the recordings.

        Use staging credentials: this books and cancels a real test policy. Exit 1 if a step failed (what was
        recorded up to it is written all the same).
        """
        from decimal import Decimal, InvalidOperation

        from .sales import catalogue
        from .sales.record import TEST_CUSTOMER, RecordOptions, record
        from .xcover import build_client
        from .xcover.transport import INPROCESS_EXTENSION

        try:
            amount = Decimal(price)
        except InvalidOperation:
            raise click.BadParameter("not a number", param_hint="--price") from None
        chosen = category or next(iter(catalogue.catalogue()), "")
        options = RecordOptions(chosen, amount, country.upper(), currency.upper(), language, {**TEST_CUSTOMER})
        client = build_client(app.config, app.extensions.get(INPROCESS_EXTENSION))
        secrets = [app.config["XCOVER_API_KEY"], app.config["XCOVER_API_SECRET"]]
        result = record(client, out, options, secrets)
        for name, calls in result.calls.items():
            click.echo(f"{name}: {len(calls)} call(s)")
            for call in calls:
                click.echo(f"  {call.method} {call.path} -> {call.status}")
        click.echo(f"Wrote {len(result.files)} file(s), INDEX.txt and README.md to {out}.")
        if result.failed:
            click.echo(f"Stopped at {result.failed}: {result.error}", err=True)
            raise SystemExit(1)

    @app.cli.command("reconcile")
    @click.option(
        "--stale-seconds",
        default=None,
        type=int,
        help="A booking, return or correction in flight longer than this counts as stuck "
        "(default BOOKING_STALE_SECONDS).",
    )
    def reconcile_command(stale_seconds: int | None) -> None:
        """Settle every booking, return and correction whose outcome is unknown, each with its own idempotency key."""
        from .policies import reconcile
        from .sales import booking
        from .xcover import get_client

        limits = booking.deadlines(app.config, stale_seconds)
        settled = 0
        for sale in booking.sales_to_reconcile(limits.stale):
            result = booking.reconcile(sale, None, get_client(), limits)
            line = f"Sale {sale.id} {sale.xcover_ref}: {result.sale.status.label}"
            click.echo(f"{line} ({result.message})" if result.sale.status == SaleStatus.QUOTED else line)
            settled += 1
        for line in reconcile.reconcile(get_client(), limits.stale):
            click.echo(line)
            settled += 1
        if not settled:
            click.echo("Nothing to reconcile.")
