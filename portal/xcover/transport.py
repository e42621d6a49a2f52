"""Transport: the requests session, one signed attempt, its timeouts, and the in-process WSGI transport.

The in-process transport lets requests reach an XCover WSGI app (the sandbox) by calling it, with no socket.
It works under gunicorn, in `flask` commands and in the Flask test client with no port to know. The WSGI
call runs in its own thread so the read timeout is honoured: when it overruns, the caller gets requests'
ReadTimeout while the app finishes the work, which is the real "applied, answer lost" case.
Like a real server, it answers 500 when the app itself raises, so a failure there is an HTTP answer.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app
from xcover.auth import XCoverAuth
from xcover.utils import http_date

log = logging.getLogger("portal.xcover")

INPROCESS_BASE = "http://xcover-sandbox.internal"
# app.extensions key holding the InProcess hand-over (see portal.xcover.use_inprocess).
INPROCESS_EXTENSION = "xcover_inprocess"
# WSGI environ key marking a request that came through this transport: the app may then answer with
# root-relative links, which a browser on the host's pages can follow.
INPROCESS_ENVIRON_KEY = "xcover.inprocess"
SERVER_ERROR = b'{"type": "server_error", "message": "Internal Server Error", "errors": {}}'


@dataclass(frozen=True)
class InProcess:
    """An XCover WSGI app and the path it is mounted at for browsers (its SCRIPT_NAME in-process too)."""

    wsgi_app: Callable[..., Any]
    mount: str


class WSGITransport(BaseAdapter):
    """A requests adapter that hands each request to a WSGI application in a worker thread."""

    def __init__(self, wsgi_app: Callable[..., Any], script_name: str = "") -> None:
        super().__init__()
        self.wsgi_app = wsgi_app
        self.script_name = script_name.rstrip("/")

    def _environ(self, request: requests.PreparedRequest) -> dict[str, Any]:
        """The WSGI environ for a prepared request, the mount path as SCRIPT_NAME."""
        parts = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        path = parts.path
        if self.script_name and path.startswith(self.script_name + "/"):
            path = path[len(self.script_name) :]
        builder = EnvironBuilder(
            path=path,
            query_string=parts.query,
            method=request.method or "GET",
            headers=dict(request.headers),
            data=body,
            base_url=f"{parts.scheme}://{parts.netloc}{self.script_name}",
        )
        environ = builder.get_environ()
        builder.close()
        environ[INPROCESS_ENVIRON_KEY] = True
        return environ

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Run the request through the app; raise ReadTimeout if the answer takes longer than the read timeout."""
        environ = self._environ(request)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                app_iter, status, headers = run_wsgi_app(self.wsgi_app, environ, buffered=True)
                outcome["result"] = (status, headers.to_wsgi_list(), b"".join(app_iter))
                if hasattr(app_iter, "close"):
                    app_iter.close()
            except Exception:
                log.exception("in-process XCover app failed")
                outcome["result"] = ("500 INTERNAL SERVER ERROR", [("Content-Type", "application/json")], SERVER_ERROR)

        worker = threading.Thread(target=call, name="xcover-inprocess-call", daemon=True)
        worker.start()
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        worker.join(read_timeout)
        if worker.is_alive():
            raise requests.exceptions.ReadTimeout(f"XCover did not answer within {read_timeout} s", request=request)
        if "result" not in outcome:
            raise requests.exceptions.ConnectionError(
                "the in-process XCover call ended without an answer", request=request
            )
        status, headers, content = outcome["result"]
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(content)
        response._content = content  # type: ignore[attr-defined]
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""


def new_session(base_url: str, inprocess: InProcess | None) -> tuple[requests.Session, str]:
    """A session and the base URL to call: the configured one, or the handed-over XCover in-process when empty."""
    session = requests.Session()
    if not base_url:
        if inprocess is None:
            raise RuntimeError(
                "XCOVER_BASE_URL is empty and no in-process XCover was handed over: serve the "
                "portal through app.py (it mounts the sandbox) or set XCOVER_BASE_URL"
            )
        base_url = INPROCESS_BASE + inprocess.mount
        session.mount(INPROCESS_BASE + "/", WSGITransport(inprocess.wsgi_app, inprocess.mount))
    return session, base_url


def attempt_timeout(connect_timeout: float, read_timeout: float, remaining: float, floor: float) -> tuple[float, float]:
    """One attempt's (connect, read) timeouts: connecting and reading share what is left of the budget."""
    # So a slow connect cannot stretch the call past the budget.
    connect = min(connect_timeout, remaining)
    return connect, min(read_timeout, max(remaining - connect, floor))


def json_default(value: Any) -> Any:
    """Encode Decimals as JSON numbers and dates as RFC 3339 text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__}")


def send_signed(
    session: requests.Session,
    auth: XCoverAuth,
    api_key: str,
    method: str,
    url: str,
    *,
    payload: Any,
    params: dict[str, Any] | None,
    idempotency_key: str | None,
    timeout: tuple[float, float],
) -> requests.Response:
    """Send one signed attempt (a fresh Date and signature every time), never following redirects."""
    headers = {"Date": http_date(), "Content-Type": "application/json", "X-Api-Key": api_key}
    if idempotency_key:
        headers["x-idempotency-key"] = idempotency_key
    data = json.dumps(payload, default=json_default) if payload is not None else None
    return session.request(
        method, url, data=data, params=params, headers=headers, auth=auth, timeout=timeout, allow_redirects=False
    )


def response_body(response: requests.Response) -> Any:
    """Parse a response body: JSON when there is some, None when empty, the text otherwise."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:500]}
