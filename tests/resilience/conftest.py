"""The stack under fault: one XCover sandbox and one portal, each its own gunicorn, per database backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .flows import Stack
from .support import Databases, PortalServer, SandboxServer, stop_all


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything here as a resilience test (`-m resilience` runs them alone, `-m "not resilience"` skips)."""
    for item in items:
        if "/resilience/" in str(item.fspath):
            item.add_marker(pytest.mark.resilience)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sandbox served alone and the portal as the Procfile runs it, on fresh databases of one backend.

    One per backend for the whole run: the fault, tap and worker-kill tests leave their sales in it, and each
    module ends by checking that everything they left is settled.
    """
    workdir = tmp_path_factory.mktemp(f"resilience-{request.param}")
    dbs = Databases(request.param, workdir)
    sandbox = SandboxServer(workdir, dbs.new("sandbox"))
    portal = PortalServer(workdir, dbs.new("portal"), sandbox.url)
    try:
        sandbox.start()  # it boots while the release step migrates
        portal.release()
        portal.start()
        sandbox.wait_up()
        portal.wait_up()
        yield Stack(portal, sandbox)
    finally:
        stop_all(portal, sandbox)
        dbs.drop()
