"""Search that scales: exact lookups and name prefixes on indexed, normalised keys; today's sales 20 at a time."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from portal.cli import MIGRATIONS
from portal.extensions import db
from portal.models import Sale, SaleItem, utcnow
from portal.sales import lookup


def add_sale(store, user, first="Jane", last="Doe", **values) -> Sale:
    """Store a sale directly (search does not care how it got there)."""
    sale = Sale(
        store_id=store.id,
        associate_id=user.id,
        currency="GBP",
        first_name=first,
        last_name=last,
        email=values.pop("email", f"{first}.{last}@example.com".lower()),
        phone=values.pop("phone", "+447400123456"),
        address1="1 High Street",
        city="London",
        postcode="SW1A 1AA",
        country="GB",
        language="en",
        **values,
    )
    sale.items.append(
        SaleItem(
            position=0,
            product_name="Laptop",
            category="electronics",
            price=Decimal("999.00"),
            purchase_date=date.today(),
            serial_number=values.get("serial", "") if "serial" in values else "",
        )
    )
    db.session.add(sale)
    db.session.commit()
    return sale


def ids(store, query: str) -> list[int]:
    """Search and return the ids found, in order."""
    return [line.id for line in lookup.search_sales(store, query)]


@pytest.fixture
def alex(store, make_user):
    return make_user("alex", "associate", store)


@pytest.mark.both_dbs
def test_each_kind_of_lookup_finds_its_sale_and_only_in_its_store(store, other_store, alex, make_user):
    zoe = add_sale(store, alex, "Zoë", "O'Brien-Smith", xcover_ref="ABCDE-12345-INS", receipt_number="T-100/7")
    zoe.items[0].serial_number = "SN 42-x"
    zoe.email = "Zoe.OBrien@Example.com"
    zoe.phone = "+447400123999"
    db.session.commit()
    other = add_sale(store, alex, "Sam", "Smith", xcover_ref="FGHIJ-67890-INS")
    sydney = add_sale(other_store, make_user("syd", "associate", other_store), "Zoë", "O'Brien-Smith")
    for query in (
        "ABCDE-12345-INS",
        "abcde 12345 ins",
        "abcde",  # the first block of a reference
        "t-100/7",
        "T1007",
        "sn42x",
        "zoe.obrien@example.com",
        "07400 123999",  # the number as a British customer says it
        "zoe",
        "ZOË O'B",
        "obrien",  # the surname first
        "obrien-smith z",
    ):
        assert ids(store, query) == [zoe.id], query
    assert ids(store, "smith") == [other.id]  # "smith" starts no name of Zoë's
    assert ids(store, "12345") == [] and ids(store, "nobody") == []
    assert sydney.id not in ids(other_store, "Sam")


@pytest.mark.both_dbs
def test_exact_matches_come_before_names(store, alex):
    by_name = add_sale(store, alex, "Receipt", "Person")
    by_receipt = add_sale(store, alex, "Ann", "Other", receipt_number="RECEIPT")
    assert ids(store, "receipt") == [by_receipt.id, by_name.id]


def _plans(statements: list[str], params: list) -> list[str]:
    """Return the query plan of each statement, as text."""
    conn = db.session.connection()
    plans = []
    for statement, parameters in zip(statements, params, strict=True):
        if conn.dialect.name == "sqlite":
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append(" ".join(str(r[-1]) for r in rows))
        else:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned anyway
            rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
            plans.append(" ".join(r[0] for r in rows))
    return plans


@pytest.mark.both_dbs
@pytest.mark.parametrize("query", ["ABCDE-12345-INS", "zoe.obrien@example.com", "07400 123999", "jane"])
def test_every_search_statement_is_an_index_lookup(store, alex, query):
    add_sale(store, alex, xcover_ref="ABCDE-12345-INS")
    statements, params = [], []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def collect(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM sale" in statement:
            statements.append(statement)
            params.append(parameters)

    lookup.search_sales(store, query)
    sa.event.remove(db.engine, "before_cursor_execute", collect)
    assert statements
    for plan in _plans(statements, params):
        assert re.search(r"ix_sale_store_\w+|ix_sale_item_serial_key", plan), plan
        assert not re.search(r"SCAN sale\b(?! USING)|Seq Scan on sale\b", plan), plan


@pytest.mark.both_dbs
def test_todays_sales_come_twenty_at_a_time(seller, store):
    from portal.models import User

    alex = db.session.scalar(sa.select(User).where(User.username == "alex"))
    sales = [add_sale(store, alex, f"Customer{i:02d}", "Doe") for i in range(25)]
    yesterday = add_sale(store, alex, "Old", "Sale")
    yesterday.created_at = utcnow() - timedelta(days=2)
    db.session.commit()
    home = seller.get("/").get_data(as_text=True)
    assert home.count('class="sale-link') == 20
    more = re.search(r'href="(/sales/\?before=\d+)" id="more-sales"', home).group(1)
    assert "Customer24" in home and "Customer05" in home and "Customer04" not in home
    rest = seller.get(more).get_data(as_text=True)
    assert rest.count('class="sale-link') == 5 and "Customer04" in rest and "Customer00" in rest
    assert 'id="more-sales"' not in rest and "Old" not in rest
    assert [s.id for s in lookup.todays_sales(store, limit=25).sales] == [s.id for s in reversed(sales)]
    assert seller.get("/sales/?before=99999999999999").status_code == 200  # out of range: the first page


@pytest.mark.both_dbs
def test_the_migration_fills_the_keys_of_existing_sales(store, alex):
    sale = add_sale(store, alex, "Zoë", "Doe", xcover_ref="ABCDE-12345-INS", receipt_number="t-1")
    sale_id = sale.id
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="0007")
    upgrade(directory=MIGRATIONS, revision="heads")
    row = db.session.execute(
        sa.select(Sale.ref_key, Sale.receipt_key, Sale.email_key, Sale.name_key, Sale.surname_key).where(
            Sale.id == sale_id
        )
    ).one()
    assert tuple(row) == ("ABCDE12345INS", "T1", "zoë.doe@example.com", "zoe doe", "doe zoe")


@pytest.mark.both_dbs
def test_an_exact_search_never_walks_the_store_by_time(store, alex):
    # With thousands of sales and their statistics, an OR of the lookups ordered by time led PostgreSQL to walk
    # the store's sales newest first instead of looking the keys up (200 ms at 100,000 sales).
    import random
    from zoneinfo import ZoneInfo

    from bench.scale import grow

    grow(store.id, alex.id, 0, 5000, ZoneInfo(store.timezone), random.Random(7))
    statements, params = [], []

    @sa.event.listens_for(db.engine, "before_cursor_execute")
    def collect(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM sale" in statement:
            statements.append(statement)
            params.append(parameters)

    assert len(lookup.search_sales(store, "SN001000100")) == 1
    sa.event.remove(db.engine, "before_cursor_execute", collect)
    conn = db.session.connection()
    for statement, parameters in zip(statements, params, strict=True):
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(explain + statement, parameters).all())
        assert "ix_sale_store_created" not in plan, plan
