"""The whole stack on PostgreSQL: gunicorn with two workers, the sandbox mounted and called in-process on its own
PostgreSQL database, a sale booked on an iPad."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from playwright.sync_api import expect

from tests.dbs import pg_admin_url
from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, small_targets
from tests.e2e.test_sale import INS, PRODUCTS, add_first_options, fill_products, pay


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, str]]:
    """A real server on fresh PostgreSQL databases (the portal's and the sandbox's); their URLs."""
    admin = pg_admin_url()
    if admin is None:
        if os.environ.get("CI"):
            pytest.fail("CI must test PostgreSQL: TEST_DATABASE_URL is not set")
        pytest.skip("needs TEST_DATABASE_URL (scripts/pg-start.sh starts a server)")
    name = f"portal_e2e_{uuid.uuid4().hex[:10]}"
    names = (name, f"{name}_sandbox")
    with psycopg.connect(admin, autocommit=True) as conn:
        for each in names:
            conn.execute(f'CREATE DATABASE "{each}"')
    url, sandbox_url = (admin.rsplit("/", 1)[0] + "/" + each for each in names)
    server = LiveServer(
        tmp_path_factory.mktemp("live-pg"), extra_env={"DATABASE_URL": url, "XCOVER_SANDBOX_DATABASE_URL": sandbox_url}
    )
    server.start()
    yield server, url, sandbox_url
    server.stop()
    with psycopg.connect(admin, autocommit=True) as conn:
        for each in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)')


@pytest.fixture
def pg_ipad(browser: Any, playwright_instance: Any, pg_server: tuple[LiveServer, str, str]) -> Iterator[Any]:
    """An iPad Pro 11 page pointed at the PostgreSQL-backed server."""
    device = dict(playwright_instance.devices["iPad Pro 11"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device, base_url=pg_server[0].url)
    context.set_default_timeout(15000)
    yield context.new_page()
    context.close()


def test_two_product_sale_on_postgresql(pg_ipad: Any, pg_server: tuple[LiveServer, str, str]) -> None:
    server, url, sandbox_url = pg_server
    page = pg_ipad
    page.goto("/auth/sign-in")
    page.get_by_label("Username").fill("syd.alex")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    page.get_by_role("link", name="New sale").tap()
    expect(page.get_by_label("Mobile phone")).to_have_value("+61 ")
    fill_products(page, PRODUCTS)
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill("Citizen")
    page.get_by_label("Email").fill("jane.citizen@example.com")
    page.get_by_label("Mobile phone").fill("+61 412 345 678")
    page.get_by_label("Address").fill("1 George Street")
    page.get_by_label("City").fill("Sydney")
    page.get_by_label("Postcode").fill("2000")
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()
    add_first_options(page)
    pay(page, receipt="SYD-2001")
    expect(page.locator("#sale-status")).to_have_text("Covered")
    ref = page.locator("#xcover-ref").inner_text()
    assert INS.match(ref)
    assert small_targets(page) == []
    with psycopg.connect(sandbox_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT status FROM xcover_sandbox_package WHERE id = %s", (ref,)).fetchall() == [
            ("CONFIRMED",)
        ]
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        assert conn.execute("SELECT status FROM sale WHERE xcover_ref = %s", (ref,)).fetchall() == [("booked",)]
        assert conn.execute("SELECT to_regclass('xcover_sandbox_package')").fetchone() == (None,)
    assert "broken" not in server.flask("audit", "verify").lower()
