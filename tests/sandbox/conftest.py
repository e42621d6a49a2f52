"""Fixtures for the sandbox's own tests: the live standalone sandbox, raw signed calls, the app itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

import xcover_sandbox
from xcover_sandbox.extensions import db

from .. import xcover_support
from ..xcover_support import LiveSandbox
from .signing import Api

live_sandbox = xcover_support.live_sandbox


@pytest.fixture
def api(live_sandbox: LiveSandbox) -> Api:
    """Signed calls to a live sandbox on a fresh database."""
    return Api(live_sandbox)


@pytest.fixture
def sandbox_app(sandbox_database_url: str) -> Iterator[Flask]:
    """The standalone sandbox app on a fresh database (for its test client and CLI runner)."""
    app = xcover_sandbox.create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": sandbox_database_url})
    yield app
    with app.app_context():
        db.engine.dispose()
