"""Light on the wire: compressed responses, and static assets named by their content so browsers keep them."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, Response, current_app, has_request_context, request
from flask_compress import Compress

compress = Compress()
# A versioned asset never changes under its name: a new content gets a new ?v=.
IMMUTABLE = "public, max-age=31536000, immutable"
_versions: dict[str, tuple[tuple[int, int], str]] = {}
BUILT_URLS = 4096


def asset_version(filename: str) -> str:
    """Return the first 12 hex digits of a static file's SHA-256 (read once; in debug mode again when it changes)."""
    path = os.path.join(current_app.static_folder or "", filename)
    known = _versions.get(path)
    if known is not None and not current_app.debug:  # served files do not change under a running server
        return known[1]
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    stamp = (stat.st_mtime_ns, stat.st_size)
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


def _templates_url_for(app: Flask) -> Any:
    """Return the templates' url_for, which builds each URL once (a list links to the same sales on every view).

    A URL depends only on the endpoint, its values, the blueprint of a relative endpoint and the script root, so
    the text is kept (LRU); absolute URLs, anchors and other options, and debug mode, build every time.
    """
    build = app.jinja_env.globals["url_for"]

    @lru_cache(maxsize=BUILT_URLS)
    def built(script_root: str, blueprint: str | None, endpoint: str, values: frozenset[tuple[str, Any]]) -> str:
        return build(endpoint, **dict(values))

    def url_for(endpoint: str, **values: Any) -> str:
        if app.debug or not has_request_context() or any(name.startswith("_") for name in values):
            return build(endpoint, **values)
        try:
            return built(request.script_root, request.blueprint, endpoint, frozenset(values.items()))
        except TypeError:  # a value that cannot be a key (a list): build it
            return build(endpoint, **values)

    return url_for


def _cache_and_compress(response: Response) -> Response:
    """Let browsers keep a current versioned asset for a year; compress what is worth it."""
    if request.endpoint == "static" and response.status_code in (200, 304):  # a 304 renews what the cache holds
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
    # Brotli's quickest setting: about gzip's size for a seventh of its CPU (the server has two cores).
    app.config.setdefault("COMPRESS_BR_LEVEL", 1)
    compress.init_app(app)
    app.url_defaults(_versioned)
    app.jinja_env.globals["url_for"] = _templates_url_for(app)
    app.after_request(_cache_and_compress)
