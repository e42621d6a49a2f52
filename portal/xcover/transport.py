"""An in-process transport: requests reaches the embedded sandbox by calling the app's WSGI callable.

It works under gunicorn, in `flask` commands and in the Flask test client with no port to know. The
WSGI call runs in its own thread so the read timeout is honoured: when it overruns, the caller gets
requests' ReadTimeout while the sandbox finishes the work, which is the real "applied, answer lost" case.
"""
from __future__ import annotations

import io
import threading
from typing import Any, Callable, Mapping, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

INPROCESS_BASE = "http://xcover-sandbox.internal"
# Marks a request that came through this transport, so the sandbox links to its pages root-relatively.
INPROCESS_MARK = "portal.xcover.inprocess"


class WSGITransport(BaseAdapter):
    """A requests adapter that hands each request to a WSGI application in a worker thread."""

    def __init__(self, wsgi_app: Callable[..., Any]) -> None:
        super().__init__()
        self.wsgi_app = wsgi_app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Optional[Mapping[str, str]] = None) -> requests.Response:
        """Run the request through the app; raise ReadTimeout if the answer takes longer than the read timeout."""
        parts = urlsplit(request.url or "")
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        builder = EnvironBuilder(path=parts.path, query_string=parts.query, method=request.method or "GET",
                                 headers=dict(request.headers), data=body, base_url=f"{parts.scheme}://{parts.netloc}")
        environ = builder.get_environ()
        builder.close()
        environ[INPROCESS_MARK] = True
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                app_iter, status, headers = run_wsgi_app(self.wsgi_app, environ, buffered=True)
                outcome["result"] = (status, headers, b"".join(app_iter))
                if hasattr(app_iter, "close"):
                    app_iter.close()
            except BaseException as exc:  # the caller must see whatever went wrong
                outcome["error"] = exc

        worker = threading.Thread(target=call, name="xcover-sandbox-call", daemon=True)
        worker.start()
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        worker.join(read_timeout)
        if worker.is_alive():
            raise requests.exceptions.ReadTimeout(f"sandbox did not answer within {read_timeout} s", request=request)
        if "error" in outcome:
            raise requests.exceptions.ConnectionError(str(outcome["error"]), request=request)
        status, headers, content = outcome["result"]
        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(headers.to_wsgi_list())
        response.raw = io.BytesIO(content)
        response._content = content  # type: ignore[attr-defined]
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""
