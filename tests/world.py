"""One app per test module, on SQLite or PostgreSQL, holding one object of each kind in two stores.

Built through the real screens against the mounted sandbox, so every object is what a person would leave:
store A (London) has a sale in each status a counter reaches (draft after a failed quote, quoted, declined,
booked, failed, outcome unknown), a return waiting for a manager, a quoted correction, the exceptions those
leave, a catalogue draft with its categories and a person to manage. Store B (Sydney) has its own people and
a booked sale. Used by tests/test_routes.py, tests/test_fuzz.py and tests/test_no_card_data.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.extensions import db
from portal.models import Correction, PolicyReturn, Sale, Store, User
from portal.stores import create_store, create_user
from tests import card_scan
from tests.conftest import PASSWORD, Auth, build_stack, csrf_token, dispose
from tests.dbs import PostgresFactory, SqliteFactory
from tests.test_audit_coverage import HOOK_KEY, HOOK_SECRET, PAY, choice, fault, sale_data
from xcover_sandbox import control

# Who walks the routes: (username, role, store code or None). Head office belongs to no store.
PEOPLE = {
    "associate_a": ("alex", "associate", "LDN01"),
    "manager_a": ("meg", "manager", "LDN01"),
    "head_office": ("boss", "admin", None),
    "associate_b": ("syd.alex", "associate", "SYD01"),
    "manager_b": ("syd.meg", "manager", "SYD01"),
}
# Store A's associate whom the people routes act on (not one who walks, so disabling them locks nobody out).
TARGET_PERSON = "pat"
OVERRIDES = {
    "XCOVER_RETRY_MAX_ATTEMPTS": 1,
    "XCOVER_WEBHOOK_KEY": HOOK_KEY,
    "XCOVER_WEBHOOK_SECRET": HOOK_SECRET,
}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.both_dbs)]


@dataclass
class World:
    """The app and the ids of store A's objects (and store B's where a test needs them)."""

    app: Flask
    backend: str
    store_a: int = 0
    store_b: int = 0
    sales: dict[str, int] = field(default_factory=dict)  # status (and "cancelled"-free set) -> sale id, store A
    sale_b: int = 0
    returns: list[tuple[int, int]] = field(default_factory=list)  # (sale, return): one waiting, one approved
    paying: int = 0  # a sale whose cover is chosen, its payment not yet recorded
    booked_item: int = 0
    correction_id: int = 0
    person: int = 0
    version_id: int = 0
    category_id: int = 0

    def client(self, who: str | None = None) -> Any:
        """A fresh test client, signed in as one of PEOPLE (None: anonymous)."""
        client = self.app.test_client()
        if who is not None:
            response = Auth(client).sign_in(PEOPLE[who][0])
            assert response.status_code == 302, (who, response.status_code)
        return client


def database_urls(request: pytest.FixtureRequest, backend: str) -> tuple[str, str]:
    """A fresh portal database and sandbox database on the backend."""
    if backend == "postgresql":
        if not os.environ.get("TEST_DATABASE_URL"):
            if os.environ.get("CI"):
                pytest.fail("CI must test PostgreSQL: TEST_DATABASE_URL is not set")
            pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (scripts/pg-start.sh starts a server)")
        factory: PostgresFactory = request.getfixturevalue("postgres_factory")
        return factory.new(), factory.new_empty()
    portal: SqliteFactory = request.getfixturevalue("sqlite_factory")
    sandbox: SqliteFactory = request.getfixturevalue("sandbox_sqlite_factory")
    return portal.new(), sandbox.new()


def world_fixture(request: pytest.FixtureRequest, overrides: dict[str, Any] | None = None) -> Iterator[World]:
    """Build a World on request.param's backend; yield it inside an app context; dispose of it after."""
    portal_url, sandbox_url = database_urls(request, request.param)
    app = build_stack(portal_url, sandbox_url, {**OVERRIDES, **(overrides or {})})
    with app.app_context():
        world = World(app, request.param)
        build(world)
        yield world
    dispose(app)
    found = card_scan.take()
    assert not found, "card-number-shaped data left behind (tests/card_scan.py):\n" + "\n".join(found)


def _sell(client: Any, **extra: str) -> int:
    """Start a sale through the form; return its id."""
    token = csrf_token(client, "/sales/new")
    client.post("/sales/new", data={"csrf_token": token, **sale_data(**extra)})
    return db.session.scalar(sa.select(sa.func.max(Sale.id)))


def _post(client: Any, path: str, data: dict[str, str], form: str = "") -> Any:
    """POST with a CSRF token from `form` (default: the path)."""
    return client.post(path, data={"csrf_token": csrf_token(client, form or path), **data})


