"""Scale-out: two portal instances (two gunicorn process trees) on one PostgreSQL, twenty associates selling at once.

Each associate has their own iPad (cookies) and signs in to one of the two instances, ten on each; all of them sell
at the same time, in two stores, so both stores' audit chains are appended to from both instances at once. After
it: every sale booked, each booking made once at XCover, no chain forked (`flask audit verify` from either
instance), no error anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal import create_app
from portal.extensions import db
from portal.stores import create_user

from . import flows
from .flows import Stack
from .support import (
    DEMO_PASSWORD,
    FAST_HASHING,
    Counter,
    Databases,
    PortalServer,
    SandboxServer,
    sqlalchemy_url,
    stop_all,
)
from .test_faults import at_once

ASSOCIATES = 20
SALES_EACH = 2
STORES = {"LDN01": "+44 7400 123456", "SYD01": "+61 412 345 678"}


def people(n: int) -> list[tuple[str, str]]:
    """(username, store) of the n associates: three in four in London, the rest in Sydney."""
    return [(f"assoc{i:02d}", "SYD01" if i % 4 == 3 else "LDN01") for i in range(n)]


@pytest.fixture(scope="module")
def two_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PortalServer, PortalServer, Stack]]:
    """Two portal instances and one sandbox, all on PostgreSQL; the twenty associates created."""
    workdir = tmp_path_factory.mktemp("scale-out")
    dbs = Databases("postgresql", workdir)
    sandbox = SandboxServer(workdir, dbs.new("sandbox"))
    url = dbs.new("portal")
    first = PortalServer(workdir, url, sandbox.url, name="portal-a")
    second = PortalServer(workdir, url, sandbox.url, name="portal-b")
    try:
        sandbox.start()
        first.release()  # once per release, not per instance
        hashing = {name: int(value) for name, value in FAST_HASHING.items()}
        app = create_app({"SQLALCHEMY_DATABASE_URI": sqlalchemy_url(url), "TESTING": True, **hashing})
        with app.app_context():
            for username, store in people(ASSOCIATES):
                create_user(username, username.title(), "associate", DEMO_PASSWORD, store)
            db.session.commit()
            db.engine.dispose()
        first.start()
        second.start()
        for server in (sandbox, first, second):
            server.wait_up()
        yield first, second, Stack(first, sandbox)
    finally:
        stop_all(first, second, sandbox)
        dbs.drop()


def shift(server: PortalServer, username: str, store: str) -> list[int]:
    """One associate's shift: sign in, then sell and book SALES_EACH sales; their ids."""
    counter = Counter(server.url)
    counter.sign_in(username)
    sales = []
    for _ in range(SALES_EACH):
        body = flows.new_sale_body(counter)
        body = [(k, STORES[store] if k == "phone" else v) for k, v in body]
        resp = counter.post("/sales/new", body, allowed=frozenset({302}))
        sale_id = flows.sale_id_in(flows.location(resp))
        flows.choose(counter, sale_id)
        booked = counter.post(f"/sales/{sale_id}/payment", flows.payment_body(counter, sale_id), frozenset({302}))
        assert flows.location(booked) == f"/sales/{sale_id}", flows.location(booked)
        assert "Covered" in counter.get(f"/sales/{sale_id}").text
        sales.append(sale_id)
    return sales


def test_twenty_associates_on_two_instances_book_each_sale_once(
    two_instances: tuple[PortalServer, PortalServer, Stack],
) -> None:
    first, second, stack = two_instances
    crew = people(ASSOCIATES)
    done = at_once(
        {
            username: lambda u=username, s=store, i=i: shift((first, second)[i % 2], u, s)
            for i, (username, store) in enumerate(crew)
        }
    )
    sales = [sale_id for ids in done.values() for sale_id in ids]
    assert len(sales) == len(set(sales)) == ASSOCIATES * SALES_EACH
    assert first.rows("SELECT status, count(*) FROM sale GROUP BY status") == [("booked", ASSOCIATES * SALES_EACH)]
    by_store = dict(
        first.rows("SELECT s.code, count(*) FROM sale JOIN store s ON s.id = sale.store_id GROUP BY s.code")
    )
    assert by_store == {"LDN01": 15 * SALES_EACH, "SYD01": 5 * SALES_EACH}
    flows.assert_settled(stack)
    report = flows.audit_verify(second)
    assert report.count("chain intact") == 3, report  # head office and both stores
    for server in (first, second):
        assert "WORKER TIMEOUT" not in server.log_text()
        assert [line for line in server.access_log() if line["status"] >= 500] == []
