"""No card data anywhere: card numbers typed into every field, header and webhook, then every table, log line,
export and page scanned for a Luhn-valid run of 13 to 19 digits.

Every test app's databases and every log line are also scanned after every test of the suite (tests/card_scan.py,
wired in conftest.py); the first tests here show that scan finds what it should.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import Sale
from tests import card_scan
from tests.test_fuzz import crawl, signed
from tests.world import BACKENDS, World, world_fixture

# Test card numbers of each length and scheme, each in a disguise someone might type or paste.
CARDS = [
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "3782.822463.10005",
    "６０１１１１１１１１１１１１１１７",  # full-width digits
    "4222222222222",
    "4111\u00a01111\u00a01111\u00a01111",  # no-break spaces
    "card: 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
    "5105105105105100",
]


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    """One app and its objects for this module, per database."""
    yield from world_fixture(request)


def test_the_scan_finds_a_card_number_in_any_table_and_log_line(world):
    sale_id = world.sales["quoted"]
    before = db.session.get(Sale, sale_id).last_error
    db.session.execute(sa.update(Sale).where(Sale.id == sale_id).values(last_error="4111 1111 1111 1111"))
    db.session.commit()
    card_scan.scan_databases(world.app)
    db.session.execute(sa.update(Sale).where(Sale.id == sale_id).values(last_error=before))
    db.session.commit()
    logging.getLogger("portal.test").warning("paid with 5555555555554444")
    found = card_scan.take()
    assert any(f.startswith("portal table sale.last_error") for f in found), found
    assert any(f.startswith("log") for f in found), found


def test_machine_made_values_are_not_card_numbers():
    card_scan.note("timestamps", '<time datetime="2026-11-28T00:03:21.123456+00:00">')
    card_scan.note("uuids", "b74cc52d-4ef1-4111-1111-1111e111c11b")
    card_scan.note("digests", "7" * 64)
    assert card_scan.take() == []
    card_scan.note("typed", "my card 4111-1111-1111-1111 thanks")
    assert card_scan.take() == ["typed: 'my card ####-####-####-#### thanks'"]


def test_card_numbers_typed_everywhere_are_stored_logged_exported_and_shown_nowhere(world):
    forms = crawl(world)
    clients = {}
    sent = 0
    for endpoint, found in sorted(forms.items()):
        for form in found:
            if form.who not in clients:
                from tests.conftest import csrf_token

                client = world.client(None if form.who == "anonymous" else form.who)
                clients[form.who] = (client, csrf_token(client, "/auth/sign-in" if form.who == "anonymous" else "/"))
            client, token = clients[form.who]
            for i, name in enumerate(form.fields):
                card = CARDS[(sent + i) % len(CARDS)]
                headers = {"X-Request-ID": card}
                if form.method == "GET":
                    response = client.get(form.action, query_string={name: card}, headers=headers)
                else:
                    response = client.post(form.action, data={"csrf_token": token, name: card}, headers=headers)
                assert response.status_code < 500, (endpoint, name, response.status_code)
                card_scan.note(f"page after {form.method} {form.action} with {name}", response.get_data())
            sent += 1
    assert sent > 20  # every form with fields was found and sent to

    hook = world.app.test_client()
    ref = db.session.get(Sale, world.sales["booked"]).xcover_ref
    body = json.dumps({"event": "BOOKING_UPDATED", "payload": {"id": ref, "note": CARDS[0], "card": CARDS[1]}}).encode()
    assert hook.post("/webhooks/xcover", data=body, headers=signed(body)).status_code < 500

    # What the suite wrote: every table, the exports and the pages that show stored data.
    card_scan.scan_databases(world.app)
    head_office, _ = clients.get("head_office") or (world.client("head_office"), "")
    for store in (world.store_a, world.store_b, 0):
        for fmt in ("csv", "jsonl"):
            export: Any = head_office.get(f"/audit/export.{fmt}?store={store}", buffered=True)
            assert export.status_code == 200
            card_scan.note(f"audit export {fmt} of store {store}", export.get_data())
        card_scan.note(f"audit log of store {store}", head_office.get(f"/audit/?store={store}").get_data())
    seller, _ = clients["associate_a"]
    for sale_id in world.sales.values():
        card_scan.note(f"sale {sale_id}", seller.get(f"/sales/{sale_id}").get_data())
    card_scan.note("sales list", seller.get("/sales/").get_data())
    found = card_scan.take()
    assert not found, "\n".join(found)
