"""The sandbox's settings, read from the environment (every key starts with XCOVER_SANDBOX_)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

# The documented demo credentials: fine on a laptop, refused in production.
DEMO_PARTNER_CODE = "DEMO1"
DEMO_API_KEY = "demo-api-key"
DEMO_API_SECRET = "demo-api-secret"
DEMO_CREDENTIALS = {
    "XCOVER_SANDBOX_PARTNER_CODE": DEMO_PARTNER_CODE,
    "XCOVER_SANDBOX_API_KEY": DEMO_API_KEY,
    "XCOVER_SANDBOX_API_SECRET": DEMO_API_SECRET,
}
# A WSGI environ key a host application sets on requests it hands over in-process (no socket): the
# links in those answers are then root-relative, so a browser on the host's pages can follow them.
INPROCESS_ENVIRON_KEY = "xcover.inprocess"


class ConfigError(RuntimeError):
    """The sandbox refuses to start with these settings."""


def _env(name: str, default: str = "") -> str:
    """Read a text setting, stripped."""
    return os.environ.get(name, "").strip() or default


def _bool(name: str, default: bool) -> bool:
    """Read a yes/no setting."""
    raw = _env(name)
    return default if not raw else raw.lower() in {"1", "true", "yes", "on"}


def _number(name: str, default: float) -> float:
    """Read a finite decimal setting."""
    raw = _env(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name} must be a finite number of at least 0")
    return value


def database_url() -> str:
    """XCOVER_SANDBOX_DATABASE_URL, else a SQLite file in instance/."""
    url = _env("XCOVER_SANDBOX_DATABASE_URL")
    if not url:
        INSTANCE.mkdir(exist_ok=True)
        return f"sqlite:///{INSTANCE / 'xcover-sandbox.sqlite'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load() -> dict[str, Any]:
    """Build the sandbox's configuration from the environment."""
    # Its own switch; a deployment that only says PORTAL_ENV=production gets production rules here too.
    env = (_env("XCOVER_SANDBOX_ENV") or _env("PORTAL_ENV") or "development").lower()
    return {
        # "production" refuses the demo credentials and the fault switch.
        "XCOVER_SANDBOX_ENV": env,
        # SQLite file by default; a postgresql:// URL when several processes or hosts share one sandbox.
        "SQLALCHEMY_DATABASE_URI": database_url(),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # The one partner this sandbox knows, with the key and secret its requests must be signed with.
        "XCOVER_SANDBOX_PARTNER_CODE": _env("XCOVER_SANDBOX_PARTNER_CODE", DEMO_PARTNER_CODE),
        "XCOVER_SANDBOX_API_KEY": _env("XCOVER_SANDBOX_API_KEY", DEMO_API_KEY),
        "XCOVER_SANDBOX_API_SECRET": _env("XCOVER_SANDBOX_API_SECRET", DEMO_API_SECRET),
        # Seconds a request's Date may differ from the server clock (XCover's real skew is unknown).
        "XCOVER_SANDBOX_CLOCK_SKEW": _number("XCOVER_SANDBOX_CLOCK_SKEW", 300.0),
        # Serve POST/GET/DELETE partners/{code}/_faults; on by default except in production, where it is refused.
        "XCOVER_SANDBOX_FAULTS_ENABLED": _bool("XCOVER_SANDBOX_FAULTS_ENABLED", env != "production"),
        # Where to post signed BOOKING_* webhooks, with the key and secret the partner chose.
        "XCOVER_SANDBOX_WEBHOOK_URL": _env("XCOVER_SANDBOX_WEBHOOK_URL"),
        "XCOVER_SANDBOX_WEBHOOK_KEY": _env("XCOVER_SANDBOX_WEBHOOK_KEY"),
        "XCOVER_SANDBOX_WEBHOOK_SECRET": _env("XCOVER_SANDBOX_WEBHOOK_SECRET"),
        # Seconds between webhook attempts (3 attempts at most; the wait grows by attempt).
        "XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY": _number("XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY", 2.0),
        # Absolute origin for the wording and certificate links it hands out; empty uses the request's.
        "XCOVER_SANDBOX_PUBLIC_URL": _env("XCOVER_SANDBOX_PUBLIC_URL").rstrip("/"),
        # Trust X-Forwarded-* from this many proxies when served alone behind one.
        "XCOVER_SANDBOX_PROXY_COUNT": int(_number("XCOVER_SANDBOX_PROXY_COUNT", 0)),
        # Largest request body accepted, in bytes.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # A failure inside the sandbox answers 500 as a real server does, also under TESTING.
        "PROPAGATE_EXCEPTIONS": False,
    }


def check(config: Mapping[str, Any]) -> None:
    """Refuse settings that would expose the sandbox: in production no demo credentials and no faults."""
    if config["XCOVER_SANDBOX_ENV"] != "production":
        return
    demo = [name for name, value in DEMO_CREDENTIALS.items() if config[name] == value]
    if demo:
        raise ConfigError(
            f"XCOVER_SANDBOX_ENV is production: set your own {', '.join(demo)} (the demo credentials are public)"
        )
    if config["XCOVER_SANDBOX_FAULTS_ENABLED"]:
        raise ConfigError("XCOVER_SANDBOX_FAULTS_ENABLED is never allowed in production")
