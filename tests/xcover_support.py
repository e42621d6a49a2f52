"""The XCover sandbox served alone over real HTTP on a free port, and helpers for XCover tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

import xcover_sandbox
from portal import config as portal_config
from portal.xcover import XCoverClient, build_client
from xcover_sandbox import control
from xcover_sandbox.extensions import db

FAST_RETRIES = {
    "XCOVER_RETRY_BASE_DELAY": 0.01,
    "XCOVER_RETRY_MAX_DELAY": 0.02,
    "XCOVER_TOTAL_BUDGET": 8.0,
    "XCOVER_READ_TIMEOUT": 2.0,
    "XCOVER_BOOKING_READ_TIMEOUT": 2.0,
    "XCOVER_AUTH_ALGORITHM": "hmac-sha256",
}
CLIENT_KEYS = (
    "XCOVER_AUTH_ALGORITHM",
    "XCOVER_CONNECT_TIMEOUT",
    "XCOVER_READ_TIMEOUT",
    "XCOVER_BOOKING_READ_TIMEOUT",
    "XCOVER_TOTAL_BUDGET",
    "XCOVER_RETRY_MAX_ATTEMPTS",
    "XCOVER_RETRY_BASE_DELAY",
    "XCOVER_RETRY_MAX_DELAY",
)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveSandbox:
    """The standalone sandbox app (as `gunicorn xcover_sandbox.wsgi:app` serves it) on a threaded werkzeug server.

    Its paths are at the root: the portal's client reaches it with XCOVER_BASE_URL set to `url`.
    """

    def __init__(self, database_url: str, overrides: dict[str, Any] | None = None) -> None:
        self.app: Flask = xcover_sandbox.create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, **(overrides or {})}
        )
        self.partner = self.app.config["XCOVER_SANDBOX_PARTNER_CODE"]
        self.key = self.app.config["XCOVER_SANDBOX_API_KEY"]
        self.secret = self.app.config["XCOVER_SANDBOX_API_SECRET"]
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.server.daemon_threads = False  # so stop() waits for requests still running (e.g. a slow fault)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        defaults = portal_config.load()
        self.client_config = {
            **{k: defaults[k] for k in CLIENT_KEYS},
            **FAST_RETRIES,
            "XCOVER_BASE_URL": self.url,
            "XCOVER_PARTNER_CODE": self.partner,
            "XCOVER_API_KEY": self.key,
            "XCOVER_API_SECRET": self.secret,
        }
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.sleeps: list[float] = []

    def client(self, **config: Any) -> XCoverClient:
        """A fresh portal client over HTTP whose backoff sleeps are recorded (and still taken)."""
        client = build_client({**self.client_config, **config})
        real_sleep = client.sleep

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            real_sleep(seconds)

        client.sleep = sleep
        return client

    def fault(self, operation: str, mode: str, count: int = 1, seconds: float = 0.0) -> None:
        """Inject a sandbox fault for the configured partner."""
        with self.app.app_context():
            control.inject_fault(self.partner, operation, mode, count, seconds)

    def query(self, statement: Any) -> list[Any]:
        """Run a read against the sandbox's database."""
        with self.app.app_context():
            return list(db.session.execute(statement))

    def execute(self, statement: Any) -> None:
        """Run a write against the sandbox's database and commit it."""
        with self.app.app_context():
            db.session.execute(statement)
            db.session.commit()

    def stop(self) -> None:
        """Shut the server down and release the database."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        with self.app.app_context():
            db.engine.dispose()


@pytest.fixture
def live_sandbox(sandbox_database_url: str) -> Iterator[LiveSandbox]:
    """A live standalone sandbox on a fresh database."""
    server = LiveSandbox(sandbox_database_url)
    yield server
    server.stop()


def quote_request(*items: dict[str, Any], currency: str = "GBP", country: str = "GB") -> dict[str, Any]:
    """A quote request; each item defaults to a 24-month warranty on an £899.99 TV bought today."""
    base = {
        "policy_type": "product_warranty",
        "policy_type_version": 1,
        "product_name": "OLED TV 55",
        "product_category": "electronics",
        "product_price": 899.99,
        "product_brand": "Sony",
        "product_model": "XR-55A80L",
        "product_sku": "SKU-55",
        "quantity": 1,
        "cover_term_months": 24,
        "purchase_date": date.today().isoformat(),
    }
    return {
        "currency": currency,
        "customer_country": country,
        "customer_language": "en",
        "request": [{**base, **item} for item in (items or ({},))],
    }


POLICYHOLDER = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+447700900123",
    "address1": "1 High Street",
    "city": "London",
    "region": "London",
    "postcode": "SW1A 1AA",
    "country": "GB",
}


def booking_payload(*quote_ids: str, **holder: Any) -> dict[str, Any]:
    """A booking body for the given quotes."""
    return {"quotes": [{"id": q} for q in quote_ids], "policyholder": {**POLICYHOLDER, **holder}}
