"""The sandbox itself: authentication, status codes, shapes, validation, eligibility, prices, idempotency,
webhooks, faults, pages, and state shared across processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
import requests
import sqlalchemy as sa

from xcover_sandbox import catalogue
from xcover_sandbox.models import SandboxIdempotency

from ..xcover_support import LiveSandbox, booking_payload, quote_request
from .signing import HASHES, Api, Signer

# ---- authentication -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(HASHES))
@pytest.mark.parametrize("headers", [None, "date", "(request-target) date"])
def test_every_documented_signature_form_is_accepted(api: Api, algorithm: str, headers: str | None) -> None:
    response = api.call("POST", "quotes/", quote_request(), auth=Signer(api.key, api.secret, algorithm, headers))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "signer",
    [
        lambda a: Signer(a.key, "wrong-secret"),
        lambda a: Signer("other-key", a.secret),
        lambda a: Signer(a.key, a.secret, api_key_header="other-key"),
        lambda a: Signer(a.key, a.secret, urlsafe=True),
    ],
    ids=["secret", "key", "x-api-key", "urlsafe-base64"],
)
def test_wrong_signature_key_or_encoding_gets_401(api: Api, signer: Callable[[Api], Signer]) -> None:
    # URL-safe base64 only differs when the digest has + or /; try dates until one does.
    for offset in range(40):
        auth = signer(api)
        auth.when = datetime.now(UTC) - timedelta(seconds=offset)
        response = api.call("GET", "bookings/", auth=auth)
        if response.status_code != 200:
            break
    assert response.status_code == 401
    assert "Signature string does not match!" in response.text


def test_unknown_partner_code_gets_404(api: Api) -> None:
    # XCover documents 404 for an unknown partner (a signed request: the key is right, the code is not).
    response = api.call("GET", "bookings/", partner="OTHER")
    assert response.status_code == 404 and response.json()["type"] == "not_found"
    bad_signature = api.call("GET", "bookings/", partner="OTHER", auth=Signer(api.key, "wrong-secret"))
    assert bad_signature.status_code == 401


def test_a_signature_not_url_encoded_is_refused(api: Api) -> None:
    # The documented form URL-encodes the base64 (+ / = as %2B %2F %3D); raw base64 is refused.
    when = datetime.now(UTC)
    signed = Signer(api.key, api.secret, when=when)
    raw = Signer(api.key, api.secret, when=when, url_encode=False)
    assert api.call("GET", "bookings/", auth=signed).status_code == 200
    response = api.call("GET", "bookings/", auth=raw)
    assert response.status_code == 401 and "Signature string does not match!" in response.text


def test_request_target_must_match_the_path(api: Api) -> None:
    auth = Signer(api.key, api.secret, headers="(request-target) date")
    prepared = requests.Request("GET", api.url("bookings/"), auth=auth).prepare()
    response = requests.get(
        api.url("bookings"),
        headers={"Date": prepared.headers["Date"], "Authorization": prepared.headers["Authorization"]},
    )
    assert response.status_code == 401


def test_stale_date_is_refused_and_skew_is_configurable(sandbox_database_url: str) -> None:
    server = LiveSandbox(sandbox_database_url, {"XCOVER_SANDBOX_CLOCK_SKEW": 60})
    try:
        api = Api(server)
        late = Signer(api.key, api.secret, when=datetime.now(UTC) - timedelta(seconds=120))
        assert api.call("GET", "bookings/", auth=late).status_code == 401
        near = Signer(api.key, api.secret, when=datetime.now(UTC) - timedelta(seconds=30))
        assert api.call("GET", "bookings/", auth=near).status_code == 200
    finally:
        server.stop()


def test_missing_authorization_gets_401(api: Api) -> None:
    response = requests.get(api.url("bookings/"))
    assert response.status_code == 401 and "Authorization field missing" in response.json()["message"]


# ---- status codes, paths and quirks ---------------------------------------------------------------------


def test_status_codes_and_trailing_slash_forms(api: Api) -> None:
    package = api.quote()
    assert api.call("GET", f"quotes/{package['id']}").status_code == 200
    assert api.call("POST", "quotes", quote_request()).status_code == 201
    assert api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="o1").status_code == 204
    assert api.call("POST", f"bookings/{package['id']}/opt_out/", {}, idem="o2").status_code == 204
    booking = api.book()
    ins = booking["id"]
    assert api.call("GET", f"bookings/{ins}").status_code == 200
    assert api.call("POST", f"bookings/{ins}/send_email", {}, idem="e1").status_code == 202
    refused = api.call("DELETE", f"bookings/{ins}/")
    assert refused.status_code == 405 and refused.json()["type"] == "method_not_allowed"
    assert set(refused.headers["Allow"].split(", ")) >= {"GET", "POST", "PATCH"}
    assert api.call("GET", "nowhere/").json()["type"] == "not_found"


def test_quote_and_booking_shapes(api: Api) -> None:
    package = api.quote()
    assert package["status"] == "RECEIVED" and set(package["quotes"]) == {"0"}
    token = package["security_token"]
    assert token and package["pds_url"] == f"{api.server.url}/en/pds/{package['id']}?security_token={token}"
    quote_ = package["quotes"]["0"]
    uuid.UUID(quote_["id"])
    assert quote_["price"] == 145.15 and quote_["price_formatted"] == "£145.15"
    assert quote_["tax"]["taxes"] == [{"tax_amount": 15.55, "tax_code": "IPT", "tax_amount_formatted": "£15.55"}]
    assert quote_["tax"]["total_amount_without_tax"] == 129.6
    policy = quote_["policy"]
    # As XCover answers: HTML words, inclusions left to the wording, no echo of the item, nobody insured yet.
    content = policy["content"]
    assert content["disclaimer"].startswith("<p>") and content["description"].startswith("<p>")
    assert content["header"] is None and content["optout_msg"] == "" and content["inclusions"] == []
    assert policy["underwriter"]["name"] and quote_["benefits"]
    assert quote_["pds_url"].endswith(f"?policy_type=product_warranty_v1&security_token={token}")
    assert quote_["extra_fields"] == {} and quote_["insured"] is None and quote_["instalment_plans"] == []

    booking = api.call("POST", f"bookings/{package['id']}/", booking_payload(quote_["id"]), idem="b1").json()
    assert booking["status"] == "CONFIRMED" and isinstance(booking["quotes"], list)
    assert booking["quotes"][0]["can_be_cancelled"] is True and booking["quotes"][0]["insured"] is None
    holder = booking["policyholder"]
    assert holder["email"] == "ada@example.com" and holder["middle_name"] is None and holder["allow_updates"] is False
    assert list(holder)[-1] == "allow_updates" and len(holder) == 16
    assert booking["coi"]["url"].startswith(api.server.url) and "security_token=" in booking["coi"]["pdf"]
    assert booking["total_premium"] + booking["total_tax"] == pytest.approx(booking["total_price"])


def test_pending_payment_then_confirm(api: Api) -> None:
    package = api.quote()
    body = {**booking_payload(package["quotes"]["0"]["id"]), "require_payment_confirmation": True}
    assert api.call("POST", f"bookings/{package['id']}/", body, idem="p1").json()["status"] == "PENDING_PAYMENT"
    confirmed = api.call("PUT", f"bookings/{package['id']}/confirm", {}, idem="p2")
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "CONFIRMED"
    again = api.call("PUT", f"bookings/{package['id']}/confirm", {}, idem="p3")
    assert again.status_code == 422


def test_cancellation_preview_changes_nothing_until_confirmed(api: Api) -> None:
    ins = api.book()["id"]
    preview = api.call("POST", f"bookings/{ins}/cancel", {"preview": True}, idem="c1").json()
    assert preview["quotes"][0]["status"] == "CANCELLED" and preview["quotes"][0]["cancelled_at"] is None
    assert preview["total_refund"] == 145.15 and preview["cancellation_id"].endswith("-CCL")
    deadline = datetime.fromisoformat(preview["confirm_before"])
    assert timedelta(hours=23) < deadline - datetime.now(UTC) <= timedelta(hours=24)
    assert api.call("GET", f"bookings/{ins}/").json()["status"] == "CONFIRMED"
    done = api.call("POST", f"bookings/{ins}/confirm_cancellation/{preview['cancellation_id']}/", {}, idem="c2")
    assert done.status_code == 200 and done.json()["quotes"][0]["cancelled_at"]
    assert api.call("GET", f"bookings/{ins}/").json()["status"] == "CANCELLED"
    twice = api.call("POST", f"bookings/{ins}/confirm_cancellation/{preview['cancellation_id']}/", {}, idem="c3")
    assert twice.status_code == 422


def test_priced_modification_waits_for_confirm_update(api: Api) -> None:
    booking = api.book()
    ins, quote_id, price = booking["id"], booking["quotes"][0]["id"], booking["total_price"]
    change = {"quotes": [{"id": quote_id, "update_fields": {"product_price": 1500}}]}
    priced = api.call("PATCH", f"bookings/{ins}/quote_for_update", change, idem="u1")
    assert priced.status_code == 200 and priced.json()["update_id"].endswith("-UPD")
    assert priced.json()["total_price_diff"] > 0 and priced.json()["total_price_diff_formatted"].startswith("£")
    assert api.call("GET", f"bookings/{ins}/").json()["total_price"] == price
    confirmed = api.call("POST", f"bookings/{ins}/confirm_update/{priced.json()['update_id']}/", {}, idem="u2")
    assert confirmed.status_code == 201 and confirmed.json()["total_price"] > price
    assert api.call("GET", f"bookings/{ins}/").json()["total_price"] == confirmed.json()["total_price"]


def test_partial_cancellation_keeps_the_rest_in_force(api: Api) -> None:
    package = api.call("POST", "quotes/", quote_request({}, {"product_name": "Soundbar", "product_price": 299})).json()
    ids = [package["quotes"]["0"]["id"], package["quotes"]["1"]["id"]]
    api.call("POST", f"bookings/{package['id']}/", booking_payload(*ids), idem="b1")
    done = api.call(
        "POST",
        f"bookings/{package['id']}/cancel",
        {"quotes": [{"id": ids[0], "reason_for_cancellation": "No longer wanted."}]},
        idem="c1",
    )
    assert done.status_code == 200 and done.json()["cancellation_id"] is None
    after = api.call("GET", f"bookings/{package['id']}/").json()
    assert after["status"] == "CONFIRMED"
    assert {q["id"]: q["status"] for q in after["quotes"]} == {ids[0]: "CANCELLED", ids[1]: "CONFIRMED"}
    assert [q["can_be_cancelled"] for q in after["quotes"] if q["id"] == ids[1]] == [True]


def test_send_email_rules(api: Api) -> None:
    ins = api.book()["id"]
    refused = api.call("POST", f"bookings/{ins}/send_email", {"event": "BOOKING_CANCELLED"}, idem="s1")
    assert refused.status_code == 422
    assert refused.json()["errors"] == ["BOOKING_CANCELLED email can be only triggered for CANCELLED bookings."]


def test_list_bookings_paginates(api: Api) -> None:
    ids = [api.book()["id"] for _ in range(3)]
    first = api.call("GET", "bookings/?limit=2&offset=0").json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    second = requests.get(first["next"], auth=Signer(api.key, api.secret)).json()
    assert {b["id"] for b in first["results"] + second["results"]} == set(ids)


def test_quote_of_another_partner_is_not_found(live_sandbox: LiveSandbox, api: Api) -> None:
    package = api.quote()
    live_sandbox.execute(sa.text("UPDATE xcover_sandbox_package SET partner = 'OTHER'"))
    assert api.call("GET", f"quotes/{package['id']}/").status_code == 404


# ---- validation ----------------------------------------------------------------------------------------


def test_empty_quote_request_names_the_required_fields(api: Api) -> None:
    body = api.call("POST", "quotes/", {}).json()
    assert body["type"] == "validation_error" and body["message"]
    assert body["errors"] == {
        "currency": ["This field is required."],
        "request": ["This field is required."],
        "customer_country": ["This field is required."],
    }


def test_unexpected_fields_are_refused(api: Api) -> None:
    body = api.call("POST", "quotes/", {**quote_request(), "policy_version": "unknown"}).json()
    assert body["errors"] == {"policy_version": "Unexpected field"}
    item = api.call("POST", "quotes/", quote_request({"colour": "red"})).json()
    assert item["errors"] == {"request": [{"colour": "Unexpected field"}]}


@pytest.mark.parametrize(
    "field,value",
    [
        ("policy_type", "travel"),
        ("product_category", "boats"),
        ("cover_term_months", 18),
        ("product_price", -5),
        ("quantity", 0),
        ("purchase_date", (date.today() + timedelta(days=2)).isoformat()),
    ],
)
def test_item_field_errors(api: Api, field: str, value: Any) -> None:
    response = api.call("POST", "quotes/", quote_request({field: value}))
    assert response.status_code == 422 and list(response.json()["errors"]["request"][0]) == [field]


def test_policyholder_phone_must_start_with_plus(api: Api) -> None:
    package = api.quote()
    body = api.call(
        "POST",
        f"bookings/{package['id']}/",
        booking_payload(package["quotes"]["0"]["id"], phone="07700900123"),
        idem="v1",
    ).json()
    assert body == {
        "type": "validation_error",
        "message": "An API error occurred.",
        "errors": {"policyholder": {"phone": ['The phone number should start with "+" character']}},
    }


# ---- eligibility and prices ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item,reason",
    [
        ({"product_category": "jewellery"}, "does not cover"),
        ({"policy_type": "device_protection", "product_category": "appliances"}, "does not cover"),
        ({"product_price": 6000}, "priced from"),
        ({"policy_type": "device_protection", "product_category": "mobile_phones", "product_price": 20}, "priced from"),
        ({"purchase_date": (date.today() - timedelta(days=45)).isoformat()}, "more than 30 days"),
    ],
)
def test_ineligible_item_is_null_with_an_error(api: Api, item: dict[str, Any], reason: str) -> None:
    package = api.quote()  # warm-up: an eligible package is fine
    assert package["quotes"]["0"]
    response = api.call("POST", "quotes/", quote_request({}, item))
    body = response.json()
    assert response.status_code == 201 and body["quotes"]["0"] and body["quotes"]["1"] is None
    assert reason in body["errors"]["1"][0] and "0" not in body["errors"]
    assert body["total_price"] == body["quotes"]["0"]["price"]


@pytest.mark.parametrize(
    "currency,country,item,price,formatted,taxes",
    [
        (
            "AUD",
            "AU",
            {
                "policy_type": "device_protection",
                "product_category": "mobile_phones",
                "product_price": 1499,
                "cover_term_months": 12,
            },
            356.76,
            "A$356.76",
            ["GST", "STAMP_DUTY"],
        ),
        (
            "EUR",
            "DE",
            {"product_price": 1999, "cover_term_months": 36},
            475.76,
            "475,76\u00a0€",
            ["VERSICHERUNGSTEUER"],
        ),
        ("NZD", "NZ", {"product_price": 25, "cover_term_months": 12}, 5.75, "NZ$5.75", ["GST"]),  # minimum premium
        (
            "USD",
            "US",
            {
                "policy_type": "product_insurance",
                "product_category": "jewellery",
                "product_price": 12000 / 2,
                "quantity": 2,
            },
            1587.6,
            "US$1,587.60",
            ["PREMIUM_TAX"],
        ),
    ],
)
def test_prices_are_deterministic_by_type_category_term_and_country(
    api: Api, currency: str, country: str, item: dict[str, Any], price: float, formatted: str, taxes: list[str]
) -> None:
    quote_ = api.call("POST", "quotes/", quote_request(item, currency=currency, country=country)).json()["quotes"]["0"]
    assert quote_["price"] == price and quote_["price_formatted"] == formatted
    assert [t["tax_code"] for t in quote_["tax"]["taxes"]] == taxes


def test_money_formats() -> None:
    assert catalogue.fmt(1234.5, "GBP") == "£1,234.50"
    assert catalogue.fmt(1234567.891, "EUR") == "1\u202f234\u202f567,89\u00a0€"
    assert catalogue.fmt(-3, "CAD") == "-CA$3.00"


# ---- idempotency --------------------------------------------------------------------------------------


@pytest.mark.both_dbs
def test_replay_returns_409_with_the_stored_body(api: Api) -> None:
    package = api.quote()
    body = booking_payload(package["quotes"]["0"]["id"])
    first = api.call("POST", f"bookings/{package['id']}/", body, idem="same")
    again = api.call("POST", f"bookings/{package['id']}/", body, idem="same")
    assert first.status_code == 200 and again.status_code == 409 and again.json() == first.json()
    other = api.call("POST", f"bookings/{package['id']}/", {**body, "require_payment_confirmation": True}, idem="same")
    assert other.status_code == 409 and other.json()["type"] == "idempotency_error"


@pytest.mark.both_dbs
def test_keys_expire_after_48_hours(live_sandbox: LiveSandbox, api: Api) -> None:
    package = api.quote()
    assert api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="old").status_code == 204
    live_sandbox.execute(sa.update(SandboxIdempotency).values(created_at=datetime.now(UTC) - timedelta(hours=49)))
    assert api.call("POST", f"bookings/{package['id']}/opt_out", {}, idem="old").status_code == 204


def test_failed_requests_do_not_keep_the_key(api: Api) -> None:
    package = api.quote()
    bad = booking_payload(package["quotes"]["0"]["id"], phone="0770")
    assert api.call("POST", f"bookings/{package['id']}/", bad, idem="k").status_code == 422
    assert api.call("POST", f"bookings/{package['id']}/", bad, idem="k").status_code == 422


@pytest.mark.both_dbs
def test_state_and_keys_are_shared_across_processes(sandbox_database_url: str) -> None:
    one, two = LiveSandbox(sandbox_database_url), LiveSandbox(sandbox_database_url)
    try:
        a, b = Api(one), Api(two)
        package = a.quote()
        body = booking_payload(package["quotes"]["0"]["id"])
        first = a.call("POST", f"bookings/{package['id']}/", body, idem="shared")
        replay = b.call("POST", f"bookings/{package['id']}/", body, idem="shared")
        assert first.status_code == 200 and replay.status_code == 409 and replay.json()["id"] == package["id"]
        assert b.call("GET", f"bookings/{package['id']}/").json()["status"] == "CONFIRMED"
        one.fault("get_booking", "error_503")
        assert b.call("GET", f"bookings/{package['id']}/").status_code == 503  # a fault set on one, seen on two
    finally:
        one.stop()
        two.stop()


# ---- faults -------------------------------------------------------------------------------------------


def test_fault_endpoint_is_signed_and_counts_down(api: Api) -> None:
    assert requests.post(api.url("_faults"), json={"operation": "*", "mode": "error_500"}).status_code == 401
    created = api.call("POST", "_faults", {"operation": "get_booking", "mode": "error_502", "count": 2})
    assert created.status_code == 201 and created.json()["faults"][0]["remaining"] == 2
    assert [api.call("GET", "bookings/X/").status_code for _ in range(3)] == [502, 502, 404]
    api.call("POST", "_faults", {"operation": "*", "mode": "rate_limit", "count": 5, "seconds": 7})
    limited = api.call("GET", "bookings/")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert api.call("DELETE", "_faults").status_code == 204
    assert api.call("GET", "bookings/").status_code == 200
    assert api.call("POST", "_faults", {"operation": "nope", "mode": "latency"}).status_code == 422


def test_decline_fault_and_magic_name(api: Api) -> None:
    package = api.quote()
    declined = api.call(
        "POST",
        f"bookings/{package['id']}/",
        booking_payload(package["quotes"]["0"]["id"], last_name="Declineson"),
        idem="d1",
    )
    assert declined.status_code == 422 and declined.json()["message"] == "Booking declined."
    api.call("POST", "_faults", {"operation": "create_booking", "mode": "decline"})
    assert (
        api.call(
            "POST", f"bookings/{package['id']}/", booking_payload(package["quotes"]["0"]["id"]), idem="d2"
        ).status_code
        == 422
    )
    assert (
        api.call(
            "POST", f"bookings/{package['id']}/", booking_payload(package["quotes"]["0"]["id"]), idem="d3"
        ).status_code
        == 200
    )


# ---- webhooks -----------------------------------------------------------------------------------------


class Listener:
    """A local webhook receiver that records signed posts; the first `fail_first` answers are 500."""

    def __init__(self, fail_first: int = 0, ok_status: int = 200) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self.fail_first = fail_first
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with listener.arrived:
                    listener.events.append(
                        {
                            "headers": requests.structures.CaseInsensitiveDict(self.headers.items()),
                            "body": json.loads(body),
                        }
                    )
                    failing = listener.fail_first > 0
                    listener.fail_first -= 1
                    listener.arrived.notify_all()
                self.send_response(500 if failing else ok_status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int) -> list[dict[str, Any]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.events) >= count, timeout=10)
        return self.events

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_webhook(headers: Any, secret: str) -> bool:
    """Verify as XCover's docs tell partners to: strip, split, URL-decode, HMAC-SHA256 over `date: ...`."""
    params = dict(part.split("=", 1) for part in headers["Authorization"].removeprefix("Signature ").split(","))
    sent = unquote(params["signature"].strip('"'))
    digest = hmac.new(secret.encode(), f"date: {headers['Date']}".encode(), hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    return params["algorithm"].strip('"') == "hmac-sha256" and hmac.compare_digest(sent, expected)


def test_webhooks_are_signed_and_retried(sandbox_database_url: str) -> None:
    listener = Listener(fail_first=1)
    server = LiveSandbox(
        sandbox_database_url,
        {
            "XCOVER_SANDBOX_WEBHOOK_URL": listener.url,
            "XCOVER_SANDBOX_WEBHOOK_KEY": "wh-key",
            "XCOVER_SANDBOX_WEBHOOK_SECRET": "wh-secret",
            "XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY": 0.01,
        },
    )
    try:
        api = Api(server)
        ins = api.book()["id"]
        first, retried = listener.wait_for(2)
        assert first["body"] == retried["body"] and retried["body"]["event"] == "BOOKING_CREATED"
        assert retried["body"]["payload"]["id"] == ins and retried["headers"]["X-Api-Key"] == "wh-key"
        assert verify_webhook(retried["headers"], "wh-secret") and not verify_webhook(retried["headers"], "other")
        api.call("PATCH", f"bookings/{ins}/", {"policyholder": {"phone": "+447700900999"}}, idem="m1")
        assert listener.wait_for(3)[2]["body"]["event"] == "BOOKING_UPDATED"
        api.call("POST", f"bookings/{ins}/cancel", {}, idem="x1")
        assert listener.wait_for(4)[3]["body"]["event"] == "BOOKING_CANCELLED"
    finally:
        server.stop()
        listener.stop()


@pytest.mark.parametrize(
    "listener_kwargs, delivered, attempts",
    [
        ({"fail_first": 10}, False, 3),  # gives up after three attempts
        ({"ok_status": 204}, True, 1),  # any 2xx is a delivery
    ],
)
def test_webhook_attempts(listener_kwargs: dict[str, int], delivered: bool, attempts: int) -> None:
    from xcover_sandbox.webhooks import deliver

    listener = Listener(**listener_kwargs)
    try:
        assert deliver(listener.url, "k", "s", "BOOKING_CREATED", {"id": "X"}, retry_delay=0.01) is delivered
        assert len(listener.events) == attempts
    finally:
        listener.stop()


# ---- pages --------------------------------------------------------------------------------------------


def test_wording_and_certificate_pages_work_offline(api: Api) -> None:
    booking = api.book()
    pds = requests.get(booking["quotes"][0]["pds_url"])
    assert pds.status_code == 200 and "Extended Warranty" in pds.text and "What is not covered" in pds.text
    coi = requests.get(booking["coi"]["url"])
    assert coi.status_code == 200 and booking["id"] in coi.text and "Ada Lovelace" in coi.text
    pdf = requests.get(booking["coi"]["pdf"])
    assert pdf.headers["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-1.4")
    assert booking["id"].encode() in pdf.content and pdf.content.rstrip().endswith(b"%%EOF")
    assert requests.get(booking["coi"]["url"].split("?")[0] + "?security_token=guess").status_code == 404
    assert requests.get(booking["account_url"]).status_code == 200


def test_policy_wording_needs_the_security_token(api: Api) -> None:
    package = api.call("POST", "quotes/", quote_request({"serial_number": "SN-4242"})).json()
    for link in (package["pds_url"], package["quotes"]["0"]["pds_url"]):
        shown = requests.get(link)
        assert shown.status_code == 200 and "SN-4242" in shown.text and "OLED TV 55" in shown.text
    bare = package["pds_url"].split("?")[0]
    for query in ("", "?security_token=guess", "?policy_type=product_warranty_v1", "?security_token=%C3%A9"):
        refused = requests.get(bare + query)
        assert refused.status_code == 404 and "SN-4242" not in refused.text and refused.json()["type"] == "not_found"


@pytest.mark.parametrize(
    "utc_now,latest",
    [
        (datetime(2026, 11, 27, 9, 59, tzinfo=UTC), date(2026, 11, 27)),
        (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), date(2026, 11, 28)),  # Kiribati has reached the 28th
        (datetime(2026, 11, 27, 23, 30, tzinfo=UTC), date(2026, 11, 28)),
    ],
)
def test_purchase_date_is_judged_by_the_latest_local_date_on_earth(utc_now: datetime, latest: date) -> None:
    """A Sydney store's 'today' is often UTC's tomorrow: that is not a purchase in the future."""
    from xcover_sandbox.service import _check_item, latest_local_date

    assert latest_local_date(utc_now) == latest
    item = {"purchase_date": latest.isoformat()}
    assert "purchase_date" not in _check_item(item, latest_local_date(utc_now), partial=True)[1]
    item = {"purchase_date": (latest + timedelta(days=1)).isoformat()}
    assert "purchase_date" in _check_item(item, latest_local_date(utc_now), partial=True)[1]
