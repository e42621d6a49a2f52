"""The stack under test, as it runs in production: gunicorn processes, real HTTP, real databases.

- `SandboxServer`: the XCover sandbox served alone (`gunicorn xcover_sandbox.wsgi:app`, threaded), its fault
  switch on, on a database of its own; faults are injected through its signed `_faults` endpoint.
- `PortalServer`: the portal as the Procfile runs it (`flask init-db`, then `gunicorn --config gunicorn.conf.py
  app:app`), pointed at that sandbox over HTTP with the production timeouts.
- `Counter`: one associate's browser: a requests session that reads each page's forms (CSRF token included) and
  posts them back as a browser would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
import sqlalchemy as sa

from portal.xcover.client import ClientSettings, XCoverClient
from tests.dbs import pg_admin_url

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "counter-demo-2026"
BIN = Path(sys.executable).parent
# Cheap password hashes: the cost of argon2 is not what these suites measure (the sign-in benchmark does).
FAST_HASHING = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024"}
# What the tests must not inherit from the shell that runs them.
SCRUBBED = (
    "XCOVER_BASE_URL",
    "XCOVER_SANDBOX_ENABLED",
    "XCOVER_SANDBOX_FAULTS_ENABLED",
    "XCOVER_SANDBOX_ENV",
    "XCOVER_TOTAL_BUDGET",
    "XCOVER_READ_TIMEOUT",
    "XCOVER_BOOKING_READ_TIMEOUT",
    "XCOVER_CONNECT_TIMEOUT",
    "XCOVER_RETRY_MAX_ATTEMPTS",
    "XCOVER_RETRY_BASE_DELAY",
    "XCOVER_RETRY_MAX_DELAY",
    "BOOKING_STALE_SECONDS",
    "GUNICORN_TIMEOUT",
    "WEB_CONCURRENCY",
    "GUNICORN_THREADS",
    "DATABASE_URL",
    "XCOVER_SANDBOX_DATABASE_URL",
)


def free_port() -> int:
    """Ask the OS for a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env() -> dict[str, str]:
    """The environment of every process: the shell's, minus what would change the stack under test."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
    env.update(FAST_HASHING, PORTAL_ENV="development", SESSION_COOKIE_SECURE="0", PYTHONUNBUFFERED="1")
    return env


def wait_until_up(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> None:
    """Poll url until it answers; fail with the log if the process exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: the server did not start:\n{log.read_text()}")


