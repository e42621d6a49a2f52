"""Light on the wire: compressed pages, fingerprinted immutable assets, a session cookie only when it changes."""

from __future__ import annotations

import gzip
import hashlib
import re
import time

import brotli

from portal import config
from portal.wire import IMMUTABLE

BROWSER = {"Accept-Encoding": "gzip, deflate, br"}


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_pages_are_compressed_for_browsers_that_take_it(seller):
    plain = seller.get("/sales/new").get_data()
    resp = seller.get("/sales/new", headers=BROWSER)
    assert resp.headers["Content-Encoding"] == "br" and "Accept-Encoding" in resp.headers["Vary"]
    assert len(resp.get_data()) < len(plain) / 3
    body = brotli.decompress(resp.get_data())
    # Same page but for the fresh CSRF token and the form's one-time submission token (a uuid4).
    assert re.sub(rb'value="[^"]{36,}"', b"", body) == re.sub(rb'value="[^"]{36,}"', b"", plain)
    resp = seller.get("/sales/new", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip" and b"<form" in gzip.decompress(resp.get_data())


def test_a_page_echoing_its_query_is_not_compressed(seller):
    # A search page carries the CSRF token beside what the URL typed: compressed, its size would leak the token.
    resp = seller.get("/sales/?q=Jane", headers=BROWSER)
    assert resp.status_code == 200 and "Content-Encoding" not in resp.headers


def test_static_assets_are_fingerprinted_and_immutable(seller):
    html = seller.get("/").get_data(as_text=True)
    urls = static_urls(html)
    assert any("css/app.css" in u for u in urls) and any("js/app.js" in u for u in urls)
    for url in urls:
        path, version = re.fullmatch(r"/static/([^?]+)\?v=([0-9a-f]{12})", url).groups()
        assert version == hashlib.sha256((config.ROOT / "static" / path).read_bytes()).hexdigest()[:12]
        resp = seller.get(url)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == IMMUTABLE
        resp.close()


def test_a_revalidated_asset_is_kept_for_a_year_too(seller):
    url = static_urls(seller.get("/").get_data(as_text=True))[0]
    first = seller.get(url)
    first.close()
    again = seller.get(url, headers={"If-None-Match": first.headers["ETag"]})
    again.close()
    assert again.status_code == 304 and again.headers["Cache-Control"] == IMMUTABLE


def test_an_old_or_missing_version_is_not_kept(seller):
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        resp = seller.get(url)
        assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-cache"
        resp.close()


def test_a_new_content_gets_a_new_version(app, seller, tmp_path, monkeypatch):
    (tmp_path / "site.css").write_text("body { color: red }")
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    monkeypatch.setattr(app, "debug", True)  # a running server reads each file once; debug mode looks again
    with app.test_request_context():
        from flask import url_for

        first = url_for("static", filename="site.css")
        (tmp_path / "site.css").write_text("body { color: blue; }")
        assert url_for("static", filename="site.css") != first


def test_the_session_cookie_is_sent_only_when_it_changes(app, seller, monkeypatch):
    seller.get("/")  # the first page may add the CSRF token to the session
    assert "Set-Cookie" not in seller.get("/").headers
    assert "Set-Cookie" not in seller.get("/sales/").headers
    real = time.time
    step = app.config["SESSION_ACTIVITY_STEP_SECONDS"]
    monkeypatch.setattr(time, "time", lambda: real() + step + 1)
    assert "Set-Cookie" in seller.get("/").headers  # the activity note moved on
    assert "Set-Cookie" not in seller.get("/").headers


def test_idle_time_counts_from_the_last_note_never_later(app, seller, monkeypatch):
    seller.get("/")
    real, step = time.time, app.config["SESSION_ACTIVITY_STEP_SECONDS"]
    idle = app.config["IDLE_TIMEOUT_MINUTES"] * 60
    monkeypatch.setattr(time, "time", lambda: real() + step - 5)  # a tap inside the step: not noted
    assert seller.get("/").status_code == 200
    monkeypatch.setattr(time, "time", lambda: real() + idle + 1)  # idle + 1 s after the note: ended
    assert seller.get("/").status_code == 302
