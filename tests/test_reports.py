"""Report figures against hand-computed fixtures, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Store
from portal.policies.exceptions import needs_attention
from portal.reports import service
from portal.reports.periods import local_dates, offsets
from portal.vocab import CoverStatus, ReportPeriod, SaleStatus
from tests.conftest import Auth
from tests.reports_support import confirmed_return, sale

BOOKED, CANCELLED, CHOSEN = CoverStatus.BOOKED, CoverStatus.CANCELLED, CoverStatus.CHOSEN
JULY_1 = date(2026, 7, 1)
STALE = timedelta(minutes=2)


def utc(*parts: int) -> datetime:
    """A UTC instant."""
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def shop(app, store, other_store, make_user):
    """London (BST in July: local 1 July is 30 June 23:00 to 1 July 23:00 UTC) and Sydney (AEST, UTC+10)."""
    alex, sam = make_user("alex", "associate", store), make_user("sam", "associate", store)
    meg = make_user("meg", "manager", store)
    kim = make_user("kim", "associate", other_store)
    # Alex: 00:30 local on 1 July (still 30 June in UTC), one product covered and one declined (a partial decline).
    sale(
        store,
        alex,
        utc(2026, 6, 30, 23, 30),
        covers=[("warranty", "30.00", "5.00", BOOKED)],
        declines=["too_expensive"],
    )
    # Alex: a customer who declined everything.
    sale(store, alex, utc(2026, 7, 1, 10), SaleStatus.DECLINED, declines=["not_interested"])
    # Sam: covered, then returned the same day within cooling-off (the sale is cancelled; it still had cover).
    returned = sale(
        store, sam, utc(2026, 7, 1, 12), SaleStatus.CANCELLED, covers=[("damage", "50.00", "8.33", CANCELLED)]
    )
    confirmed_return(returned, meg, utc(2026, 7, 1, 15), "50.00", [True])
    # Sam: paid at the till, not covered yet: quoted, no cover, one open exception.
    sale(
        store,
        sam,
        utc(2026, 7, 1, 13),
        SaleStatus.QUOTED,
        covers=[("damage", "20.00", "3.33", CHOSEN)],
        payment_recorded_at=utc(2026, 7, 1, 13, 5),
    )
    # Outside local 1 July: 00:30 on 2 July, 23:30 on 30 June; and a draft XCover never quoted.
    sale(store, alex, utc(2026, 7, 1, 23, 30), covers=[("warranty", "99.00", "16.50", BOOKED)])
    sale(store, alex, utc(2026, 6, 30, 22, 30), covers=[("warranty", "70.00", "11.67", BOOKED)])
    sale(store, sam, utc(2026, 7, 1, 14), SaleStatus.DRAFT, quoted=False)
    # Sydney: 01:00 local on 1 July is 30 June 15:00 UTC; 1 July 15:00 UTC is already 2 July there.
    sale(other_store, kim, utc(2026, 6, 30, 15), covers=[("warranty", "40.00", "3.64", BOOKED)])
    sale(other_store, kim, utc(2026, 7, 1, 15), covers=[("warranty", "45.00", "4.09", BOOKED)])
    db.session.commit()
    return store, other_store


def build(stores, first=JULY_1, last=JULY_1):
    """The report of custom local dates."""
    return service.build(stores, ReportPeriod.CUSTOM, first, last, stale_after=STALE)


def person(report, username):
    """One person's figures (one currency in these fixtures)."""
    (row,) = [r for r in report.by_associate if r.associate.username == username]
    return row.figures


