"""No 500s from the sandbox: odd headers, odd fault settings and odd paging get a clean 4xx in XCover's shape."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from ..xcover_support import LiveSandbox
from .signing import Api, Signer

NON_ASCII = "ключ-é".encode()  # sent as raw UTF-8 bytes, as a careless client would


def error_shape(response: requests.Response, status: int, kind: str) -> None:
    """Assert the status and XCover's error body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == kind and body["message"]


@pytest.mark.parametrize("header", ["keyId", "signature", "X-Api-Key", "Date"])
def test_non_ascii_credentials_are_refused_not_crashed(api: Api, header: str) -> None:
    prepared = requests.Request("GET", api.url("bookings/"), auth=Signer(api.key, api.secret)).prepare()
    headers: dict[str, Any] = dict(prepared.headers)
    if header == "keyId":
        headers["Authorization"] = headers["Authorization"].replace(api.key, "ключ").encode()
    elif header == "signature":
        start = headers["Authorization"].index('signature="') + len('signature="')
        headers["Authorization"] = (headers["Authorization"][:start] + "é" + headers["Authorization"][start:]).encode()
    else:
        headers[header] = NON_ASCII
    response = requests.get(api.url("bookings/"), headers=headers, timeout=10)
    assert response.status_code == 401 and response.json()["type"] == "authentication_error"


def test_non_ascii_partner_code_is_refused(api: Api) -> None:
    error_shape(api.call("GET", "bookings/", partner="ДЕМО"), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        '{"operation": "*", "mode": "latency", "seconds": NaN}',
        '{"operation": "*", "mode": "latency", "seconds": "nan"}',
        '{"operation": "*", "mode": "latency", "seconds": Infinity}',
        '{"operation": "*", "mode": "latency", "seconds": 1e400}',
        '{"operation": "*", "mode": "latency", "seconds": 3600}',
        '{"operation": "*", "mode": "error_500", "count": 1000000000000000000000000}',
        '{"operation": "*", "mode": "error_500", "count": 1e400}',
        '{"operation": "*", "mode": "error_500", "count": 0}',
        '{"operation": "*", "mode": "error_500", "count": true}',
        '["not", "an", "object"]',
    ],
)
@pytest.mark.both_dbs
def test_out_of_range_faults_are_refused(live_sandbox: LiveSandbox, api: Api, body: str) -> None:
    response = requests.post(
        api.url("_faults"),
        data=body,
        headers={"Content-Type": "application/json"},
        auth=Signer(api.key, api.secret),
        timeout=10,
    )
    error_shape(response, 422, "validation_error")
    assert api.call("GET", "_faults").json() == {"faults": []}
    assert api.call("GET", "bookings/").status_code == 200  # nothing was stored that could fire


@pytest.mark.parametrize(
    "query,field",
    [
        ("offset=9223372036854775808", "offset"),
        ("offset=" + "9" * 30, "offset"),
        ("offset=abc", "offset"),
        ("limit=abc", "limit"),
    ],
)
@pytest.mark.both_dbs
def test_paging_beyond_the_database_is_refused(api: Api, query: str, field: str) -> None:
    response = api.call("GET", f"bookings/?{query}")
    error_shape(response, 422, "validation_error")
    assert list(response.json()["errors"]) == [field]


@pytest.mark.both_dbs
def test_the_largest_offset_is_an_empty_page(api: Api) -> None:
    page = api.call("GET", "bookings/?offset=2147483647")
    assert page.status_code == 200 and page.json()["results"] == []


@pytest.mark.both_dbs
def test_an_overlong_idempotency_key_is_refused(api: Api) -> None:
    package = api.quote()
    response = api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="k" * 256)
    error_shape(response, 400, "validation_error")
    assert api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="k" * 255).status_code == 204


def test_a_failure_inside_the_sandbox_is_a_json_500_and_frees_the_key(
    live_sandbox: LiveSandbox, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = api.quote()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sandbox bug")

    monkeypatch.setattr("xcover_sandbox.service.opt_out", broken)
    error_shape(api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="once"), 500, "server_error")
    monkeypatch.undo()
    assert api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="once").status_code == 204


def test_unknown_paths_and_methods_answer_json_with_allow(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.json["type"] == "not_found"
    wrong = client.delete("/partners/DEMO1/quotes/")
    assert wrong.status_code == 405 and wrong.json["type"] == "method_not_allowed"
    assert set(wrong.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_a_body_over_the_limit_is_413(api: Api) -> None:
    too_big = requests.post(
        api.url("quotes/"),
        data=b"x" * (1024 * 1024 + 1),
        auth=Signer(api.key, api.secret),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    error_shape(too_big, 413, "request_too_large")
