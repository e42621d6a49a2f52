"""The portal with the XCover sandbox mounted beside it: the one place both are built together.

`app.py` serves what create_stack() returns; tests build the same thing. The portal never imports the
sandbox: it is handed the sandbox's WSGI app (portal.xcover.use_inprocess) and calls it in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import xcover_sandbox
from portal import create_app
from portal.xcover import SANDBOX_MOUNT, use_inprocess
from xcover_sandbox.cli import commands

CREDENTIALS = {
    "XCOVER_PARTNER_CODE": "XCOVER_SANDBOX_PARTNER_CODE",
    "XCOVER_API_KEY": "XCOVER_SANDBOX_API_KEY",
    "XCOVER_API_SECRET": "XCOVER_SANDBOX_API_SECRET",
}


def create_stack(
    overrides: Mapping[str, Any] | None = None, sandbox_overrides: Mapping[str, Any] | None = None
) -> Flask:
    """Create the portal; when XCOVER_SANDBOX_ENABLED resolves on, mount the sandbox at /sandbox/xcover.

    With no XCOVER_BASE_URL the portal's client calls the mounted sandbox in-process with the portal's own
    credentials (so the two always agree); with one, the sandbox keeps its own XCOVER_SANDBOX_* settings.
    """
    portal = create_app(overrides)
    if not portal.config["XCOVER_SANDBOX_ENABLED"]:
        return portal
    settings: dict[str, Any] = {"XCOVER_SANDBOX_PROXY_COUNT": portal.config["PROXY_COUNT"]}
    inprocess = not portal.config["XCOVER_BASE_URL"]
    if inprocess:
        settings.update({ours: portal.config[theirs] for theirs, ours in CREDENTIALS.items()})
    sandbox = xcover_sandbox.create_app({**settings, **(sandbox_overrides or {})})
    portal.wsgi_app = DispatcherMiddleware(portal.wsgi_app, {SANDBOX_MOUNT: sandbox})  # type: ignore[method-assign]
    if inprocess:
        use_inprocess(portal, sandbox, SANDBOX_MOUNT)
    portal.extensions["xcover_sandbox_app"] = sandbox
    portal.cli.add_command(commands(sandbox))
    return portal
