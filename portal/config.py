"""Settings read from the environment, one place for every key."""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
# Seconds a booking request may take beyond the XCover client's whole-call budget (saving, audit): after the
# budget and this margin no request of ours can still be booking, so a check may settle the sale.
BOOKING_MARGIN_SECONDS = 5
# The sandbox's published demo credentials: the development default, refused in production.
DEMO_XCOVER = {"XCOVER_PARTNER_CODE": "DEMO1", "XCOVER_API_KEY": "demo-api-key", "XCOVER_API_SECRET": "demo-api-secret"}


def _bool(name: str, default: bool) -> bool:
    """Read a yes/no environment variable."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    """Read an integer environment variable."""
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _float(name: str, default: float) -> float:
    """Read a decimal environment variable."""
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _json(name: str) -> Any:
    """Read a JSON environment variable (None when unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} is not valid JSON: {exc}") from None


def _dev_secret_key() -> str:
    """Return a development secret kept in instance/, generating it on first use."""
    INSTANCE.mkdir(exist_ok=True)
    path = INSTANCE / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def database_url() -> str:
    """Return the SQLAlchemy URL: DATABASE_URL, else SQLite in instance/."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'portal.db'}"
    # Heroku-style URLs name the scheme "postgres"; SQLAlchemy wants the psycopg 3 driver named.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to run in production on the sandbox: a real https XCOVER_BASE_URL and our own credentials."""
    if config["PORTAL_ENV"] != "production":
        return
    if not str(config.get("XCOVER_BASE_URL") or "").startswith("https://"):
        raise RuntimeError(
            "XCOVER_BASE_URL must be set to XCover's https:// API when PORTAL_ENV=production "
            "(the sandbox is not used in production)"
        )
    demo = [name for name, value in DEMO_XCOVER.items() if config.get(name) == value]
    if demo:
        raise RuntimeError(
            f"set {', '.join(demo)} to the credentials XCover issued when PORTAL_ENV=production "
            "(the sandbox's demo values are public)"
        )


def trusted_hosts(production: bool) -> list[str] | None:
    """Return the Host names the portal answers to: PORTAL_TRUSTED_HOSTS, else SERVER_NAME's, else any (development)."""
    names = [name.strip() for name in os.environ.get("PORTAL_TRUSTED_HOSTS", "").split(",") if name.strip()]
    server_name = os.environ.get("SERVER_NAME", "").strip()
    if not names and server_name:
        names = [server_name]
    if names:
        return names
    if production:
        raise RuntimeError("PORTAL_TRUSTED_HOSTS (or SERVER_NAME) must be set when PORTAL_ENV=production")
    return None