def _choose(client: Any, sale_id: int, decline: bool = False) -> None:
    """Show the options and choose (or decline) cover for every product."""
    client.get(f"/sales/{sale_id}/options")
    _post(client, f"/sales/{sale_id}/options", choice(sale_id, decline=decline))


def _pay(client: Any, sale_id: int) -> Any:
    """Record the till payment for the cover total (which books it)."""
    total = str(db.session.get(Sale, sale_id).cover_total)
    return _post(client, f"/sales/{sale_id}/payment", {**PAY, "amount_collected": total})


def _status(sale_id: int) -> str:
    """A sale's status as stored now."""
    db.session.expire_all()
    return db.session.get(Sale, sale_id).status


def build(world: World) -> None:
    """Create the stores, people and one object of each kind through the screens."""
    from portal.admin import catalogue

    app = world.app
    world.store_a = create_store("LDN01", "London", "GB", "GBP", "en", "Europe/London").id
    world.store_b = create_store("SYD01", "Sydney", "AU", "AUD", "en", "Australia/Sydney").id
    db.session.commit()
    for username, role, code in PEOPLE.values():
        create_user(username, username.title(), role, PASSWORD, code)
    world.person = create_user(TARGET_PERSON, "Pat", "associate", PASSWORD, "LDN01").id
    db.session.commit()

    seller = world.client("associate_a")
    sales = world.sales
    fault(app, "create_quote", "error_503")
    sales["draft"] = _sell(seller)
    sales["quoted"] = _sell(seller)
    sales["declined"] = _sell(seller)
    _choose(seller, sales["declined"], decline=True)
    sales["booked"] = _sell(seller)
    _choose(seller, sales["booked"])
    _pay(seller, sales["booked"])
    sales["failed"] = _sell(seller)
    _choose(seller, sales["failed"])
    fault(app, "create_booking", "decline")
    _pay(seller, sales["failed"])
    sales["outcome_unknown"] = _sell(seller)
    _choose(seller, sales["outcome_unknown"])
    with app.extensions["xcover_sandbox_app"].app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], "create_booking", "timeout_after_apply", seconds=1)
    # This booking alone gives up waiting at once (a client built with a short timeout, then the usual one again).
    waited = app.config["XCOVER_BOOKING_READ_TIMEOUT"]
    app.config["XCOVER_BOOKING_READ_TIMEOUT"] = 0.3
    app.extensions.pop("xcover", None)
    try:
        _pay(seller, sales["outcome_unknown"])
    finally:
        app.config["XCOVER_BOOKING_READ_TIMEOUT"] = waited
        app.extensions.pop("xcover", None)
    for status, sale_id in sales.items():
        assert _status(sale_id) == status, (status, _status(sale_id))

    world.paying = _sell(seller)
    _choose(seller, world.paying)
    for approved in (False, True):
        sale_id = _sell(seller)
        _choose(seller, sale_id)
        _pay(seller, sale_id)
        cover = next(c.id for c in db.session.get(Sale, sale_id).covers if c.status == "booked")
        _post(seller, f"/sales/{sale_id}/returns/new", {"covers": str(cover), "reason": "product_returned"})
        return_id = db.session.scalar(sa.select(sa.func.max(PolicyReturn.id)))
        if approved:
            page = f"/sales/{sale_id}/returns/{return_id}"
            sheet = {"username": PEOPLE["manager_a"][0], "password": PASSWORD, "decision": "approve"}
            _post(seller, f"{page}/approve-here", sheet, page)
            db.session.expire_all()
            assert db.session.get(PolicyReturn, return_id).status == "approved"
        world.returns.append((sale_id, return_id))
    booked = db.session.get(Sale, sales["booked"])
    world.booked_item = booked.items[0].id
    item = booked.items[0]
    fields = {"brand": "", "model": "", "sku": "", "price": f"{item.price:.2f}", "serial_number": "SN-9"}
    _post(seller, f"/sales/{booked.id}/items/{item.id}/correct", fields)
    world.correction_id = db.session.scalar(sa.select(sa.func.max(Correction.id)))
    assert world.correction_id

    sydney = world.client("associate_b")
    world.sale_b = _sell(sydney, phone="+61 412 345 678", country="AU", postcode="2000", city="Sydney")
    _choose(sydney, world.sale_b)
    _pay(sydney, world.sale_b)

    boss = db.session.scalar(sa.select(User).where(User.username == "boss"))
    draft = catalogue.start_draft(boss)
    db.session.commit()
    world.version_id, world.category_id = draft.id, draft.categories[0].id
    assert db.session.get(Store, world.store_a).active
