"""Store Cover Portal: the application factory."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, session
from markupsafe import Markup
from sqlalchemy.engine import Engine

from . import config
from .extensions import csrf, db, login_manager, migrate

TIMELINE_ITEMS_KEPT = 8192  # drawn timeline entries kept per process (a few hundred bytes each)


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create and configure the portal."""
    app = Flask(
        __name__,
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
        instance_path=str(config.INSTANCE),
    )
    app.config.from_mapping(config.load())
    if overrides:
        app.config.from_mapping(overrides)
    config.check_production(app.config)
    check_item_template(app)
    configure_logging(app)
    register_extensions(app)
    register_security(app)
    register_blueprints(app)
    register_xcover(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def check_item_template(app: Flask) -> None:
    """Refuse to start with an XCover item template that names unknown fields or is not a JSON object."""
    from .sales.item_template import TemplateError, configured

    try:
        configured(app.config)
    except TemplateError as exc:
        raise RuntimeError(str(exc)) from None


def configure_logging(app: Flask) -> None:
    """Log structured JSON lines to stdout."""
    from .logs import configure_logging as _configure

    _configure(app)


@sa.event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Turn on WAL, foreign keys and a busy timeout for every SQLite connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, CSRF, sign-in throttling, compression, translations and sign-in to the app."""
    url, options = app.config["SQLALCHEMY_DATABASE_URI"], dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    if url.startswith("sqlite"):
        # A file on this host never drops a connection: no test query before every request's first statement.
        options["pool_pre_ping"] = False
        if ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/"):
            options.pop("pool_size", None)  # one connection shared, no pool to size
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    csrf.init_app(app)
    from .auth import throttle

    throttle.init_app(app)  # after CSRF: a forged post is refused before it counts against an address
    from . import i18n, wire

    wire.init_app(app)
    i18n.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = i18n.N_("Sign in to continue.")
    login_manager.login_message_category = "info"
    # Sessions are checked against the database on every request instead (see load_user).
    login_manager.session_protection = None

    from sqlalchemy.orm import joinedload

    from .auth.service import session_is_valid
    from .models import User

    # Built once (building an ORM statement costs more than running it), with the store: every page shows it.
    # The PIN too: every page's idle-lock check asks for it (auth.pins.pin_of).
    by_id = (
        sa.select(User).options(joinedload(User.store), joinedload(User.pin)).where(User.id == sa.bindparam("user_id"))
    )

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        """Load the signed-in user if the session is still valid for them."""
        # The activity this request follows, before session_is_valid notes this one (the idle lock reads it).
        g.seen_before = session.get("seen_at")
        user = db.session.scalar(by_id, {"user_id": int(user_id)}) if user_id.isdigit() else None
        if user is None or not session_is_valid(user, session):
            session.clear()
            return None
        return user


def register_security(app: Flask) -> None:
    """Install request ids and security headers."""
    from . import security

    security.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Mount the portal's areas."""
    from .admin.catalogue_views import bp as catalogue_bp
    from .admin.views import bp as admin_bp
    from .audit.views import bp as audit_bp
    from .auth import gate
    from .auth.views import bp as auth_bp
    from .main.views import bp as main_bp
    from .policies import correction_views  # noqa: F401  (importing it adds its routes to policies_bp)
    from .policies.views import bp as policies_bp
    from .policies.views import hooks as webhooks_bp
    from .reports.views import bp as reports_bp
    from .sales import booking_views  # noqa: F401  (importing it adds its routes to sales_bp)
    from .sales.customer_views import bp as customer_bp
    from .sales.views import bp as sales_bp
    from .urls import DatabaseIdConverter

    app.url_map.converters["int"] = DatabaseIdConverter
    app.register_blueprint(auth_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(sales_bp)
    app.register_blueprint(customer_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(policies_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(reports_bp)
    gate.init_app(app)  # after the blueprints: the gate redirects to their endpoints


def register_xcover(app: Flask) -> None:
    """Decide whether the XCover sandbox is mounted beside the portal (app.py does the mounting)."""
    from .xcover import register_xcover as _register

    _register(app)


def register_errorhandlers(app: Flask) -> None:
    """Render error pages in the portal layout."""
    from .errors import register_error_handlers

    register_error_handlers(app)


def register_template_helpers(app: Flask) -> None:
    """Expose helpers that every template uses: the vocabularies and the store-locale filters."""
    from flask import g
    from jinja2 import pass_context

    from . import i18n, intl, phones
    from .vocab import AuditAction, AuditResult, Role

    app.jinja_env.globals.update(AuditAction=AuditAction, AuditResult=AuditResult, Role=Role)

    @pass_context
    def money(context: Any, amount: Any, currency: str, store: Any = None) -> str:
        """{{ amount|money(currency) }}: the amount as the current store's locale writes it."""
        return intl.money(amount, currency, store or context.get("current_store"), locale=g.get("portal_locale"))

    @pass_context
    def store_time(context: Any, moment: Any, store: Any = None, fmt: str = "datetime") -> str:
        """{{ moment|store_time }}: a time in the store's zone and locale (fmt: time, date, datetime, seconds)."""
        return intl.store_time(moment, store or context.get("current_store"), fmt, locale=g.get("portal_locale"))

    @pass_context
    def phone(context: Any, number: str | None) -> str:
        """{{ sale.phone|phone }}: a stored E.164 number as the current store's country writes it."""
        store = context.get("current_store")
        return phones.for_display(number, store.phone_country if store is not None else "")

    @pass_context
    def percent(context: Any, fraction: Any, store: Any = None, digits: int = 1) -> str:
        """{{ rate|percent }}: a fraction as the current store's locale writes a percentage (a dash for none)."""
        return intl.percent(fraction, store or context.get("current_store"), digits)

    @pass_context
    def number(context: Any, value: Any, store: Any = None) -> str:
        """{{ count|number }}: a count as the current store's locale writes it."""
        return intl.number(value, store or context.get("current_store"))

    from .xcover.html import content_disclaimer, markup

    # XCover's words are HTML: shown cleaned to an allow-list, never as escaped tags.
    app.jinja_env.filters.update(
        money=money,
        store_time=store_time,
        phone=phone,
        percent=percent,
        number=number,
        xcover_html=markup,
        xcover_disclaimer=content_disclaimer,
    )

    drawn: dict[tuple[Any, ...], Markup] = {}

    @pass_context
    def timeline_item(context: Any, event: Any) -> Markup:
        """{{ timeline_item(event) }}: one audit event as a timeline entry, drawn once per event and store.

        An event never changes once recorded (its hash covers every field it shows), so its entry is kept by hash
        and by what formatting its time and its words depend on (the reader's language); debug mode, where templates
        change, draws it every time.
        """
        store = context.get("current_store")
        key = (event.hash, intl.formatting_key(store), str(i18n.current_locale()))
        html = None if app.debug else drawn.get(key)
        if html is None:
            item = app.jinja_env.get_template("audit/_timeline_item.html")
            html = Markup(item.render(event=event, current_store=store))  # nosec B704 # an autoescaped template's output
            if len(drawn) >= TIMELINE_ITEMS_KEPT:
                drawn.clear()
            drawn[key] = html
        return html

    app.jinja_env.globals["timeline_item"] = timeline_item

    @app.context_processor
    def inject_globals() -> dict[str, Any]:
        from flask_login import current_user

        store = current_user.store if current_user.is_authenticated else None
        return {"current_store": store, "portal_env": app.config["PORTAL_ENV"]}


def register_commands(app: Flask) -> None:
    """Add the flask CLI commands."""
    from .cli import register_commands as _register

    _register(app)
