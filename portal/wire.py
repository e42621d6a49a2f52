"""Light on the wire: compressed responses, and static assets named by their content so browsers keep them."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from flask import Flask, Response, current_app, request
from flask_compress import Compress

compress = Compress()
# A versioned asset never changes under its name: a new content gets a new ?v=.
IMMUTABLE = "public, max-age=31536000, immutable"
_versions: dict[str, tuple[tuple[int, int], str]] = {}


def asset_version(filename: str) -> str:
    """Return the first 12 hex digits of a static file's SHA-256 (read again only when the file changes)."""
    path = os.path.join(current_app.static_folder or "", filename)
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    stamp = (stat.st_mtime_ns, stat.st_size)
    known = _versions.get(path)
    if known is None or known[0] != stamp:
        with open(path, "rb") as asset:
            known = _versions[path] = (stamp, hashlib.sha256(asset.read()).hexdigest()[:12])
    return known[1]


def _versioned(endpoint: str, values: dict[str, Any]) -> None:
    """Give every url_for('static', filename=...) its content's version."""
    if endpoint == "static" and "filename" in values and "v" not in values:
        version = asset_version(values["filename"])
        if version:
            values["v"] = version


def _cache_and_compress(response: Response) -> Response:
    """Let browsers keep a current versioned asset for a year; compress what is worth it."""
    if request.endpoint == "static" and response.status_code == 200:
        version = request.args.get("v")
        if version and version == asset_version(request.view_args.get("filename", "") if request.view_args else ""):
            response.headers["Cache-Control"] = IMMUTABLE
        else:  # unversioned, or an old version's link: ask again next time
            response.headers["Cache-Control"] = "no-cache"
    # A page echoing its query string (a search, the audit filters) goes out uncompressed, so that secrets on it
    # (the CSRF token) cannot be guessed from compressed sizes (BREACH).
    if response.mimetype == "text/html" and request.query_string:
        return response
    return compress.after_request(response)


def init_app(app: Flask) -> None:
    """Version static URLs, cache versioned assets, and compress responses."""
    app.config.setdefault("COMPRESS_REGISTER", False)  # compressed from _cache_and_compress, which picks what
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ["br", "deflate"])
    compress.init_app(app)
    app.url_defaults(_versioned)
    app.after_request(_cache_and_compress)
