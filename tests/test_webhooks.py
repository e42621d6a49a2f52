"""XCover's webhooks at /webhooks/xcover: the signature, replays, the sale's state, unknown bookings, the sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from portal.audit.verify import verify_chains
from portal.extensions import csrf, db
from portal.models import AuditEvent, Cover, PolicyReturn, Sale
from portal.policies import webhooks as webhook_service
from portal.xcover import get_client, verify_webhook
from tests.returns_support import actions_since, approve_here, book_sale, confirm, last_event_id, request_return

KEY, SECRET = "hook-key", "hook-secret"


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    return {"XCOVER_WEBHOOK_KEY": KEY, "XCOVER_WEBHOOK_SECRET": SECRET, "XCOVER_RETRY_MAX_ATTEMPTS": 1}


@pytest.fixture
def seller(app, store, make_user, auth):
    make_user("alex", "associate", store)
    make_user("meg", "manager", store)
    auth.sign_in("alex")
    return auth.client


def signed(secret: str = SECRET, key: str = KEY, date: datetime | None = None) -> dict[str, str]:
    """Headers signed the way reference section 11 describes: HMAC-SHA256 over `date: <Date>`, base64, URL-encoded."""
    when = format_datetime(date or datetime.now(UTC), usegmt=True)
    digest = hmac.new(secret.encode(), f"date: {when}".encode(), hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode(), safe="")
    return {
        "Date": when,
        "X-Api-Key": key,
        "Authorization": f'Signature keyId="{key}",algorithm="hmac-sha256",signature="{signature}"',
        "Content-Type": "application/json",
    }


def deliver(client: Any, event: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """Post a webhook as XCover would."""
    body = json.dumps({"event": event, "payload": payload})
    return client.post("/webhooks/xcover", data=body, headers=signed() if headers is None else headers)


def slim(sale: Sale, status: str, **quote_status: str) -> dict[str, Any]:
    """The documented slim payload: booking id, status, totals and a short list of quotes."""
    return {
        "id": sale.xcover_ref,
        "status": status,
        "currency": "GBP",
        "total_price": 0.0,
        "partner_transaction_id": None,
        "quotes": [
            {"id": c.quote_id, "status": quote_status.get(c.quote_id, "CONFIRMED"), "price": float(c.price)}
            for c in sale.covers
            if c.status == "booked"
        ],
    }


def xcover_events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.actor_name == "XCover")))


def test_verify_webhook_follows_the_reference_procedure_and_its_test_vector():
    # Reference section 2's vector (hmac-sha256 over `date: ...` with secret test_api_secret).
    sent = datetime(2021, 8, 29, 12, 7, 26, tzinfo=UTC)
    headers = {
        "Date": "Sun, 29 Aug 2021 12:07:26 GMT",
        "Authorization": 'Signature keyId="k",algorithm="hmac-sha256",'
        'signature="bfxytCfvFqito27v0%2FKcN1jBJsgnCReimKXdAWwoi0k%3D"',
    }
    assert verify_webhook(headers, "k", "test_api_secret", now=sent)
    assert not verify_webhook(headers, "k", "other-secret", now=sent)
    assert not verify_webhook(headers, "other-key", "test_api_secret", now=sent)
    assert not verify_webhook(headers, "k", "test_api_secret", now=sent + timedelta(hours=1))  # an old delivery
    assert not verify_webhook({**headers, "X-Api-Key": "someone-else"}, "k", "test_api_secret", now=sent)
    assert verify_webhook(signed(), KEY, SECRET) and not verify_webhook({}, KEY, SECRET)


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Content-Type": "application/json"}, "no signature"),
        (signed(secret="guessed"), "bad signature"),
        (signed(key="another-partner"), "bad signature"),
        (signed(date=datetime.now(UTC) - timedelta(hours=1)), "bad signature"),
        ({**signed(), "Authorization": "Bearer nothing"}, "bad signature"),
    ],
    ids=["missing", "wrong-secret", "wrong-key", "replayed-an-hour-later", "not-a-signature"],
)
def test_an_unsigned_or_badly_signed_webhook_is_refused_with_a_log_line(app, seller, caplog, headers, reason):
    caplog.set_level(logging.INFO)
    sale = book_sale(seller)
    caplog.clear()
    before = last_event_id()
    response = deliver(seller, "BOOKING_CANCELLED", slim(sale, "CANCELLED"), headers)
    assert response.status_code == 401
    assert f"xcover webhook refused: {reason}" in caplog.text
    assert actions_since(before) == []
    db.session.expire_all()
    assert db.session.get(Sale, sale.id).status == "booked"


@pytest.mark.parametrize("app_overrides", [{}])
def test_webhooks_are_refused_until_their_key_and_secret_are_set(app, client, caplog):
    caplog.set_level(logging.INFO)
    assert deliver(client, "BOOKING_UPDATED", {"id": "ABCDE-12345-INS"}).status_code == 401
    assert "XCOVER_WEBHOOK_KEY and XCOVER_WEBHOOK_SECRET are not set" in caplog.text


@pytest.mark.both_dbs
def test_booking_cancelled_at_xcover_cancels_the_sale_once_however_often_it_arrives(app, seller, store):
    sale = book_sale(seller)
    payload = slim(sale, "CANCELLED", **{c.quote_id: "CANCELLED" for c in sale.covers if c.quote_id})
    before = last_event_id()
    response = deliver(seller, "BOOKING_CANCELLED", payload)
    assert (response.status_code, response.json) == (200, {"status": "applied"})
    assert actions_since(before) == ["xcover.booking_cancelled"]
    (event,) = xcover_events()
    assert (event.store_id, event.object_type, event.object_id) == (store.id, "sale", str(sale.id))
    assert (event.actor_id, event.actor_role) == (None, None)
    cancelled = sorted(c.quote_id for c in sale.covers if c.status == "cancelled")
    assert sorted(event.details["cancelled"]) == cancelled
    db.session.expire_all()
    sale = db.session.get(Sale, sale.id)
    assert sale.status == "cancelled" and {c.status for c in sale.covers if c.quote_id} >= {"cancelled"}
    for _ in range(2):  # XCover retries; a repeat changes and records nothing
        response = deliver(seller, "BOOKING_CANCELLED", payload)
        assert (response.status_code, response.json) == (200, {"status": "nothing to change"})
    assert len(xcover_events()) == 1
    timeline = seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    assert "Booking cancelled at XCover" in timeline and "XCover" in timeline
    assert all(report.ok for report in verify_chains())


def test_booking_updated_with_one_policy_cancelled_keeps_the_other_covered(app, seller):
    sale = book_sale(seller)
    laptop, phone = [c for c in sale.covers if c.status == "booked"]
    deliver(seller, "BOOKING_UPDATED", slim(sale, "CONFIRMED", **{laptop.quote_id: "CANCELLED"}))
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "cancelled"
    assert db.session.get(Cover, phone.id).status == "booked"
    assert db.session.get(Sale, sale.id).status == "booked"
    assert [e.action for e in xcover_events()] == ["xcover.booking_cancelled"]


def test_booking_updated_with_a_new_price_and_end_date_updates_the_policy(app, seller):
    sale = book_sale(seller)
    laptop = next(c for c in sale.covers if c.status == "booked")
    quoted = f"{laptop.price:.2f}"
    payload = slim(sale, "CONFIRMED")
    payload["quotes"][0].update(price=199.99, price_formatted="£199.99", policy_end_date="2030-01-31T00:00:00+00:00")
    deliver(seller, "BOOKING_UPDATED", payload)
    (event,) = xcover_events()
    assert event.action == "xcover.booking_updated"
    assert event.details["changed"][laptop.quote_id]["price"] == [quoted, "199.99"]
    db.session.expire_all()
    cover = db.session.get(Cover, laptop.id)
    assert cover.price == Decimal("199.99") and cover.end_date.startswith("2030-01-31")
    assert deliver(seller, "BOOKING_UPDATED", payload).json == {"status": "nothing to change"}
    assert len(xcover_events()) == 1


def test_an_unknown_booking_or_event_gets_a_2xx_and_a_log_line(app, client, caplog):
    caplog.set_level(logging.INFO)
    # A new database already holds init-db's catalogue.published event: none may be added here.
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    response = deliver(client, "BOOKING_CANCELLED", {"id": "NOONE-00000-INS", "status": "CANCELLED"})
    assert (response.status_code, response.json) == (200, {"status": "unknown booking"})
    assert "xcover webhook BOOKING_CANCELLED NOONE-00000-INS: unknown booking" in caplog.text
    response = deliver(client, "RENEWAL_DUE", {"id": "NOONE-00000-INS"})
    assert response.status_code == 200 and "not one the portal acts on" in caplog.text
    assert client.post("/webhooks/xcover", data="not json", headers=signed()).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events_before


def test_a_waiting_return_is_closed_when_xcover_cancels_its_policy(app, seller):
    sale = book_sale(seller)
    laptop, phone = [c for c in sale.covers if c.status == "booked"]
    request_return(seller, sale, laptop.id, phone.id)
    deliver(seller, "BOOKING_UPDATED", slim(sale, "CONFIRMED", **{laptop.quote_id: "CANCELLED"}))
    db.session.expire_all()
    ret = db.session.scalar(sa.select(PolicyReturn))
    assert ret.status == "failed" and "XCover cancelled" in ret.last_error
    assert (db.session.get(Cover, laptop.id).status, db.session.get(Cover, phone.id).status) == ("cancelled", "booked")
    assert [e.action for e in xcover_events()] == ["return.failed", "xcover.booking_cancelled"]


def test_the_webhook_is_the_portals_only_csrf_exempt_route(app):
    exempt = {view for view in csrf._exempt_views}
    assert exempt == {"portal.policies.views.xcover"}
    rule = next(r for r in app.url_map.iter_rules() if r.rule == "/webhooks/xcover")
    assert rule.methods - {"OPTIONS"} == {"POST"}


@pytest.fixture
def served(app: Flask, sandbox: Flask) -> Iterator[str]:
    """The stack on a real socket, so the sandbox can post its webhooks to the portal over HTTP."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    sandbox.config.update(
        XCOVER_SANDBOX_WEBHOOK_URL=f"{url}/webhooks/xcover",
        XCOVER_SANDBOX_WEBHOOK_KEY=KEY,
        XCOVER_SANDBOX_WEBHOOK_SECRET=SECRET,
        XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY=0.05,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.both_dbs
