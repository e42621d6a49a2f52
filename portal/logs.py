"""Structured logging: one JSON line per record on stdout, tagged with the request id."""
from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from flask import Flask, g, has_request_context


class JsonFormatter(logging.Formatter):
    """Format a log record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record with its time, level, logger, message and request id."""
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = g.get("request_id")
        for key in ("audit", "http", "xcover"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(app: Flask) -> None:
    """Send the portal's and Flask's logs to stdout as JSON lines."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    for name in ("portal", app.name):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(app.config["LOG_LEVEL"])
        logger.propagate = False