@pytest.mark.both_dbs
def test_a_stores_day_in_its_own_time_zone(shop):
    london, _ = shop
    report = build([london])
    ((currency, f),) = report.totals
    assert currency == "GBP"
    assert (f.quoted, f.covered, f.attach_rate) == (4, 2, Decimal("0.5"))
    assert (f.policies, f.revenue, f.tax, f.revenue_ex_tax, f.average) == (
        2,
        Decimal("80.00"),
        Decimal("13.33"),
        Decimal("66.67"),
        Decimal("40.00"),
    )
    assert (f.declined, f.returns, f.refunded, f.cooling_off_share, f.exceptions) == (
        2,
        1,
        Decimal("50.00"),
        Decimal(1),
        1,
    )
    alex, sam = person(report, "alex"), person(report, "sam")
    assert (alex.quoted, alex.covered, alex.revenue, alex.declined, alex.returns, alex.exceptions) == (
        2,
        1,
        Decimal("30.00"),
        2,
        0,
        0,
    )
    assert (sam.quoted, sam.covered, sam.revenue, sam.tax, sam.returns, sam.refunded, sam.exceptions) == (
        2,
        1,
        Decimal("50.00"),
        Decimal("8.33"),
        1,
        Decimal("50.00"),
        1,
    )
    assert person(report, "meg").quoted == 0  # every active seller of the store has a row
    assert [(d.day, d.quoted, d.covered) for d in report.days] == [(JULY_1, 4, 2)]
    declines = {d.reason.value: (d.products, d.customers) for d in report.declines if d.products}
    assert declines == {"too_expensive": (1, 1), "not_interested": (1, 1)}
    assert [(p.policy_type, p.policies, p.revenue) for p in report.policy_types] == [
        ("damage", 1, Decimal("50.00")),
        ("warranty", 1, Decimal("30.00")),
    ]


@pytest.mark.both_dbs
def test_each_sale_lands_on_its_local_day(shop):
    london, _ = shop
    report = build([london], JULY_1 - timedelta(days=1), JULY_1 + timedelta(days=1))
    assert [(d.day.day, d.quoted, d.covered) for d in report.days] == [(30, 1, 1), (1, 4, 2), (2, 1, 1)]
    assert report.totals[0][1].revenue == Decimal("249.00")  # 70 + 30 + 50 + 99


@pytest.mark.both_dbs
def test_head_office_sees_stores_side_by_side_and_never_adds_currencies(shop):
    london, sydney = shop
    report = build([london, sydney])
    assert [(r.store.code, r.currency, r.figures.quoted, r.figures.revenue) for r in report.by_store] == [
        ("LDN01", "GBP", 4, Decimal("80.00")),
        ("SYD01", "AUD", 1, Decimal("40.00")),
    ]
    totals = {currency: (f.quoted, f.covered, f.revenue, f.tax) for currency, f in report.totals}
    assert totals == {
        "AUD": (1, 1, Decimal("40.00"), Decimal("3.64")),
        "GBP": (4, 2, Decimal("80.00"), Decimal("13.33")),
    }
    assert [(d.day, d.quoted, d.covered) for d in report.days] == [(JULY_1, 5, 3)]  # counts add up; money never
    assert {(p.policy_type, p.currency): p.revenue for p in report.policy_types} == {
        ("damage", "GBP"): Decimal("50.00"),
        ("warranty", "GBP"): Decimal("30.00"),
        ("warranty", "AUD"): Decimal("40.00"),
    }


@pytest.mark.both_dbs
def test_a_sales_policies_and_declines_are_counted_one_by_one(app, store, make_user):
    alex = make_user("alex", "associate", store)
    # Two policies of one type and an option not taken; three products declined, two of them for one reason.
    sale(
        store,
        alex,
        utc(2026, 7, 1, 10),
        covers=[
            ("warranty", "30.00", "5.00", BOOKED),
            ("warranty", "20.00", "3.33", BOOKED),
            ("damage", "10.00", "1.67", CoverStatus.NOT_TAKEN),
        ],
        declines=["too_expensive", "too_expensive", "not_interested"],
    )
    sale(store, alex, utc(2026, 7, 1, 11), SaleStatus.DECLINED, declines=["too_expensive"])
    db.session.commit()
    summer = (date(2026, 6, 1), date(2026, 8, 31))
    assert (summer[1] - summer[0]).days + 1 > service.PER_SALE_DAYS  # PostgreSQL reads it with a plain join
    for first, last in ((JULY_1, JULY_1), summer):
        report = build([store], first, last)
        f = person(report, "alex")
        assert (f.quoted, f.covered, f.policies, f.revenue, f.tax, f.declined) == (
            2,
            1,
            2,
            Decimal("50.00"),
            Decimal("8.33"),
            4,
        )
        assert [(p.policy_type, p.policies, p.revenue, p.tax) for p in report.policy_types] == [
            ("warranty", 2, Decimal("50.00"), Decimal("8.33"))
        ]
        declines = {d.reason.value: (d.products, d.customers) for d in report.declines if d.products}
        assert declines == {"too_expensive": (3, 2), "not_interested": (1, 1)}


