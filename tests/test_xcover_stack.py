"""The portal with the sandbox mounted at /sandbox/xcover, as app.py builds it: routing, links, credentials, CLI."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server
from xcover import XCover, XCoverConfig

from portal.xcover import build_client, get_client
from xcover_sandbox import control

from .conftest import build_stack, dispose
from .xcover_support import POLICYHOLDER, booking_payload, quote_request


def test_sandbox_paths_go_to_the_sandbox_and_the_rest_to_the_portal(app: Flask) -> None:
    client = app.test_client()
    assert "XCover sandbox" in client.get("/sandbox/xcover/en/account").get_data(as_text=True)
    api_missing = client.get("/sandbox/xcover/partners/DEMO1/nowhere/")
    assert api_missing.status_code == 404 and api_missing.json["type"] == "not_found"
    wrong = client.delete("/sandbox/xcover/partners/DEMO1/quotes/")
    assert wrong.status_code == 405 and "POST" in wrong.headers["Allow"]
    page_missing = client.get("/no-such-page")
    assert page_missing.status_code == 404 and "<html" in page_missing.get_data(as_text=True)
    # Nothing of the sandbox is registered on the portal itself.
    assert not any(name.startswith("xcover_sandbox") for name in app.blueprints)
    assert not any(rule.rule.startswith("/sandbox") for rule in app.url_map.iter_rules())


def test_the_portal_hands_its_credentials_to_the_in_process_sandbox(
    database_url: str, sandbox_database_url: str
) -> None:
    app = build_stack(
        database_url,
        sandbox_database_url,
        {"XCOVER_PARTNER_CODE": "SHOP2", "XCOVER_API_KEY": "k2", "XCOVER_API_SECRET": "s2"},
    )
    try:
        sandbox = app.extensions["xcover_sandbox_app"]
        assert sandbox.config["XCOVER_SANDBOX_PARTNER_CODE"] == "SHOP2"
        assert sandbox.config["XCOVER_SANDBOX_API_KEY"] == "k2"
        with app.app_context():
            assert get_client().create_quote(quote_request()).status == "RECEIVED"
    finally:
        dispose(app)


def test_portal_cli_controls_the_mounted_sandbox(app: Flask, sandbox: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["xcover-sandbox", "fault", "get_booking", "error_503", "--count", "2"])
    assert result.exit_code == 0, result.output
    with sandbox.app_context():
        assert control.list_faults("DEMO1")[0]["remaining"] == 2
    assert "Removed 1" in runner.invoke(args=["xcover-sandbox", "clear-faults"]).output


@pytest.fixture
def served_stack(database_url: str, sandbox_database_url: str) -> Iterator[str]:
    """The whole stack (portal and mounted sandbox) on a real port; its URL."""
    app = build_stack(database_url, sandbox_database_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)
    dispose(app)


def test_the_official_sdk_reaches_the_mounted_sandbox_over_http(served_stack: str) -> None:
    sdk = XCover(
        XCoverConfig(
            base_url=f"{served_stack}/sandbox/xcover/",
            partner_code="DEMO1",
            auth_api_key="demo-api-key",
            auth_api_secret="demo-api-secret",
        )
    )
    package: Any = sdk.create_quote(quote_request())
    booking: Any = sdk.create_booking(
        package["id"], {"quotes": [{"id": package["quotes"]["0"]["id"]}], "policyholder": POLICYHOLDER}
    )
    # Signed with "(request-target)", which names the mount path: the sandbox checks the path it was sent.
    assert booking["status"] == "CONFIRMED"
    assert booking["coi"]["url"].startswith(f"{served_stack}/sandbox/xcover/en/coi/{package['id']}?security_token=")


def test_a_portal_client_reaches_the_mounted_sandbox_by_its_url(served_stack: str) -> None:
    from portal import config

    client = build_client({**config.load(), "XCOVER_BASE_URL": f"{served_stack}/sandbox/xcover"})
    package = client.create_quote(quote_request())
    assert package.status == "RECEIVED" and package.pds_url
    assert package.pds_url.startswith(f"{served_stack}/sandbox/xcover/en/pds/{package.id}?security_token=")


def test_in_process_links_are_root_relative_under_the_mount(app: Flask) -> None:
    client = get_client()
    package = client.create_quote(quote_request())
    booking = client.create_booking(
        package.id,
        booking_payload(package.quotes["0"].id),  # type: ignore[union-attr]
        idempotency_key="stack-1",
    )
    for link in (booking.coi_url, booking.coi_pdf_url, booking.pds_url, booking.quotes[0].pds_url):
        assert link and link.startswith("/sandbox/xcover/en/")
        assert app.test_client().get(link).status_code == 200
