"""Production never runs on the sandbox: a real XCover URL and credentials, the sandbox only when asked for."""

from __future__ import annotations

from typing import Any

import pytest

from portal import create_app
from stack import create_stack
from xcover_sandbox.config import ConfigError

from .conftest import dispose

PRODUCTION_XCOVER = {
    "XCOVER_BASE_URL": "https://api.xcover.com/x",
    "XCOVER_PARTNER_CODE": "RETAIL1",
    "XCOVER_API_KEY": "live-key-123",
    "XCOVER_API_SECRET": "live-secret-456",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """PORTAL_ENV=production with a secret key, real-looking XCover settings and throwaway databases."""
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'portal.db'}")
    monkeypatch.setenv("PORTAL_TRUSTED_HOSTS", "portal.example")
    monkeypatch.setenv("XCOVER_SANDBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'sandbox.sqlite'}")
    for name in (
        "XCOVER_SANDBOX_ENABLED",
        "XCOVER_SANDBOX_ENV",
        "XCOVER_SANDBOX_FAULTS_ENABLED",
        "XCOVER_SANDBOX_PARTNER_CODE",
        "XCOVER_SANDBOX_API_KEY",
        "XCOVER_SANDBOX_API_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in PRODUCTION_XCOVER.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_production_with_real_xcover_settings_starts_without_the_sandbox(production: pytest.MonkeyPatch) -> None:
    app = create_stack()
    assert app.config["XCOVER_SANDBOX_ENABLED"] is False
    assert "xcover_sandbox_app" not in app.extensions and "xcover_inprocess" not in app.extensions
    assert app.test_client().get("/sandbox/xcover/en/account", base_url="https://portal.example").status_code == 404
    dispose(app)


@pytest.mark.parametrize("base_url", ["", "http://api.xcover.com/x"])
def test_production_refuses_to_start_without_a_real_xcover_url(production: pytest.MonkeyPatch, base_url: str) -> None:
    production.setenv("XCOVER_BASE_URL", base_url)
    with pytest.raises(RuntimeError, match="XCOVER_BASE_URL"):
        create_app()


@pytest.mark.parametrize(
    "name,demo",
    [("XCOVER_PARTNER_CODE", "DEMO1"), ("XCOVER_API_KEY", "demo-api-key"), ("XCOVER_API_SECRET", "demo-api-secret")],
)
@pytest.mark.parametrize("how", ["unset", "demo value"])
def test_production_refuses_the_demo_credentials(
    production: pytest.MonkeyPatch, name: str, demo: str, how: str
) -> None:
    if how == "unset":
        production.delenv(name)
    else:
        production.setenv(name, demo)
    with pytest.raises(RuntimeError, match=name):
        create_app()


def test_development_still_defaults_to_the_demo_and_the_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PORTAL_ENV", "development")
    for name in PRODUCTION_XCOVER:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("XCOVER_SANDBOX_ENABLED", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}", "SECRET_KEY": "x"})
    assert app.config["XCOVER_SANDBOX_ENABLED"] is True and app.config["XCOVER_API_KEY"] == "demo-api-key"


def test_production_mounts_the_sandbox_only_when_asked_and_then_without_faults(
    production: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    production.setenv("XCOVER_SANDBOX_ENABLED", "1")
    # The sandbox follows PORTAL_ENV: its public demo credentials are refused too.
    with pytest.raises(ConfigError, match="XCOVER_SANDBOX_PARTNER_CODE"):
        create_stack()
    production.setenv("XCOVER_SANDBOX_PARTNER_CODE", "TEAM")
    production.setenv("XCOVER_SANDBOX_API_KEY", "team-key")
    production.setenv("XCOVER_SANDBOX_API_SECRET", "team-secret")
    app = create_stack()
    request.addfinalizer(lambda: dispose(app))
    sandbox = app.extensions["xcover_sandbox_app"]
    assert sandbox.config["XCOVER_SANDBOX_FAULTS_ENABLED"] is False
    assert sandbox.config["XCOVER_SANDBOX_API_KEY"] == "team-key"  # not the portal's live XCover key
    assert "xcover_inprocess" not in app.extensions  # the client keeps calling XCOVER_BASE_URL
    client = app.test_client()
    assert client.get("/sandbox/xcover/en/account").status_code == 200
    assert client.post("/sandbox/xcover/partners/TEAM/_faults", json={"mode": "error_500"}).status_code == 404
    assert "Control the XCover sandbox" in app.test_cli_runner().invoke(args=["--help"]).output
    refused = app.test_cli_runner().invoke(args=["xcover-sandbox", "fault", "*", "error_500"])
    assert refused.exit_code != 0 and "XCOVER_SANDBOX_FAULTS_ENABLED" in refused.output


def test_production_never_allows_the_fault_switch(production: pytest.MonkeyPatch) -> None:
    production.setenv("XCOVER_SANDBOX_ENABLED", "1")
    production.setenv("XCOVER_SANDBOX_PARTNER_CODE", "TEAM")
    production.setenv("XCOVER_SANDBOX_API_KEY", "team-key")
    production.setenv("XCOVER_SANDBOX_API_SECRET", "team-secret")
    production.setenv("XCOVER_SANDBOX_FAULTS_ENABLED", "1")
    with pytest.raises(ConfigError, match="XCOVER_SANDBOX_FAULTS_ENABLED"):
        create_stack()