@pytest.mark.both_dbs
def test_a_day_across_the_clock_change(app, store, make_user):
    alex = make_user("alex", "associate", store)
    # London leaves BST at 01:00 UTC on 25 October 2026: that local day lasts 25 hours.
    sale(store, alex, utc(2026, 10, 24, 22, 59))  # 23:59 BST on the 24th
    sale(store, alex, utc(2026, 10, 24, 23, 0))  # 00:00 BST on the 25th
    sale(store, alex, utc(2026, 10, 25, 23, 59))  # 23:59 GMT on the 25th
    sale(store, alex, utc(2026, 10, 26, 0, 0))  # 00:00 GMT on the 26th
    db.session.commit()
    report = build([store], date(2026, 10, 24), date(2026, 10, 26))
    assert [(d.day.day, d.quoted) for d in report.days] == [(24, 1), (25, 2), (26, 1)]


@pytest.mark.both_dbs
def test_open_exceptions_are_the_managers_list(app, shop):
    london, _ = shop
    report = build([london])
    with app.test_request_context():
        assert report.totals[0][1].exceptions == len(needs_attention(london, STALE)) == 1


def test_presets_follow_the_stores_calendar():
    wednesday = date(2026, 7, 1)
    assert local_dates(ReportPeriod.TODAY, wednesday) == (wednesday, wednesday)
    assert local_dates(ReportPeriod.THIS_WEEK, wednesday) == (date(2026, 6, 29), wednesday)
    assert local_dates(ReportPeriod.LAST_WEEK, wednesday) == (date(2026, 6, 22), date(2026, 6, 28))
    assert local_dates(ReportPeriod.THIS_WEEK, wednesday, week_start=6) == (date(2026, 6, 28), wednesday)
    assert local_dates(ReportPeriod.THIS_MONTH, wednesday) == (wednesday, wednesday)
    assert local_dates(ReportPeriod.LAST_MONTH, wednesday) == (date(2026, 6, 1), date(2026, 6, 30))
    assert local_dates(ReportPeriod.LAST_MONTH, date(2026, 1, 15)) == (date(2025, 12, 1), date(2025, 12, 31))


def test_offsets_change_on_the_second_the_zone_does():
    found = offsets("Europe/London", utc(2026, 3, 1), utc(2026, 11, 1))
    assert found == ((utc(2026, 3, 1), 0), (utc(2026, 3, 29, 1), 3600), (utc(2026, 10, 25, 1), 0))
    assert offsets("Asia/Kolkata", utc(2026, 3, 1), utc(2026, 4, 1)) == ((utc(2026, 3, 1), 19800),)


@pytest.mark.both_dbs
def test_the_screen_shows_the_figures_and_charts(shop, client, make_user):
    london, _ = shop
    Auth(client).sign_in("meg")
    html = client.get("/reports/?period=custom&date_from=2026-07-01&date_to=2026-07-01").get_data(as_text=True)
    assert "50.0%" in html and "£80.00" in html and "£66.67" in html
    for chart in ("chart-days", "chart-people", "chart-declines"):
        assert f'<svg class="chart" id="{chart}"' in html
    assert "<script" not in html.split("<main", 1)[1].split("</main>", 1)[0]  # charts need no JavaScript
    assert "style=" not in html  # nor inline style (the CSP allows none)


def test_a_custom_period_is_checked_beside_its_fields(app, store, make_user, client):
    make_user("meg", "manager", store)
    Auth(client).sign_in("meg")
    response = client.get("/reports/?period=custom&date_from=2026-07-02&date_to=2026-07-01")
    assert response.status_code == 422
    assert "The last day must be on or after the first." in response.get_data(as_text=True)
    response = client.get("/reports/?period=custom&date_from=2025-01-01&date_to=2026-07-01")
    assert "A report covers at most 366 days." in response.get_data(as_text=True)
    assert "Enter the first day" in client.get("/reports/?period=custom").get_data(as_text=True)
    assert client.get("/reports/?period=custom&date_from=2026-07-02&date_to=2026-07-01&table=days").status_code == 422
    assert client.get("/reports/export.csv?table=days&period=custom").status_code == 400


