"""The application factory and configuration."""

import pytest

from portal import config, create_app

from .test_xcover_production import PRODUCTION_XCOVER


def test_overrides_are_applied(app):
    assert app.config["TESTING"] is True
    assert app.config["SECRET_KEY"] == "test-secret-key"


def test_production_requires_secret_key(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_cookies_are_secure(monkeypatch):
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    for name, value in PRODUCTION_XCOVER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_TRUSTED_HOSTS", "portal.example")
    monkeypatch.delenv("SESSION_COOKIE_SECURE", raising=False)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_development_key_is_generated_and_kept(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "INSTANCE", tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("PORTAL_ENV", "development")
    first = config.load()["SECRET_KEY"]
    assert len(first) == 64 and (tmp_path / "secret_key").exists()
    assert config.load()["SECRET_KEY"] == first


@pytest.mark.parametrize(
    "given,expected",
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_database_url_uses_psycopg3(monkeypatch, given, expected):
    monkeypatch.setenv("DATABASE_URL", given)
    assert config.database_url() == expected


@pytest.mark.both_dbs
def test_health(client):
    assert client.get("/healthz").json == {"status": "ok"}
