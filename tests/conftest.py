"""Shared fixtures: app, client, runner, people, sign-in helper, databases."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from hypothesis import HealthCheck, settings

from portal.extensions import db
from portal.models import Store, User
from portal.stores import create_store, create_user
from stack import create_stack
from xcover_sandbox.extensions import db as sandbox_db

from . import card_scan, compile_once
from .dbs import FAST_HASHING, PostgresFactory, SqliteFactory, create_sandbox_tables, pg_admin_url
from .sales_fake import FakeXCover
from .xcover_support import live_sandbox  # noqa: F401 (a fixture: importing it here offers it to every test module)

PASSWORD = "correct-horse-battery"

compile_once.install()

# Hypothesis: a few dozen examples per fuzzed form keep the suite fast; HYPOTHESIS_PROFILE=thorough digs deeper.
# Tests that need more (the card-number guard) set their own max_examples.
_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("portal", max_examples=25, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("thorough", max_examples=200, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "portal"))


def pytest_addoption(parser: pytest.Parser) -> None:
    """--xcover-recordings DIR: the recorded XCover traffic the contract tests check (tests/contracts)."""
    parser.addoption(
        "--xcover-recordings",
        default=None,
        help="directory of recorded XCover calls for tests/contracts (default: $XCOVER_RECORDINGS, else the "
        "copy in tests/contracts/recorded)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests marked both_dbs on SQLite and on PostgreSQL."""
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("both_dbs"):
            backends.append("postgresql")
        metafunc.parametrize("db_backend", backends, scope="function")


@pytest.fixture(scope="session")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> SqliteFactory:
    """One migrated SQLite template for the whole run."""
    return SqliteFactory(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def sandbox_sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> SqliteFactory:
    """One SQLite template holding the XCover sandbox's tables."""
    return SqliteFactory(tmp_path_factory.mktemp("sandbox-db"), prepare=create_sandbox_tables)


@pytest.fixture(scope="session")
def postgres_factory() -> Iterator[PostgresFactory]:
    """One migrated PostgreSQL template for the whole run."""
    url = pg_admin_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: TEST_DATABASE_URL is not set")
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (scripts/pg-start.sh starts a server)")
    factory = PostgresFactory(url)
    yield factory
    # A throwaway server (scripts/pg-start.sh) is deleted whole after the run: dropping its hundreds of
    # databases one by one first would only cost time.
    if not os.environ.get("TEST_DATABASE_THROWAWAY"):
        factory.drop_all()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, db_backend: str, sqlite_factory: SqliteFactory) -> str:
    """A fresh, migrated database for one test."""
    if db_backend == "postgresql":
        return request.getfixturevalue("postgres_factory").new()
    return sqlite_factory.new()


@pytest.fixture
def sandbox_database_url(request: pytest.FixtureRequest, db_backend: str, sandbox_sqlite_factory: SqliteFactory) -> str:
    """A fresh database for the XCover sandbox on the portal's kind of server (empty on PostgreSQL)."""
    if db_backend == "postgresql":
        return request.getfixturevalue("postgres_factory").new_empty()
    return sandbox_sqlite_factory.new()


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """Extra settings a test module may override."""
    return {}


class IsolatedClient(FlaskClient):
    """A test client whose requests get their own app context, as they do in a real server.

    The fixtures keep an app context open for the test body; without this, requests would share
    its `g` and database session, which real requests never do.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Hide the test's app context for the duration of one request."""
        from flask.globals import _cv_app

        token = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


def build_stack(
    database_url: str,
    sandbox_database_url: str,
    overrides: dict[str, Any] | None = None,
    sandbox_overrides: dict[str, Any] | None = None,
) -> Flask:
    """The portal and its mounted XCover sandbox, wired as app.py wires them, on test databases."""
    app = create_stack(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret-key",
            **FAST_HASHING,
            **(overrides or {}),
        },
        {"SQLALCHEMY_DATABASE_URI": sandbox_database_url, **(sandbox_overrides or {})},
    )
    app.test_client_class = IsolatedClient
    return app