@pytest.mark.both_dbs
def test_every_table_exports_as_audited_formula_safe_csv(shop, client, make_user):
    from portal.models import User

    db.session.execute(sa.update(User).where(User.username == "alex").values(display_name="=HYPERLINK(1)"))
    db.session.commit()
    Auth(client).sign_in("meg")
    query = "period=custom&date_from=2026-07-01&date_to=2026-07-01"
    response = client.get(f"/reports/export.csv?table=associates&{query}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "report-LDN01-associates-2026-07-01-2026-07-01.csv" in response.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0][:5] == ["Store code", "Associate", "Username", "Currency", "Customers quoted"]
    alex = next(row for row in table if row[2] == "alex")
    assert alex[1] == "'=HYPERLINK(1)"  # a leading quote: a spreadsheet shows it as text, never runs it
    assert alex[3:7] == ["GBP", "2", "1", "50.0"]
    event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.object_id, event.store_id) == ("report.exported", "associates", london_id(shop))
    assert event.details["first"] == "2026-07-01" and event.details["period"] == "custom"
    for table_name in ("stores", "days", "policy_types", "declines"):
        assert client.get(f"/reports/export.csv?table={table_name}&{query}").status_code == 200
    assert client.get(f"/reports/export.csv?table=nothing&{query}").status_code == 404


def london_id(shop) -> int:
    """The London store's id."""
    return shop[0].id


@pytest.mark.both_dbs
def test_head_office_exports_every_store_with_totals_per_currency(shop, client, make_user):
    make_user("boss", "admin")
    Auth(client).sign_in("boss")
    response = client.get("/reports/export.csv?table=stores&period=custom&date_from=2026-07-01&date_to=2026-07-01")
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert [(row[0], row[2], row[3], row[7]) for row in table[1:]] == [
        ("LDN01", "GBP", "4", "80.00"),
        ("SYD01", "AUD", "1", "40.00"),
        ("Total", "AUD", "1", "40.00"),
        ("Total", "GBP", "4", "80.00"),
    ]
    event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.store_id is None and event.details["stores"] == "all"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Store)) == 2


@pytest.mark.both_dbs
def test_every_kind_of_open_exception_is_counted_as_the_list_counts_it(app, store, make_user):
    alex = make_user("alex", "associate", store)
    now = datetime.now(UTC)
    # Declined everything (the options screen sets the sale's reason too), XCover never took the opt-out.
    sale(store, alex, now, SaleStatus.QUOTED, declines=["too_expensive"], decline_reason="too_expensive")
    # Declined everything once, then chose cover after all: no opt-out is owed.
    sale(
        store,
        alex,
        now,
        SaleStatus.QUOTED,
        covers=[("warranty", "30.00", "5.00", CHOSEN)],
        declines=["other"],
        decline_reason="other",
    )
    # XCover's answer to a booking never came; a failed booking not refunded; one refunded.
    sale(store, alex, now, SaleStatus.OUTCOME_UNKNOWN, covers=[("warranty", "30.00", "5.00", CHOSEN)])
    paid = {"payment_recorded_at": now}
    sale(store, alex, now, SaleStatus.FAILED, covers=[("warranty", "30.00", "5.00", CoverStatus.FAILED)], **paid)
    sale(
        store,
        alex,
        now,
        SaleStatus.FAILED,
        covers=[("warranty", "30.00", "5.00", CoverStatus.FAILED)],
        **paid,
        refunded_at=now,
    )
    # A booking in flight for ten minutes (stale), and one sent a second ago (not yet).
    for started in (now - timedelta(minutes=10), now):
        sale(
            store,
            alex,
            now,
            SaleStatus.BOOKING,
            covers=[("warranty", "30.00", "5.00", CHOSEN)],
            booking_started_at=started,
        )
    db.session.commit()
    report = service.build([store], ReportPeriod.TODAY, stale_after=STALE)
    with app.test_request_context():
        kinds = sorted(a.kind for a in needs_attention(store, STALE))
    assert kinds == ["failed", "opt_out", "outcome_unknown", "outcome_unknown"]
    assert report.totals[0][1].exceptions == len(kinds)


def test_head_office_before_any_store_exists(app, client, make_user):
    make_user("boss", "admin")
    Auth(client).sign_in("boss")
    response = client.get("/reports/")
    assert response.status_code == 200 and 'id="chart-days"' in response.get_data(as_text=True)