class Server:
    """One gunicorn process tree, its log in a file."""

    proc: subprocess.Popen[bytes] | None = None

    def __init__(self, name: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"

    def spawn(self, args: list[str], env: dict[str, str], probe: str) -> None:
        """Start gunicorn (wait_up() waits until probe answers)."""
        self.log = open(self.log_path, "ab")  # noqa: SIM115 (open while the server runs; closed in stop())
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.probe = probe

    def wait_up(self) -> None:
        """Wait until the server answers."""
        assert self.proc is not None
        wait_until_up(self.proc, self.url + self.probe, self.log_path)

    def workers(self) -> list[int]:
        """The PIDs of gunicorn's workers: the master's children."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def log_text(self) -> str:
        """Everything the server logged so far."""
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def signal_stop(self) -> None:
        """Tell gunicorn to stop (quick shutdown: nothing is left to finish); stop() waits for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def stop(self) -> None:
        """Stop gunicorn (the master stops its workers)."""
        self.signal_stop()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()


class SandboxServer(Server):
    """The XCover sandbox served alone by gunicorn, threaded, its fault switch on."""

    PARTNER, KEY, SECRET = "DEMO1", "demo-api-key", "demo-api-secret"

    def __init__(self, workdir: Path, database_url: str) -> None:
        super().__init__("sandbox", workdir)
        self.database_url = database_url
        self.env = {
            **base_env(),
            "XCOVER_SANDBOX_DATABASE_URL": database_url,
            "XCOVER_SANDBOX_ENV": "development",
            "XCOVER_SANDBOX_FAULTS_ENABLED": "1",
        }
        self.client = XCoverClient(
            ClientSettings(base_url=self.url, partner_code=self.PARTNER, api_key=self.KEY, api_secret=self.SECRET)
        )
        self.engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.pool.NullPool)

    def start(self) -> None:
        """Serve xcover_sandbox.wsgi:app; threaded, so a slow answer holds one thread, not the server.

        No keep-alive: a connection from a portal worker to XCover is open only while a call is under way (the
        worker-kill test finds the worker in the middle of a booking that way).
        """
        gunicorn = str(BIN / "gunicorn")
        args = [gunicorn, "--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread", "--workers", "2"]
        args += ["--threads", "16", "--keep-alive", "0"]
        self.spawn([*args, "xcover_sandbox.wsgi:app"], self.env, "/")

    def fault(self, operation: str, mode: str, count: int = 1, seconds: float = 0) -> None:
        """Add a fault through the sandbox's signed endpoint (POST partners/{code}/_faults)."""
        body = {"operation": operation, "mode": mode, "count": count, "seconds": seconds}
        self.client.call("faults", "POST", "_faults", payload=body)

    def clear_faults(self) -> None:
        """Remove this partner's faults (DELETE partners/{code}/_faults)."""
        self.client.call("faults", "DELETE", "_faults")

    def faults_left(self) -> list[dict[str, Any]]:
        """The faults still waiting to fire."""
        return self.client.call("faults", "GET", "_faults")["faults"]

    def booked(self) -> list[tuple[str, str]]:
        """Every booked package: (INS reference, status)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, status FROM xcover_sandbox_package WHERE booked_at IS NOT NULL"))
            return [tuple(r) for r in rows]

    def package(self, ref: str) -> dict[str, Any]:
        """A quote package's whole document, as the sandbox keeps it."""
        with self.engine.connect() as conn:
            doc = conn.execute(sa.text("SELECT doc FROM xcover_sandbox_package WHERE id = :id"), {"id": ref}).scalar()
        return json.loads(doc) if isinstance(doc, str) else doc

    def keys_in_flight(self) -> int:
        """Idempotency keys whose request is still running at the sandbox."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM xcover_sandbox_idempotency WHERE state = 'in_flight'")
            ).scalar_one()

    def settle(self, timeout: float = 40) -> None:
        """Wait until no request holds a key (slow answers and late answers have all been given)."""
        deadline = time.monotonic() + timeout
        while self.keys_in_flight() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert self.keys_in_flight() == 0, "the sandbox still holds keys"

    def stop(self) -> None:
        """Stop the server and let go of its database."""
        super().stop()
        self.engine.dispose()


class PortalServer(Server):
    """The portal as the Procfile runs it: `flask init-db` (release), then gunicorn with gunicorn.conf.py (web)."""

    def __init__(self, workdir: Path, database_url: str, xcover_url: str, name: str = "portal", **env: str) -> None:
        super().__init__(name, workdir)
        self.database_url = database_url
        self.env = {
            **base_env(),
            "FLASK_APP": "app.py",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "resilience-secret-key",
            "XCOVER_BASE_URL": xcover_url,
            "XCOVER_SANDBOX_ENABLED": "0",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "PORT": str(self.port),
            **env,
        }
        self.engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.pool.NullPool)

    def flask(self, *args: str, check: bool = True) -> str:
        """Run a flask command (as cron or the release step would) against the portal's database."""
        done = subprocess.run(
            [str(BIN / "flask"), *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check:
            assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout + done.stderr

    def release(self) -> None:
        """The Procfile's release step, then the demo people."""
        self.flask("init-db")
        self.flask("seed-demo")

    def start(self) -> None:
        """The Procfile's web process."""
        self.spawn([str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "app:app"], self.env, "/healthz")

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value from the portal's database."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows from the portal's database."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]

    def access_log(self) -> list[dict[str, Any]]:
        """gunicorn's access log: one {"http": {...}} JSON line per request (portal.logs.AccessLogger)."""
        lines = []
        for line in self.log_text().splitlines():
            if line.startswith('{"http"'):
                lines.append(json.loads(line)["http"])
        return lines

    def stop(self) -> None:
        """Stop the server and let go of its database."""
        super().stop()
        self.engine.dispose()


def stop_all(*servers: Server) -> None:
    """Stop several servers at once."""
    for server in servers:
        server.signal_stop()
    for server in servers:
        server.stop()


def sqlalchemy_url(url: str) -> str:
    """The URL the test process reads a database with (psycopg 3 for PostgreSQL)."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


class Databases:
    """Fresh, empty databases for one run of a stack: SQLite files, or PostgreSQL databases dropped afterwards."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend, self.workdir, self.created = backend, workdir, []
        self.admin = None
        if backend == "postgresql":
            self.admin = pg_admin_url()
            if self.admin is None:
                if os.environ.get("CI"):
                    pytest.fail("CI must test PostgreSQL: TEST_DATABASE_URL is not set")
                pytest.skip("needs TEST_DATABASE_URL (scripts/pg-start.sh starts a server)")

    def new(self, purpose: str) -> str:
        """The URL of a new empty database."""
        name = f"res_{purpose}_{uuid.uuid4().hex[:10]}"
        if self.admin is None:
            return f"sqlite:///{self.workdir / name}.db"
        admin = self.admin.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return admin.rsplit("/", 1)[0] + "/" + name

    def drop(self) -> None:
        """Drop the PostgreSQL databases made here."""
        if self.admin is None:
            return
        admin = self.admin.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- a browser without a browser -------------------------------------------------------------------


@dataclass
class Form:
    """One <form> of a page: where it posts, what a browser would send as it stands, and the choices it offers."""

    action: str
    fields: dict[str, list[str]] = field(default_factory=dict)
    options: dict[str, list[str]] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)

    def data(self, button: tuple[str, str] | None = None, **overrides: str | list[str]) -> list[tuple[str, str]]:
        """The body a browser sends: the fields as they stand, the overrides, and the button tapped."""
        values = {**self.fields}
        for name, value in overrides.items():
            values[name] = value if isinstance(value, list) else [value]
        pairs = [(name, v) for name, vs in values.items() for v in vs]
        return [*pairs, button] if button else pairs


class FormReader(HTMLParser):
    """Read the forms of a page as a browser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.select: str | None = None
        self.select_first: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect forms, inputs, selects, textareas and submit buttons."""
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.current = Form(action=a.get("action", ""))
            self.forms.append(self.current)
            return
        form, name = self.current, a.get("name")
        if tag == "option" and form is not None and self.select:
            value = a.get("value", "")
            form.options[self.select].append(value)
            if self.select_first is None:
                self.select_first = value
                form.fields[self.select] = [value]
            if "selected" in a:
                form.fields[self.select] = [value]
            return
        if form is None or not name or "disabled" in a:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("radio", "checkbox"):
                form.options.setdefault(name, []).append(a.get("value", "on"))
                if "checked" in a:
                    form.fields.setdefault(name, []).append(a.get("value", "on"))
            elif kind == "submit":
                form.buttons.append((name, a.get("value", "")))
            else:
                form.fields[name] = [a.get("value", "")]
        elif tag == "button" and a.get("type", "submit") == "submit":
            form.buttons.append((name, a.get("value", "")))
        elif tag == "select":
            self.select, self.select_first = name, None
            form.options[name] = []
        elif tag == "textarea":
            self.textarea = name
            form.fields[name] = [""]

    def handle_endtag(self, tag: str) -> None:
        """Close forms, selects and textareas."""
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        """A textarea's text is its value."""
        if self.textarea and self.current is not None:
            self.current.fields[self.textarea] = [self.current.fields[self.textarea][0] + data]


def forms_of(html: str) -> list[Form]:
    """Every form on a page."""
    reader = FormReader()
    reader.feed(html)
    return reader.forms


class Unexpected(AssertionError):
    """The portal answered something no screen should: a 500, or a status the step does not allow."""


class Counter:
    """One iPad at the counter: its own cookies, reading forms and posting them back."""

    # A page the portal shows on purpose when XCover is down (the options and after-sale forms) is a 503.
    ALLOWED = frozenset({200, 302, 303, 422, 503})

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.base = base_url
        self.http = requests.Session()
        # A fresh connection per request: a browser resends a request that met a keep-alive connection the server
        # had just closed; requests would report it as a reset instead.
        self.http.headers["Connection"] = "close"
        self.timeout = timeout
        self.answers: list[tuple[str, str, int]] = []

    def _note(self, method: str, path: str, resp: requests.Response, allowed: frozenset[int]) -> requests.Response:
        """Keep every status; refuse a 5xx other than the portal's own 503 pages, or any status not allowed."""
        self.answers.append((method, path, resp.status_code))
        if resp.status_code not in allowed:
            raise Unexpected(f"{method} {path} -> {resp.status_code}\n{resp.text[:2000]}")
        return resp

    def get(self, path: str, allowed: frozenset[int] = frozenset({200})) -> requests.Response:
        """Open a page (following redirects, as the browser does)."""
        resp = self.http.get(self.base + path, timeout=self.timeout)
        return self._note("GET", path, resp, allowed)

    def post(self, path: str, data: list[tuple[str, str]], allowed: frozenset[int] | None = None) -> requests.Response:
        """Post a form body; the redirect is not followed (its Location says where the sale went)."""
        resp = self.http.post(self.base + path, data=data, timeout=self.timeout, allow_redirects=False)
        return self._note("POST", path, resp, allowed or self.ALLOWED)

    def form(self, path: str, action: str | None = None, contains: str | None = None) -> Form:
        """The form on a page that posts to action (or whose action contains a part of it)."""
        html = self.get(path).text
        for form in forms_of(html):
            form.action = form.action or path  # a form with no action posts to its own page
            if (action is not None and form.action == action) or (contains is not None and contains in form.action):
                return form
        raise AssertionError(f"no form {action or contains} on {path}: {[f.action for f in forms_of(html)]}")

    def submit(
        self,
        path: str,
        action: str,
        button: tuple[str, str] | None = None,
        allowed: frozenset[int] | None = None,
        **overrides: str | list[str],
    ) -> requests.Response:
        """Open the page, fill in its form and send it, as one tap does."""
        form = self.form(path, action)
        return self.post(action, form.data(button, **overrides), allowed)

    def sign_in(self, username: str, password: str = DEMO_PASSWORD) -> None:
        """Sign in through the form; a busy answer (429, Retry-After) is waited out as a person would."""
        for _ in range(20):
            form = self.form("/auth/sign-in", contains="/auth/sign-in")
            resp = self.post(
                "/auth/sign-in",
                form.data(username=username, password=password),
                allowed=frozenset({302, 429}),
            )
            if resp.status_code == 302:
                return
            time.sleep(float(resp.headers.get("Retry-After", "1")))
        raise AssertionError(f"{username} could not sign in")


def location(resp: requests.Response) -> str:
    """The path a redirect points at."""
    return re.sub(r"^https?://[^/]+", "", resp.headers.get("Location", ""))


def sale_id_in(path: str) -> int:
    """The sale id in a /sales/<id>/... path."""
    match = re.search(r"/sales/(\d+)", path)
    assert match, path
    return int(match.group(1))


def processes(server: Server) -> Iterator[int]:
    """The master's PID, then its workers'."""
    assert server.proc is not None
    yield server.proc.pid
    yield from server.workers()
