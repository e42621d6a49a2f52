"""Structured logging: one JSON line per record on stdout, tagged with the request id."""

from __future__ import annotations

import json
import logging
import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context
from gunicorn.glogging import Logger as GunicornLogger

# Characters json.dumps leaves raw that break or disguise a line for line-based tools: C1 controls (U+0085
# ends a line), line and paragraph separators (U+2028, U+2029), bidi and other invisible format characters
# (U+202E reverses what a reader sees), surrogates and unassigned code points.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_NON_ASCII = re.compile(r"[^\x00-\x7e]")


def _escape(match: re.Match[str]) -> str:
    """Spell an unsafe character as a JSON escape; keep readable text as it is."""
    char = match.group()
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return char
    return "".join(f"\\u{unit:04x}" for unit in _utf16_units(char))


def _utf16_units(char: str) -> list[int]:
    """Return the UTF-16 code units of one character (two for characters beyond the BMP)."""
    code = ord(char)
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]


def json_line(value: Any) -> str:
    """Serialise a value as one JSON line that no line-based tool will split or misread."""
    # Outside strings json.dumps writes ASCII only, so every character replaced here sits inside a string.
    return _NON_ASCII.sub(_escape, json.dumps(value, default=str, ensure_ascii=False))


class JsonFormatter(logging.Formatter):
    """Format a log record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record with its time, level, logger, message and request id."""
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = g.get("request_id")
        for key in ("audit", "http", "xcover", "webhook"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json_line(line)


class AccessLogger(GunicornLogger):
    """gunicorn's access log as JSON lines built by json_line, so a client's path cannot break one."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """Log one request: client, method, path, status, bytes, milliseconds and request id."""
        if not self.access_log_enabled:
            return
        # WSGI hands the path over as bytes spelled in Latin-1; read it back as the UTF-8 the client sent.
        path = environ.get("PATH_INFO", "").encode("latin-1", "replace").decode("utf-8", "replace")
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        headers = dict((name.lower(), value) for name, value in resp.headers)
        self.access_log.info(
            json_line(
                {
                    "http": {
                        "remote": environ.get("REMOTE_ADDR", "-"),
                        "method": environ.get("REQUEST_METHOD"),
                        "path": path,
                        "status": int(status),
                        "bytes": getattr(resp, "sent", None),
                        "ms": request_time.seconds * 1000 + request_time.microseconds // 1000,
                        "request_id": headers.get("x-request-id", "-"),
                    }
                }
            )
        )


def configure_logging(app: Flask) -> None:
    """Send the portal's and Flask's logs to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("portal", app.name):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(app.config["LOG_LEVEL"])
        logger.propagate = False
