"""Browser tests: a real gunicorn server on a free port, a fresh database, Chromium as an iPad."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
# Playwright's assertions wait 5 s by default; the suite runs its browser half beside a busy CPU half
# (scripts/test.sh), so they wait as long as actions do. A screen that never comes still fails.
expect.set_options(timeout=15_000)
DEMO_PASSWORD = "counter-demo-2026"
WEBHOOK_KEY, WEBHOOK_SECRET = "e2e-webhook-key", "e2e-webhook-secret"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e as a browser test."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    """Ask the OS for a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_path() -> str | None:
    """Return the Chromium to drive: the configured one, the system one, or Playwright's own."""
    configured = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")
    if configured and os.path.exists(configured):
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


class LiveServer:
    """A gunicorn process serving app.py: the portal with the XCover sandbox mounted at /sandbox/xcover."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = workdir / "e2e.db"
        self.sandbox_db_path = workdir / "xcover-sandbox.sqlite"
        self.log_path = workdir / "server.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "XCOVER_SANDBOX_DATABASE_URL": f"sqlite:///{self.sandbox_db_path}",
            "SECRET_KEY": "e2e-secret-key",
            "PORTAL_ENV": "development",
            "SESSION_COOKIE_SECURE": "0",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "PORT": str(self.port),
            # The mounted sandbox posts its signed webhooks to the portal it is mounted in, as XCover would.
            "XCOVER_WEBHOOK_KEY": WEBHOOK_KEY,
            "XCOVER_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "XCOVER_SANDBOX_WEBHOOK_URL": f"{self.url}/webhooks/xcover",
            "XCOVER_SANDBOX_WEBHOOK_KEY": WEBHOOK_KEY,
            "XCOVER_SANDBOX_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY": "0.2",
            **(extra_env or {}),
        }
        for name in (
            "XCOVER_BASE_URL",
            "XCOVER_SANDBOX_ENABLED",
            "XCOVER_SANDBOX_FAULTS_ENABLED",
            "XCOVER_SANDBOX_ENV",
        ):
            self.env.pop(name, None)
        self.proc: subprocess.Popen[bytes] | None = None

    def flask(self, *args: str) -> str:
        """Run a flask command against the server's database."""
        done = subprocess.run(
            [sys.executable, "-m", "flask", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        """Migrate, seed and start gunicorn; wait until it answers."""
        self.flask("init-db")
        self.flask("seed-demo")
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (open while the server runs; closed in stop())
        self.proc = subprocess.Popen(
            [gunicorn, "--config", "gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log_path.read_text())
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start:\n" + self.log_path.read_text())

    def stop(self) -> None:
        """Stop gunicorn."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the browser tests."""
    server = LiveServer(tmp_path_factory.mktemp("live"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Any]:
    """The Playwright driver."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    """Headless Chromium (the system one when present)."""
    browser = playwright_instance.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


def ipad_context(browser: Any, playwright_instance: Any, live_server: LiveServer) -> Any:
    """A new browser context (cookies of its own) in an iPad Pro 11 profile with touch, pointed at the live server."""
    device = dict(playwright_instance.devices["iPad Pro 11"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device, base_url=live_server.url)
    context.set_default_timeout(15000)
    return context


@pytest.fixture
def ipad(browser: Any, playwright_instance: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh page in an iPad Pro 11 profile with touch, pointed at the live server."""
    context = ipad_context(browser, playwright_instance, live_server)
    yield context.new_page()
    context.close()


@pytest.fixture
def sign_in(ipad: Any) -> Callable[[str], Any]:
    """Sign in through the real form with touch."""

    def _sign_in(username: str, password: str = DEMO_PASSWORD) -> Any:
        ipad.goto("/auth/sign-in")
        ipad.get_by_label("Username").tap()
        ipad.get_by_label("Username").fill(username)
        ipad.get_by_label("Password").fill(password)
        ipad.get_by_role("button", name="Sign in").tap()
        ipad.wait_for_url(lambda url: "/auth/sign-in" not in url)
        return ipad

    return _sign_in


SMALL_TARGETS_JS = """
(min) => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button], label.choice';
  const small = [];
  for (const el of document.querySelectorAll(selector)) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || style.visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;          // not rendered (e.g. skip link off-screen)
    if (r.right < 0 || r.bottom < 0) continue;               // moved off-screen until focused
    let target = el;
    // A checkbox or radio is measured by the label that wraps it: that is what a finger taps.
    if ((el.type === 'checkbox' || el.type === 'radio') && el.closest('label')) target = el.closest('label');
    const t = target.getBoundingClientRect();
    if (t.width >= min && t.height >= min) continue;
    const label = (el.innerText || el.value || el.name || '').trim().slice(0, 30);
    const size = `${Math.round(t.width)}x${Math.round(t.height)}`;
    small.push(`${el.tagName.toLowerCase()}#${el.id || ''}.${el.className || ''} "${label}" ${size}`);
  }
  return small;
}
"""


def small_targets(page: Any, minimum: int = 44) -> list[str]:
    """List the interactive elements on the page smaller than minimum by minimum CSS pixels."""
    return page.evaluate(SMALL_TARGETS_JS, minimum)
