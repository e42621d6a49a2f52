"""Security headers, request ids, trusted hosts, proxies, logs, CSRF and error pages."""

import json
import logging
import re

import pytest
import sqlalchemy as sa

from .conftest import csrf_token


@pytest.mark.parametrize("path", ["/auth/sign-in", "/", "/nope", "/healthz"])
def test_security_headers_everywhere(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    for part in ("default-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert part in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain http
    assert response.headers["X-Request-ID"]


def test_hsts_over_https(client):
    response = client.get("/auth/sign-in", base_url="https://portal.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_a_clients_uuid_is_kept_as_the_request_id(client):
    given = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    [
        "4111111111111111",  # a card number, as is
        "4111-1111-1111-1111",  # a card number in its usual groups
        "41111111-1111-4111-8111-111111111111",  # a UUID whose digits spell one
        "0F8FAD5B-D9CB-469F-A165-70867728950E",  # not the canonical (lowercase) form
        "abc-123",
        "bad id;drop",
        "x" * 64,
        "{0f8fad5b-d9cb-469f-a165-70867728950e}",
    ],
)
def test_any_other_request_id_is_replaced_by_ours(client, given):
    answered = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert answered != given and UUID.fullmatch(answered)


@pytest.mark.both_dbs
def test_a_card_number_sent_as_request_id_reaches_neither_the_audit_chain_nor_the_log(
    client, auth, store, make_user, capsys
):
    from portal.extensions import db
    from portal.models import AuditEvent

    make_user("ann", "associate", store)
    token = csrf_token(client)
    for card in ("4111111111111111", "41111111-1111-4111-8111-111111111111"):
        client.post(
            "/auth/sign-in",
            data={"username": "ann", "password": "nope-nope-nope", "csrf_token": token},
            headers={"X-Request-ID": card},
        )
    ids = db.session.scalars(sa.select(AuditEvent.request_id).where(AuditEvent.action == "auth.sign_in_failed")).all()
    assert len(ids) == 2 and all(UUID.fullmatch(i) for i in ids)
    assert "41111111" not in capsys.readouterr().out


def test_post_without_csrf_token_is_refused(client, store, make_user):
    make_user("ann", "associate", store)
    response = client.post("/auth/sign-in", data={"username": "ann", "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert "This form expired" in response.get_data(as_text=True)


def test_every_post_route_requires_csrf(app, client):
    """No state-changing route is exempt from CSRF protection but XCover's signed webhook (test_webhooks.py)."""
    from portal.extensions import csrf

    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.endpoint.startswith("sandbox") and rule.endpoint != "webhooks.xcover":
            view = app.view_functions[rule.endpoint]
            assert f"{view.__module__}.{view.__name__}" not in csrf._exempt_views, rule.endpoint


def test_error_pages_use_the_layout(client):
    response = client.get("/does-not-exist")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html and 'class="topbar"' in html


def test_500_page(app, client):
    @app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/boom")
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)


def test_no_external_assets(client):
    html = client.get("/auth/sign-in").get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html
    assert "<script>" not in html and " on" + "click=" not in html


def test_an_untrusted_host_gets_a_plain_400(app, client):
    app.config["TRUSTED_HOSTS"] = ["portal.example"]
    response = client.get("/auth/sign-in", headers={"Host": "evil.example"})
    assert response.status_code == 400 and "not served at that address" in response.get_data(as_text=True)
    assert client.get("/auth/sign-in", headers={"Host": "portal.example"}).status_code == 200


def test_the_proof_of_cover_qr_code_points_at_a_trusted_host_only(app, seller, monkeypatch):
    from portal.extensions import db
    from portal.models import Sale
    from portal.sales import booking_views as views
    from tests.test_sales_views import choose_all, start_sale

    sale_id = start_sale(seller)
    choose_all(seller, sale_id)
    seller.post(
        f"/sales/{sale_id}/payment",
        data={
            "csrf_token": csrf_token(seller, f"/sales/{sale_id}/payment"),
            "payment_method": "cash",
            "receipt_number": "T-1",
            "amount_collected": "175.00",
        },
    )
    sale = db.session.get(Sale, sale_id)
    sale.coi_url = "/sandbox/xcover/documents/coi/ABC"  # the sandbox hands out root-relative links
    db.session.commit()
    drawn = []
    monkeypatch.setattr(views, "qr_svg", lambda url: drawn.append(url) or "")
    app.config["TRUSTED_HOSTS"] = ["localhost"]
    assert seller.get(f"/sales/{sale_id}", headers={"Host": "evil.example"}).status_code == 400
    assert drawn == []
    assert seller.get(f"/sales/{sale_id}").status_code == 200
    assert drawn == ["http://localhost/sandbox/xcover/documents/coi/ABC"]


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"PORTAL_TRUSTED_HOSTS": "portal.example, .stores.example"}, ["portal.example", ".stores.example"]),
        ({"SERVER_NAME": "portal.example:8443"}, ["portal.example:8443"]),
        ({"PORTAL_TRUSTED_HOSTS": "a.example", "SERVER_NAME": "b.example"}, ["a.example"]),
    ],
)
def test_trusted_hosts_come_from_the_configuration(monkeypatch, env, expected):
    from portal import config

    for name in ("PORTAL_TRUSTED_HOSTS", "SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config.trusted_hosts(production=True) == expected


def test_any_host_in_development_but_production_must_name_its_hosts(monkeypatch):
    from portal import config

    for name in ("PORTAL_TRUSTED_HOSTS", "SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    assert config.trusted_hosts(production=False) is None
    monkeypatch.setenv("PORTAL_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    with pytest.raises(RuntimeError, match="PORTAL_TRUSTED_HOSTS"):
        config.load()


def _gunicorn_settings(monkeypatch, **env):
    """Load gunicorn.conf.py the way gunicorn does, under the given environment."""
    import runpy

    from tests.conftest import ROOT

    for name in ("PROXY_COUNT", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_trusts_no_forwarded_headers_unless_proxy_count_says_so(monkeypatch):
    from gunicorn.config import Config

    settings = _gunicorn_settings(monkeypatch)
    assert settings["forwarded_allow_ips"] == ""
    config = Config()
    config.set("forwarded_allow_ips", settings["forwarded_allow_ips"])
    assert config.forwarded_allow_ips == []  # gunicorn's own default would trust 127.0.0.1
    assert _gunicorn_settings(monkeypatch, PROXY_COUNT="1")["forwarded_allow_ips"] == "127.0.0.1,::1"
    assert (
        _gunicorn_settings(monkeypatch, PROXY_COUNT="1", FORWARDED_ALLOW_IPS="10.0.0.0/8")["forwarded_allow_ips"]
        == "10.0.0.0/8"
    )


@pytest.mark.parametrize("proxies,expected", [(0, "198.51.100.7"), (1, "203.0.113.9")])
def test_the_client_address_comes_from_x_forwarded_for_only_behind_proxies(database_url, proxies, expected):
    from portal import create_app
    from tests.dbs import FAST_HASHING

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "k",
            "PROXY_COUNT": proxies,
            **FAST_HASHING,
        }
    )

    @app.route("/whoami")
    def whoami():
        from flask import request

        return f"{request.remote_addr} {request.host} {request.scheme}"

    answer = app.test_client().get(
        "/whoami",
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    )
    address, host, scheme = answer.get_data(as_text=True).split()
    assert address == expected and host == "localhost"  # X-Forwarded-Host is never believed
    assert scheme == ("https" if proxies else "http")


def test_log_lines_escape_what_would_split_or_disguise_them(app):
    from portal.logs import JsonFormatter

    typed = 'Ann\u2028{"level": "ERROR"}\u0085Bee\u202eevil\u2029 caf\u00e9 \udc80 \U000e0041'
    record = logging.LogRecord("portal", logging.INFO, __file__, 1, "typed: %s", (typed,), None)
    with app.test_request_context():
        line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1 and len(line.split("\u2028")) == 1
    for raw in ("\u2028", "\u2029", "\u0085", "\u202e", "\udc80", "\U000e0041"):
        assert raw not in line
    assert "café" in line  # readable text stays readable
    line.encode("utf-8")  # a lone surrogate would make writing the line fail
    assert json.loads(line)["msg"] == "typed: " + typed


def test_the_access_log_is_one_escaped_json_line_per_request(monkeypatch):
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from portal.logs import AccessLogger

    logger = AccessLogger(Config())
    lines = []
    monkeypatch.setattr(logger.access_log, "info", lambda line, *args: lines.append(line))
    monkeypatch.setattr(AccessLogger, "access_log_enabled", True)
    path = '/x"}\u2028\u0085\u202e'.encode().decode("latin-1")  # as WSGI hands a decoded path over
    response = SimpleNamespace(status="404 NOT FOUND", headers=[("X-Request-ID", "abc")], sent=12)
    logger.access(
        response,
        None,
        {"PATH_INFO": path, "REQUEST_METHOD": "GET", "REMOTE_ADDR": "192.0.2.1"},
        timedelta(milliseconds=7),
    )
    (line,) = lines
    assert len(line.splitlines()) == 1 and line.isascii()
    assert json.loads(line) == {
        "http": {
            "remote": "192.0.2.1",
            "method": "GET",
            "path": '/x"}\u2028\u0085\u202e',
            "status": 404,
            "bytes": 12,
            "ms": 7,
            "request_id": "abc",
        }
    }


def test_a_request_refused_for_its_csrf_token_still_has_its_request_id(client):
    response = client.post("/auth/sign-out", data={"csrf_token": "forged"})
    assert response.status_code == 400 and response.headers.get("X-Request-ID")
