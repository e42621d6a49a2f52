"""The sandbox's own settings: its database, its environment, its demo credentials and the fault switch."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

import xcover_sandbox
from xcover_sandbox import config, control
from xcover_sandbox.extensions import db

from ..xcover_support import LiveSandbox
from .signing import Api

SANDBOX_VARIABLES = (
    "XCOVER_SANDBOX_ENV",
    "PORTAL_ENV",
    "XCOVER_SANDBOX_DATABASE_URL",
    "XCOVER_SANDBOX_FAULTS_ENABLED",
    "XCOVER_SANDBOX_PARTNER_CODE",
    "XCOVER_SANDBOX_API_KEY",
    "XCOVER_SANDBOX_API_SECRET",
)
OWN_CREDENTIALS = {
    "XCOVER_SANDBOX_PARTNER_CODE": "TEAM",
    "XCOVER_SANDBOX_API_KEY": "team-key",
    "XCOVER_SANDBOX_API_SECRET": "team-secret",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean environment whose instance/ folder is a temporary one."""
    for name in SANDBOX_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "INSTANCE", tmp_path / "instance")
    return monkeypatch


def test_defaults_are_a_sqlite_file_in_instance_and_the_demo(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = config.load()
    assert settings["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'xcover-sandbox.sqlite'}"
    assert settings["XCOVER_SANDBOX_ENV"] == "development" and settings["XCOVER_SANDBOX_FAULTS_ENABLED"] is True
    assert (settings["XCOVER_SANDBOX_PARTNER_CODE"], settings["XCOVER_SANDBOX_API_KEY"]) == ("DEMO1", "demo-api-key")
    env.setenv("XCOVER_SANDBOX_DATABASE_URL", "postgres://u:p@h/sandbox")
    assert config.load()["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@h/sandbox"


def test_it_creates_its_tables_on_start(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = xcover_sandbox.create_app()
    with app.app_context():
        assert set(db.inspect(db.engine).get_table_names()) == {
            "xcover_sandbox_package",
            "xcover_sandbox_pending",
            "xcover_sandbox_idempotency",
            "xcover_sandbox_fault",
        }
        db.engine.dispose()
    assert (tmp_path / "instance" / "xcover-sandbox.sqlite").exists()


def test_production_follows_portal_env_unless_its_own_env_is_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORTAL_ENV", "production")
    assert config.load()["XCOVER_SANDBOX_ENV"] == "production"
    env.setenv("XCOVER_SANDBOX_ENV", "development")
    assert config.load()["XCOVER_SANDBOX_ENV"] == "development"


@pytest.mark.parametrize("name", sorted(OWN_CREDENTIALS))
def test_production_refuses_each_demo_credential(env: pytest.MonkeyPatch, name: str) -> None:
    env.setenv("XCOVER_SANDBOX_ENV", "production")
    for other, value in OWN_CREDENTIALS.items():
        if other != name:
            env.setenv(other, value)
    with pytest.raises(config.ConfigError, match=name):
        xcover_sandbox.create_app()


def test_production_has_no_faults_and_refuses_the_switch(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("XCOVER_SANDBOX_ENV", "production")
    for name, value in OWN_CREDENTIALS.items():
        env.setenv(name, value)
    app = xcover_sandbox.create_app()
    assert app.config["XCOVER_SANDBOX_FAULTS_ENABLED"] is False
    assert "xcover_sandbox_faults" not in app.blueprints
    refused = app.test_cli_runner().invoke(args=["fault", "*", "error_500"])
    assert refused.exit_code != 0 and "switched off" in refused.output
    with app.app_context():
        db.engine.dispose()
    env.setenv("XCOVER_SANDBOX_FAULTS_ENABLED", "1")
    with pytest.raises(config.ConfigError, match="XCOVER_SANDBOX_FAULTS_ENABLED"):
        xcover_sandbox.create_app()


def test_with_faults_switched_off_there_is_no_endpoint_and_nothing_fires(sandbox_database_url: str) -> None:
    server = LiveSandbox(sandbox_database_url, {"XCOVER_SANDBOX_FAULTS_ENABLED": False})
    try:
        api = Api(server)
        assert api.call("POST", "_faults", {"operation": "*", "mode": "error_500"}).status_code == 404
        with server.app.app_context():  # a fault left in the database from when the switch was on
            control.inject_fault(server.partner, "*", "error_503", count=5)
        assert api.call("GET", "bookings/").status_code == 200
        assert requests.get(f"{server.url}/partners/{server.partner}/_faults").status_code == 404
    finally:
        server.stop()


@pytest.mark.parametrize(
    "name,value",
    [
        ("XCOVER_SANDBOX_CLOCK_SKEW", "soon"),
        ("XCOVER_SANDBOX_CLOCK_SKEW", "nan"),
        ("XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY", "-1"),
    ],
)
def test_bad_numbers_are_refused_by_name(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(name, value)
    with pytest.raises(config.ConfigError, match=name):
        config.load()


def test_behind_a_proxy_the_forwarded_host_is_never_believed(sandbox_database_url: str) -> None:
    app = xcover_sandbox.create_app(
        {"SQLALCHEMY_DATABASE_URI": sandbox_database_url, "XCOVER_SANDBOX_PROXY_COUNT": 1, "TESTING": True}
    )

    @app.get("/_origin")
    def origin() -> str:
        from flask import request

        return f"{request.scheme}://{request.host}"

    answer = app.test_client().get(
        "/_origin",
        base_url="http://sandbox.internal",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    assert answer.get_data(as_text=True) == "https://sandbox.internal"
    with app.app_context():
        db.engine.dispose()