def dispose(app: Flask) -> None:
    """Scan the portal's and the sandbox's databases for card numbers, then release their connections."""
    try:
        card_scan.scan_databases(app)
    finally:
        sandbox = app.extensions.get("xcover_sandbox_app")
        if sandbox is not None:
            with sandbox.app_context():
                sandbox_db.engine.dispose()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(database_url: str, sandbox_database_url: str, app_overrides: dict[str, Any]) -> Iterator[Flask]:
    """The portal on a fresh database with its sandbox mounted, CSRF on (tests send tokens, as browsers do)."""
    app = build_stack(database_url, sandbox_database_url, app_overrides)
    with app.app_context():
        yield app
    dispose(app)


@pytest.fixture
def sandbox(app: Flask) -> Flask:
    """The XCover sandbox app mounted beside the portal (use its app_context() for its database)."""
    return app.extensions["xcover_sandbox_app"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner."""
    return app.test_cli_runner()


@pytest.fixture
def store(app: Flask) -> Store:
    """A London store."""
    s = create_store("LDN01", "London", "GB", "GBP", "en", "Europe/London")
    db.session.commit()
    return s


@pytest.fixture
def other_store(app: Flask) -> Store:
    """A Sydney store, for isolation tests."""
    s = create_store("SYD01", "Sydney", "AU", "AUD", "en", "Australia/Sydney")
    db.session.commit()
    return s


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create a user: make_user("ann", "associate", store)."""

    def _make(username: str, role: str = "associate", store: Store | None = None, password: str = PASSWORD) -> User:
        user = create_user(username, username.title(), role, password, store.code if store else None)
        db.session.commit()
        return user

    return _make


def csrf_token(client: FlaskClient, path: str = "/auth/sign-in") -> str:
    """Fetch a page and return the CSRF token in its form."""
    import re

    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


class Auth:
    """Sign in and out through the real form."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def sign_in(self, username: str, password: str = PASSWORD, next_: str | None = None) -> Any:
        """Post the sign-in form."""
        token = csrf_token(self.client)
        url = "/auth/sign-in" + (f"?next={next_}" if next_ else "")
        return self.client.post(url, data={"username": username, "password": password, "csrf_token": token})

    def sign_out(self) -> Any:
        """Post the sign-out form from the home page."""
        token = csrf_token(self.client, "/")
        return self.client.post("/auth/sign-out", data={"csrf_token": token})


@pytest.fixture
def auth(client: FlaskClient) -> Auth:
    """Sign-in helper bound to the test client."""
    return Auth(client)


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _scan_log_lines() -> Iterator[None]:
    """Every JSON log line the portal writes during the run goes through the card-number scan."""
    from portal.logs import JsonFormatter

    original = JsonFormatter.format

    def format_and_scan(self: JsonFormatter, record: Any) -> str:
        line = original(self, record)
        card_scan.scan_log_line(line)
        return line

    JsonFormatter.format = format_and_scan  # type: ignore[method-assign]
    yield
    JsonFormatter.format = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_card_data_left() -> Iterator[None]:
    """Fail the test whose databases or log lines held a card number (the databases scanned as its app goes)."""
    card_scan.take()
    yield
    found = card_scan.take()
    assert not found, "card-number-shaped data left behind (tests/card_scan.py):\n" + "\n".join(found)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run on card data found after the last test's teardown (a module-scoped app's databases)."""
    found = card_scan.take()
    if found:
        session.config.get_terminal_writer().line("card-number-shaped data left behind:\n" + "\n".join(found), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def fake(app: Flask) -> FakeXCover:
    """The fake XCover client, injected where the portal looks for its client."""
    fake = FakeXCover()
    app.extensions["xcover"] = fake
    return fake


@pytest.fixture
def seller(store: Store, make_user: Callable[..., User], auth: Auth, fake: FakeXCover) -> FlaskClient:
    """A signed-in associate of the London store, selling against the fake XCover."""
    make_user("alex", "associate", store)
    auth.sign_in("alex")
    return auth.client