def test_the_sandbox_delivers_its_webhooks_to_the_portal(app, seller, served, monkeypatch):
    handled: list[tuple[str, str]] = []
    real = webhook_service.handle

    def counting(event: str, payload: Any) -> Any:
        outcome = real(event, payload)
        handled.append((event, outcome.note))
        return outcome

    monkeypatch.setattr(webhook_service, "handle", counting)

    def wait_for(count: int) -> None:
        deadline = time.monotonic() + 15
        while len(handled) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(handled) >= count, handled

    sale = book_sale(seller)
    wait_for(1)  # BOOKING_CREATED: signed, taken, not acted on
    laptop, phone = [c for c in sale.covers if c.status == "booked"]
    # A return through the portal: XCover's BOOKING_UPDATED about it changes nothing more.
    request_return(seller, sale, laptop.id)
    ret = db.session.scalar(sa.select(PolicyReturn))
    approve_here(seller, ret, "meg")
    confirm(seller, db.session.get(PolicyReturn, ret.id))
    wait_for(2)
    # The customer cancels the rest on XCover's own site.
    get_client().cancel(sale.xcover_ref, idempotency_key=str(uuid.uuid4()))
    wait_for(3)
    assert [event for event, _ in handled] == ["BOOKING_CREATED", "BOOKING_UPDATED", "BOOKING_CANCELLED"]
    assert handled[1][1] == "nothing to change" and handled[2][1] == "applied"
    db.session.expire_all()
    assert db.session.get(Sale, sale.id).status == "cancelled"
    assert db.session.get(Cover, phone.id).status == "cancelled"
    assert [e.action for e in xcover_events()] == ["xcover.booking_cancelled"]
    assert xcover_events()[0].details["cancelled"] == [phone.quote_id]  # kept whole, whatever its digits spell
