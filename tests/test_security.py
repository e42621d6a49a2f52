"""Security headers, CSRF and error pages."""
import pytest


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


def test_request_id_is_echoed_when_sane(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id;drop"}).headers["X-Request-ID"] != "bad id;drop"


def test_post_without_csrf_token_is_refused(client, store, make_user):
    make_user("ann", "associate", store)
    response = client.post("/auth/sign-in", data={"username": "ann", "password": "correct-horse-battery"})
    assert response.status_code == 400
    assert "This form expired" in response.get_data(as_text=True)


def test_every_post_route_requires_csrf(app, client):
    """No state-changing route is exempt from CSRF protection."""
    from portal.extensions import csrf
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.endpoint.startswith("sandbox"):
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
