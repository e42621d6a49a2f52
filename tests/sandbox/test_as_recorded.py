"""The sandbox answers as XCover's recorded staging traffic does, and refuses what XCover refuses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from ..xcover_support import LiveSandbox, booking_payload, quote_request
from .signing import Api
from .test_api import Listener

# Recorded: u7Thv-d6C5P-8FAQW-CCL and joaiJ-Cao42-o9ulM-UPD.
CHANGE_ID = r"[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-[A-Za-z0-9]{5}-"


def test_unknown_keys_inside_the_policyholder_are_unexpected_fields(api: Api) -> None:
    package = api.quote()
    body = booking_payload(package["quotes"]["0"]["id"], language="en", nickname="Ada")
    response = api.call("POST", f"bookings/{package['id']}/", body, idem="b1")
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "policyholder": {"language": "Unexpected field", "nickname": "Unexpected field"}
    }
    ins = api.book()["id"]
    changed = api.call("PATCH", f"bookings/{ins}/", {"policyholder": {"language": "fr"}}, idem="m1")
    assert changed.status_code == 422 and changed.json()["errors"] == {"policyholder": {"language": "Unexpected field"}}


def test_insured_is_null_unless_sent_then_echoed_with_ids(api: Api) -> None:
    package = api.call("POST", "quotes/", quote_request({}, {"product_name": "Soundbar", "product_price": 299})).json()
    first, second = package["quotes"]["0"]["id"], package["quotes"]["1"]["id"]
    body = {
        **booking_payload(),
        "quotes": [{"id": first, "insured": [{"first_name": "Grace", "last_name": "Hopper"}]}, {"id": second}],
    }
    booking = api.call("POST", f"bookings/{package['id']}/", body, idem="b1").json()
    insured, nobody = booking["quotes"][0]["insured"], booking["quotes"][1]["insured"]
    assert nobody is None and len(insured) == 1 and insured[0]["id"]
    assert insured[0] | {"id": None} == {
        "id": None,
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": None,
        "region": None,
        "age": None,
    }


def test_confirm_update_answers_201_with_total_price_diff(api: Api) -> None:
    booking = api.book()
    change = {"quotes": [{"id": booking["quotes"][0]["id"], "update_fields": {"product_price": 1500}}]}
    priced = api.call("PATCH", f"bookings/{booking['id']}/quote_for_update", change, idem="u1").json()
    assert re.fullmatch(CHANGE_ID + "UPD", priced["update_id"])
    done = api.call("POST", f"bookings/{booking['id']}/confirm_update/{priced['update_id']}/", {}, idem="u2")
    assert done.status_code == 201
    assert done.json()["total_price_diff"] == priced["total_price_diff"] > 0
    assert done.json()["total_price_diff_formatted"] == priced["total_price_diff_formatted"]


def test_a_cancellation_preview_looks_as_recorded(api: Api) -> None:
    ins = api.book()["id"]
    preview = api.call("POST", f"bookings/{ins}/cancel", {"preview": True}, idem="c1").json()
    assert re.fullmatch(CHANGE_ID + "CCL", preview["cancellation_id"])
    assert preview["status"] == "CANCELLED"
    quote_ = preview["quotes"][0]
    assert (
        quote_["status"] == "CANCELLED"
        and quote_["cancelled_at"] is None
        and quote_["policy_cancellation_date"] is None
    )
    assert preview["confirm_before"].endswith("Z")
    assert api.call("GET", f"bookings/{ins}/").json()["status"] == "CONFIRMED"
    done = api.call("POST", f"bookings/{ins}/confirm_cancellation/{preview['cancellation_id']}/", {}, idem="c2").json()
    assert done["cancellation_id"] is None and done["confirm_before"] is None
    assert done["quotes"][0]["policy_cancellation_date"] and done["quotes"][0]["cancelled_at"]


def test_cooling_off_is_per_policy_type(api: Api) -> None:
    days = {}
    for policy_type, category in (("product_warranty", "electronics"), ("device_protection", "mobile_phones")):
        package = api.call(
            "POST", "quotes/", quote_request({"policy_type": policy_type, "product_category": category})
        ).json()
        ins = package["id"]
        api.call("POST", f"bookings/{ins}/", booking_payload(package["quotes"]["0"]["id"]), idem=f"b-{ins}")
        preview = api.call("POST", f"bookings/{ins}/cancel", {"preview": True}, idem=f"c-{ins}").json()["quotes"][0]
        ends = datetime.fromisoformat(preview["policy_coolingoff_date"])
        days[policy_type] = round((ends - datetime.now(UTC)) / timedelta(days=1))
    assert days == {"product_warranty": 30, "device_protection": 14}


def test_an_open_ended_policy_has_null_end_duration_and_cover_amount(api: Api) -> None:
    package = api.call(
        "POST", "quotes/", quote_request({"policy_type": "device_protection", "product_category": "mobile_phones"})
    ).json()
    quote_ = package["quotes"]["0"]
    assert quote_["policy_end_date"] is None and quote_["duration"] is None and quote_["cover_amount"] is None
    assert quote_["policy_start_date"] and quote_["price"] > 0


def test_disclaimers_are_html_with_entities(api: Api) -> None:
    package = api.call("POST", "quotes/", quote_request({"policy_type": "product_insurance"})).json()
    content = package["quotes"]["0"]["policy"]["content"]
    assert content["disclaimer"].startswith("<p>Accidental Damage &amp; Theft Protection is arranged")
    assert "<strong>" in content["disclaimer"] and "<br>" in content["disclaimer"]


def test_webhooks_carry_the_slim_documented_payload(sandbox_database_url: str) -> None:
    listener = Listener()
    server = LiveSandbox(
        sandbox_database_url,
        {
            "XCOVER_SANDBOX_WEBHOOK_URL": listener.url,
            "XCOVER_SANDBOX_WEBHOOK_KEY": "wh-key",
            "XCOVER_SANDBOX_WEBHOOK_SECRET": "wh-secret",
        },
    )
    try:
        booking = Api(server).book()
        event = listener.wait_for(1)[0]["body"]
    finally:
        server.stop()
        listener.stop()
    assert set(event) == {"event", "payload"} and event["event"] == "BOOKING_CREATED"
    payload = event["payload"]
    # No event id, no policyholder, no links: ids, status, totals and a short list of quotes.
    assert set(payload) == {
        "id",
        "status",
        "currency",
        "total_price",
        "total_price_formatted",
        "partner_transaction_id",
        "quotes",
    }
    assert payload["id"] == booking["id"] and payload["total_price"] == booking["total_price"]
    (quote_,) = payload["quotes"]
    assert set(quote_) == {
        "id",
        "policy_start_date",
        "policy_end_date",
        "status",
        "price",
        "price_formatted",
        "policy",
        "duration",
        "total_renewed_times",
    }
    assert set(quote_["policy"]) == {"policy_type", "policy_name", "policy_version"}
    assert "ada@example.com" not in str(event)


def test_an_offers_style_nested_item_is_served_and_its_errors_named_as_sent(api: Api) -> None:
    item = {
        "policy_type": "product_warranty",
        "policy_type_version": 1,
        "purchase_date": datetime.now(UTC).date().isoformat(),
        "product": {"sku": "S1", "title": "OLED TV", "quantity": 1, "retail_value": 899.99, "category": "electronics"},
    }
    body = {
        "currency": "GBP",
        "customer_country": "GB",
        "request": [{**item, "product": {**item["product"], "term": 24}}],
    }
    package = api.call("POST", "quotes/", body)
    assert package.status_code == 201 and package.json()["quotes"]["0"]["price"] == 145.15
    wrong = {**item, "product": {**item["product"], "term": 24, "retail_value": -1, "colour": "red"}}
    refused = api.call("POST", "quotes/", {**body, "request": [wrong]})
    assert refused.status_code == 422
    assert refused.json()["errors"] == {
        "request": [
            {"product": {"retail_value": ["Ensure this value is greater than 0."], "colour": "Unexpected field"}}
        ]
    }
    no_term = api.call("POST", "quotes/", {**body, "request": [item]})
    assert no_term.json()["errors"] == {"request": [{"product": {"term": ["This field is required."]}}]}