def load() -> dict[str, Any]:
    """Build the configuration mapping from the environment."""
    env = os.environ.get("PORTAL_ENV", "development").strip().lower()
    production = env == "production"
    budget = _float("XCOVER_TOTAL_BUDGET", 18.0)
    secret = os.environ.get("SECRET_KEY", "").strip()
    if not secret:
        if production:
            raise RuntimeError("SECRET_KEY must be set when PORTAL_ENV=production")
        secret = _dev_secret_key()
    return {
        # "production" makes SECRET_KEY mandatory and cookies Secure; anything else is development.
        "PORTAL_ENV": env,
        # Signs session cookies and CSRF tokens; a development key is generated into instance/.
        "SECRET_KEY": secret,
        # SQLite file by default; a postgresql:// URL for a chain of stores (several instances).
        "SQLALCHEMY_DATABASE_URI": database_url(),
        # Reconnect cleanly after a database restart or an idle connection drop (PostgreSQL; SQLite needs no check).
        # Connections kept open per worker process: at least its threads (GUNICORN_THREADS), or every request
        # past the pool's size opens a connection of its own and closes it again.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "pool_size": _int("DATABASE_POOL_SIZE", 10)},
        # Minutes without a request after which a signed-in session ends (shared iPads).
        "IDLE_TIMEOUT_MINUTES": _int("IDLE_TIMEOUT_MINUTES", 15),
        # Seconds between two notes of a session's last activity: a request within it sends no new cookie, and
        # the idle limit may end a session up to this much early.
        "SESSION_ACTIVITY_STEP_SECONDS": _int("SESSION_ACTIVITY_STEP_SECONDS", 60),
        # Hours after sign-in after which a session ends whatever the activity.
        "ABSOLUTE_SESSION_HOURS": _int("ABSOLUTE_SESSION_HOURS", 12),
        # Quick switch (docs/quick-switch.md). Seconds without a tap after which the iPad locks to the names screen
        # (for a person who could unlock again with their PIN on it).
        "LOCK_IDLE_SECONDS": _int("LOCK_IDLE_SECONDS", 120),
        # Hours after a person's last password sign-in on a device during which their PIN unlocks that device.
        "QUICK_SWITCH_HOURS": _int("QUICK_SWITCH_HOURS", 12),
        # Wrong PINs in a row after which the PIN is blocked until the person signs in with their password.
        "PIN_MAX_FAILURES": _int("PIN_MAX_FAILURES", 5),
        # The device cookie (a signed random id; HttpOnly, SameSite=Lax, Secure like the session cookie) and its days.
        "DEVICE_COOKIE_NAME": os.environ.get("DEVICE_COOKIE_NAME", "portal_device"),
        "DEVICE_COOKIE_DAYS": _int("DEVICE_COOKIE_DAYS", 365),
        # Failed sign-ins in a row, to one account from one client address, that lock that address out of it.
        "LOCKOUT_THRESHOLD": _int("LOCKOUT_THRESHOLD", 10),
        # Minutes that address stays locked out of the account.
        "LOCKOUT_MINUTES": _int("LOCKOUT_MINUTES", 5),
        # Failed sign-ins in a row to one account from any addresses that close it to unfamiliar addresses.
        "ACCOUNT_LOCKOUT_THRESHOLD": _int("ACCOUNT_LOCKOUT_THRESHOLD", 100),
        # Minutes the account stays closed to addresses it has not signed in from within KNOWN_ADDRESS_DAYS.
        "ACCOUNT_LOCKOUT_MINUTES": _int("ACCOUNT_LOCKOUT_MINUTES", 60),
        # Days a successful sign-in keeps an address familiar to the account (so an account-wide lock spares it).
        "KNOWN_ADDRESS_DAYS": _int("KNOWN_ADDRESS_DAYS", 30),
        # Failed sign-ins allowed per client address (IPv6: per /64), in Flask-Limiter's notation.
        "SIGN_IN_RATE_LIMIT": os.environ.get("SIGN_IN_RATE_LIMIT", "20 per minute;200 per hour"),
        # Where the per-address counts live: memory:// (per worker process), or redis://host:6379/0 shared by
        # every worker and instance (needs the redis package).
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # When that storage is unreachable, count in each worker's memory instead of failing sign-ins.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        # Password checks (argon2) one worker process runs at once; more sign-ins wait briefly, then get a 429.
        "SIGN_IN_CONCURRENCY": _int("SIGN_IN_CONCURRENCY", 1),
        # More checks at once per worker kept for sign-ins from an address the account signed in from lately.
        "SIGN_IN_FAMILIAR_CONCURRENCY": _int("SIGN_IN_FAMILIAR_CONCURRENCY", 1),
        # Seconds a sign-in waits for a free password check before it is answered "busy, try again".
        "SIGN_IN_WAIT_SECONDS": _float("SIGN_IN_WAIT_SECONDS", 0.25),
        # Session cookie: HttpOnly and SameSite=Lax always; Secure unless plain-http development.
        "SESSION_COOKIE_NAME": os.environ.get("SESSION_COOKIE_NAME", "portal_session"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
        # CSRF tokens live as long as the absolute session, so a long shift never hits a stale form.
        "WTF_CSRF_TIME_LIMIT": None,
        # Largest request body accepted, in bytes.
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        # Trust X-Forwarded-For and -Proto from this many proxies (0 when gunicorn faces clients directly);
        # gunicorn.conf.py reads it too, and then takes forwarded headers only from FORWARDED_ALLOW_IPS.
        "PROXY_COUNT": _int("PROXY_COUNT", 0),
        # Host names (comma-separated; ".example.com" takes its subdomains) whose Host header is answered, so
        # absolute links (the sale's QR code) never point elsewhere; empty in development means any.
        "TRUSTED_HOSTS": trusted_hosts(production),
        # The portal's own host[:port], when set: also the trusted host if PORTAL_TRUSTED_HOSTS is empty.
        "SERVER_NAME": os.environ.get("SERVER_NAME", "").strip() or None,
        # Argon2id cost: time cost and memory in KiB (defaults meet OWASP ASVS v5 appendix C).
        "ARGON2_TIME_COST": _int("ARGON2_TIME_COST", 3),
        "ARGON2_MEMORY_KIB": _int("ARGON2_MEMORY_KIB", 65536),
        # Log level for the structured stdout log.
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
        # XCover API base URL (up to, not including, /partners/...); empty uses the sandbox in-process (not in
        # production, where it is required).
        "XCOVER_BASE_URL": os.environ.get("XCOVER_BASE_URL", "").strip().rstrip("/"),
        # XCover partner code, API key and secret; the sandbox's demo values apply when unset (not in production).
        "XCOVER_PARTNER_CODE": os.environ.get("XCOVER_PARTNER_CODE", "").strip() or DEMO_XCOVER["XCOVER_PARTNER_CODE"],
        "XCOVER_API_KEY": os.environ.get("XCOVER_API_KEY", "").strip() or DEMO_XCOVER["XCOVER_API_KEY"],
        "XCOVER_API_SECRET": os.environ.get("XCOVER_API_SECRET", "").strip() or DEMO_XCOVER["XCOVER_API_SECRET"],
        # HMAC algorithm for request signing: hmac-sha256, hmac-sha384 or hmac-sha512.
        "XCOVER_AUTH_ALGORITHM": os.environ.get("XCOVER_AUTH_ALGORITHM", "hmac-sha512"),
        # Seconds allowed to open a connection to XCover.
        "XCOVER_CONNECT_TIMEOUT": _float("XCOVER_CONNECT_TIMEOUT", 3.0),
        # Seconds to wait for an answer: booking calls, then every other call.
        "XCOVER_BOOKING_READ_TIMEOUT": _float("XCOVER_BOOKING_READ_TIMEOUT", 10.0),
        "XCOVER_READ_TIMEOUT": _float("XCOVER_READ_TIMEOUT", 5.0),
        # Whole-call budget including retries; keep it below gunicorn's worker timeout (30 s).
        "XCOVER_TOTAL_BUDGET": budget,
        # Offer catalogue as JSON: which policy types and terms to quote per product category
        # ({"electronics": {"label": "Electronics", "offers": [{"policy_type": ..., "cover_term_months": 24}]}}).
        # Empty uses the built-in default that matches the embedded sandbox (portal/sales/catalogue.py).
        "OFFER_CATALOGUE": _json("OFFER_CATALOGUE"),
        # The shape of one retail item in the quote request, as a JSON template over our product fields
        # ({"product": {"title": "{product_name}", "retail_value": "{price}"}, ...}); nests; empty uses today's flat
        # shape. XCover has not confirmed its retail item fields (portal/sales/item_template.py, docs/xcover.md).
        "XCOVER_ITEM_TEMPLATE": _json("XCOVER_ITEM_TEMPLATE"),
        # Older, flat form: our product field -> XCover item key ({"price": "item_value", "sku": null}), applied to
        # the default template; not together with XCOVER_ITEM_TEMPLATE.
        "XCOVER_ITEM_FIELD_MAP": _json("XCOVER_ITEM_FIELD_MAP"),
        # Seconds after which a booking still marked "being sent" counts as stuck and is re-checked: by default
        # the whole-call budget plus BOOKING_MARGIN_SECONDS (23 s), so a sale whose worker died settles within 30 s.
        "BOOKING_STALE_SECONDS": _int("BOOKING_STALE_SECONDS", math.ceil(budget) + BOOKING_MARGIN_SECONDS),
        # Attempts per call (first try included) for calls that are safe to retry.
        "XCOVER_RETRY_MAX_ATTEMPTS": _int("XCOVER_RETRY_MAX_ATTEMPTS", 3),
        # Backoff: the first retry waits about this many seconds, doubling up to the max (jittered).
        "XCOVER_RETRY_BASE_DELAY": _float("XCOVER_RETRY_BASE_DELAY", 0.5),
        "XCOVER_RETRY_MAX_DELAY": _float("XCOVER_RETRY_MAX_DELAY", 4.0),
        # XCover's webhooks (POST /webhooks/xcover): the key and secret we gave XCover for signing them. Unset,
        # every webhook is refused with 401 (and logged).
        "XCOVER_WEBHOOK_KEY": os.environ.get("XCOVER_WEBHOOK_KEY", "").strip(),
        "XCOVER_WEBHOOK_SECRET": os.environ.get("XCOVER_WEBHOOK_SECRET", "").strip(),
        # Seconds a webhook's signed Date may differ from our clock (a replayed old delivery is refused).
        "XCOVER_WEBHOOK_MAX_SKEW": _float("XCOVER_WEBHOOK_MAX_SKEW", 300.0),
        # Mount the XCover sandbox (built by app.py) under /sandbox/xcover; unset means "only when XCOVER_BASE_URL is
        # empty", and never in production unless set to 1.
        "XCOVER_SANDBOX_ENABLED": _bool("XCOVER_SANDBOX_ENABLED", False)
        if os.environ.get("XCOVER_SANDBOX_ENABLED", "").strip()
        else None,
    }
