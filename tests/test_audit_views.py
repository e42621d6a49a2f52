"""The audit viewer, its exports, a sale's timeline, and who may see what."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import render_template

from portal.audit import record
from portal.audit.browse import EventFilter, csv_cell, escape_controls, page, timeline_for
from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.models import AuditEvent
from portal.vocab import AuditAction

from .audit_helpers import chain, fill


def last_event() -> AuditEvent:
    db.session.expire_all()
    return db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()


def seqs(html: str) -> list[int]:
    """Return the seq numbers of the events shown in the viewer's table."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return [int(n) for n in re.findall(r"<tr>\s*<td>(\d+)</td>", body)]


@pytest.fixture
def manager(store, make_user):
    return make_user("meg", "manager", store)


@pytest.fixture
def admin(make_user):
    return make_user("hqadmin", "admin")


@pytest.mark.both_dbs
def test_manager_sees_own_store_and_the_view_is_audited(client, auth, store, other_store, manager):
    fill(other_store, 2, action=AuditAction.SIGN_OUT)
    auth.sign_in("meg")
    response = client.get("/audit/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<code class="muted">auth.sign_in</code>' in html
    assert '<code class="muted">auth.sign_out</code>' not in html  # Sydney's stay in Sydney
    viewed = last_event()
    assert (viewed.action, viewed.actor_name, viewed.store_id, viewed.object_type) == (
        "audit.viewed",
        "meg",
        store.id,
        "audit_log",
    )
    assert seqs(html)[0] == viewed.seq  # the view is the newest event on the page


@pytest.mark.both_dbs
def test_manager_cannot_read_another_store(client, auth, store, other_store, manager):
    auth.sign_in("meg")
    assert client.get(f"/audit/?store={other_store.id}").status_code == 403
    assert client.get(f"/audit/export.csv?store={other_store.id}").status_code == 403
    assert client.get("/audit/export.jsonl?store=0").status_code == 403
    assert client.get(f"/audit/?store={store.id}").status_code == 200
    assert not [e for e in chain(other_store.id) if e.action.startswith("audit.")]


def test_associate_and_anonymous_are_kept_out(client, auth, store, make_user):
    assert client.get("/audit/").status_code == 302
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403


def test_admin_picks_any_store_or_head_office(client, auth, store, other_store, admin):
    fill(other_store, 1, action=AuditAction.SIGN_OUT)
    auth.sign_in("hqadmin")
    head_office = client.get("/audit/").get_data(as_text=True)
    assert '<code class="muted">store.created</code>' in head_office and "Head office: times in UTC" in head_office
    assert f'<option selected value="{other_store.id}">' in client.get(f"/audit/?store={other_store.id}").get_data(
        as_text=True
    )
    sydney = client.get(f"/audit/?store={other_store.id}").get_data(as_text=True)
    assert '<code class="muted">auth.sign_out</code>' in sydney and "Australia/Sydney" in sydney
    assert last_event().store_id == other_store.id and last_event().actor_name == "hqadmin"
    assert client.get("/audit/?store=999").status_code == 404


def test_filters_by_action_actor_object_and_dates(client, auth, store, manager, make_user):
    ann = make_user("ann", "associate", store)
    old = datetime(2025, 3, 10, 12, tzinfo=UTC)
    record(AuditAction.SIGN_OUT, actor=ann, object_type="sale", object_id="ABCDE-12345-INS", occurred_at=old)
    record(AuditAction.SIGN_IN, actor=ann, object_type="sale", object_id="ZZZZZ-99999-INS")
    db.session.commit()
    auth.sign_in("meg")

    def shown(query: str) -> set[str]:
        html = client.get("/audit/?" + query).get_data(as_text=True)
        return set(re.findall(r'<code class="muted">(auth\.[a-z_]+|user\.created|audit\.viewed)</code>', html))

    filters = client.get("/audit/").get_data(as_text=True)
    for action in AuditAction:  # the action filter speaks in words, and filters by the stored value
        assert f'<option value="{action.value}">{action.label}</option>' in filters
    assert f"{AuditAction.SIGN_OUT.label}<br>" in client.get("/audit/?action=auth.sign_out").get_data(as_text=True)
    assert shown("action=auth.sign_out") == {"auth.sign_out"}
    assert shown("actor=ANN") == {"auth.sign_out", "auth.sign_in"}
    assert shown("object_id=ABCDE-12345-INS") == {"auth.sign_out"}
    assert shown("date_from=2025-03-10&date_to=2025-03-10") == {"auth.sign_out"}
    assert shown("date_to=2025-03-09") == set()
    assert "No events match" in client.get("/audit/?date_to=2025-03-09").get_data(as_text=True)
    # Dates are the store's local days: London is on GMT in early March.
    assert last_event().details == {"end": "2025-03-10T00:00:00.000000Z"}


def test_bad_date_range_is_explained_beside_the_field(client, auth, store, manager):
    auth.sign_in("meg")
    before = len(chain(store.id))
    html = client.get("/audit/?date_from=2026-05-02&date_to=2026-05-01&actor=ann").get_data(as_text=True)
    assert 'id="date_to-error"' in html and "on or after the start date" in html
    assert 'value="ann"' in html and 'value="2026-05-02"' in html  # nothing typed is lost
    assert len(chain(store.id)) == before  # nothing was shown, so nothing was viewed


@pytest.mark.both_dbs
def test_pages_walk_the_whole_chain_without_gaps_or_repeats(client, auth, store, manager):
    fill(store, 120)
    auth.sign_in("meg")
    html = client.get("/audit/?action=auth.sign_in").get_data(as_text=True)
    first = seqs(html)
    assert len(first) == 50 and first == sorted(first, reverse=True)
    seen = list(first)
    while older := re.search(r'href="([^"]+)" rel="next"', html):
        html = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
        seen += seqs(html)
    expected = [e.seq for e in chain(store.id) if e.action == "auth.sign_in"]
    assert seen == sorted(expected, reverse=True)
    newer = re.search(r'href="([^"]+)" rel="prev"', html).group(1).replace("&amp;", "&")
    assert seqs(client.get(newer).get_data(as_text=True)) == seen[-len(seqs(html)) - 50 : -len(seqs(html))]


def test_page_cursors_in_the_service(app, store):
    fill(store, 7)
    f = EventFilter(chain_key=store.id)
    one = page(f, size=3)
    assert [e.seq for e in one.events] == [7, 6, 5] and one.newer is None and one.older == 5
    two = page(f, before=one.older, size=3)
    assert [e.seq for e in two.events] == [4, 3, 2] and two.newer == 4 and two.older == 2
    three = page(f, before=two.older, size=3)
    assert [e.seq for e in three.events] == [1] and three.older is None
    back = page(f, after=two.newer, size=3)
    assert [e.seq for e in back.events] == [7, 6, 5] and back.newer is None


@pytest.mark.both_dbs
def test_csv_export_streams_neutralises_formulas_and_escapes_controls(client, auth, store, manager):
    record(
        AuditAction.SIGN_IN,
        store_id=store.id,
        object_type="sale",
        object_id='=HYPERLINK("http://x")',
        details={"note": "line one\r\nline two\x00\x7f", "who": "+44 something", "at": "@sum"},
    )
    db.session.commit()
    auth.sign_in("meg")
    # buffered: read the stream inside the request, as a server would, before the test looks at it.
    response = client.get('/audit/export.csv?object_id==HYPERLINK("http://x")', buffered=True)
    assert response.status_code == 200 and "Content-Length" not in response.headers  # streamed
    assert response.mimetype == "text/csv" and 'filename="audit-LDN01.csv"' in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1 and text.count("\r\n") == 2  # header and one row: no raw line breaks inside cells
    row = rows[0]
    assert row["object_id"] == '\'=HYPERLINK("http://x")'
    assert "\\r\\n" in row["details"] and "\\u0000" in row["details"] and "\\u007f" in row["details"]
    assert not re.search(r"[\x00-\x1f\x7f]", text.replace("\r\n", ""))
    exported = last_event()
    assert exported.action == "audit.exported" and exported.details["format"] == "csv"


@pytest.mark.both_dbs
def test_jsonl_export_round_trips_and_verifies_offline(client, auth, store, manager):
    record(AuditAction.SIGN_IN, store_id=store.id, details={"note": "sep\u2028arator\x7f\nnewline"})
    db.session.commit()
    auth.sign_in("meg")
    response = client.get("/audit/export.jsonl", buffered=True)
    assert "Content-Length" not in response.headers and response.mimetype == "application/x-ndjson"
    text = response.get_data(as_text=True)
    assert "\u2028" not in text and "\x7f" not in text
    lines = text.splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["action"] == "audit.exported"  # the export records itself before it streams
    import hashlib

    from portal.audit.service import GENESIS_HASH, canonical

    prev = GENESIS_HASH
    for e in events:  # the export alone is enough to check the chain
        fields = {k: v for k, v in e.items() if k not in ("id", "hash")}
        assert e["prev_hash"] == prev
        assert hashlib.sha256(canonical(fields).encode()).hexdigest() == e["hash"]
        prev = e["hash"]
    assert any(e["details"].get("note") == "sep\u2028arator\x7f\nnewline" for e in events)


def test_export_keeps_memory_flat_by_streaming(app, store, monkeypatch):
    """The export reads through a cursor a batch at a time rather than loading every event."""
    import portal.audit.browse as browse

    monkeypatch.setattr(browse, "EXPORT_BATCH", 10)
    fill(store, 35)
    chunks = list(browse.export_jsonl(EventFilter(chain_key=store.id)))
    assert len(chunks) == 4 and sum(c.count("\n") for c in chunks) == 35


def test_escaping_helpers():
    assert escape_controls("a\nb\tc\x1bd\u2029") == "a\\nb\\tc\\u001bd\\u2029"
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@a", "\tx", "plain", 5, None)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@a",
        "\\tx",
        "plain",
        5,
        "",
    ]


@pytest.mark.both_dbs
def test_timeline_for_a_sale_and_its_partial(app, store, other_store, make_user):
    ann = make_user("ann", "associate", store)
    record(AuditAction.SIGN_IN, actor=ann, object_type="sale", object_id="42")
    record(AuditAction.SIGN_OUT, actor=ann, object_type="sale", object_id="42", result="failure")
    record(AuditAction.SIGN_IN, actor=ann, object_type="sale", object_id="43")
    record(AuditAction.SIGN_IN, store_id=other_store.id, object_type="sale", object_id="42")
    db.session.commit()
    events = timeline_for("sale", "42", store.id)
    assert [(e.action, e.result) for e in events] == [("auth.sign_in", "success"), ("auth.sign_out", "failure")]
    with app.test_request_context("/"):
        html = render_template("audit/_timeline.html", events=events)
    assert html.count('class="timeline-item"') == 2
    assert html.index(AuditAction.SIGN_IN.label) < html.index(AuditAction.SIGN_OUT.label)
    assert "badge-bad" in html and "ann" in html
    with app.test_request_context("/"):
        assert "Nothing recorded yet" in render_template("audit/_timeline.html", events=[])


def test_nav_and_home_link_to_the_log_for_managers_only(client, auth, store, manager, make_user):
    make_user("ann", "associate", store)
    auth.sign_in("ann")
    assert 'id="nav-audit"' not in client.get("/").get_data(as_text=True)
    auth.sign_out()
    auth.sign_in("meg")
    home = client.get("/").get_data(as_text=True)
    assert 'id="nav-audit"' in home and 'href="/audit/"' in home and "Every action, filtered and exported." in home


@pytest.mark.both_dbs
def test_every_action_in_the_app_leaves_exactly_one_event(client, auth, runner, store, make_user):
    """Sign-in, failed sign-in, sign-out, store and user creation: one event each."""
    make_user("ann", "associate", store)

    def count() -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    steps = [
        ("auth.sign_in_failed", lambda: auth.sign_in("ann", "wrong-password-1")),
        ("auth.sign_in", lambda: auth.sign_in("ann")),
        ("auth.sign_out", lambda: auth.sign_out()),
        (
            "store.created",
            lambda: runner.invoke(
                args=[
                    "create-store",
                    "--code",
                    "MAN01",
                    "--name",
                    "Manchester",
                    "--country",
                    "GB",
                    "--currency",
                    "GBP",
                    "--timezone",
                    "Europe/London",
                ]
            ),
        ),
        (
            "user.created",
            lambda: runner.invoke(
                args=[
                    "create-user",
                    "--username",
                    "bob",
                    "--name",
                    "Bob",
                    "--role",
                    "associate",
                    "--store",
                    "MAN01",
                    "--password",
                    "a-long-password-1",
                ]
            ),
        ),
    ]
    for action, step in steps:
        before = count()
        step()
        db.session.expire_all()
        assert count() == before + 1, action
        assert last_event().action == action
    assert all(r.ok for r in verify_chains())


def test_date_range_is_read_in_the_store_time_zone():
    from datetime import date

    from portal.audit.browse import day_bounds

    start, end = day_bounds(date(2026, 1, 15), date(2026, 1, 15), "Australia/Sydney")  # AEDT, UTC+11
    assert (start.isoformat(), end.isoformat()) == ("2026-01-14T13:00:00+00:00", "2026-01-15T13:00:00+00:00")
    assert day_bounds(None, None, "UTC") == (None, None)


@pytest.mark.parametrize(
    "event_filter,index",
    [
        (dict(object_id="ABCDE-12345-INS"), "ix_audit_chain_object_time"),
        (dict(actor="ann"), "ix_audit_chain_actor_time"),
        (dict(action="auth.locked"), "ix_audit_chain_action_time"),
        (dict(), "ix_audit_chain_time"),
    ],
)
def test_sqlite_plans_each_filter_on_its_index(app, store, event_filter, index):
    """A fresh SQLite database (no ANALYZE yet) still picks the right index for each viewer filter."""
    from portal.audit.browse import _conditions

    query = (
        sa.select(AuditEvent)
        .where(*_conditions(EventFilter(chain_key=store.id, **event_filter)))
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.seq.desc())
        .limit(51)
    )
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = " ".join(row[3] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert f"USING INDEX {index} " in plan


def test_sqlite_timeline_reads_only_the_objects_events(app, store):
    from portal.audit.browse import timeline_query

    query = timeline_query("sale", "42", store.id)
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    plan = " ".join(row[3] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "USING INDEX ix_audit_chain_object_time (chain_key=? AND object_id=?)" in plan


@pytest.mark.both_dbs
def test_an_xcover_reference_or_receipt_finds_its_sales_events(app, store, other_store, make_user):
    from portal.models import Sale

    ann = make_user("ann", "associate", store)
    common = dict(
        associate_id=ann.id,
        currency="GBP",
        first_name="A",
        last_name="B",
        email="a@example.com",
        phone="+447700900123",
        address1="1 High St",
        city="London",
        postcode="N1",
        country="GB",
        language="en",
    )
    sale = Sale(store_id=store.id, xcover_ref="ABCDE-12345-INS", receipt_number="T-991", **common)
    elsewhere = Sale(store_id=other_store.id, xcover_ref="ABCDE-12345-INS", **common)
    db.session.add_all([sale, elsewhere])
    db.session.flush()
    record(AuditAction.SIGN_IN, actor=ann, object_type="sale", object_id=sale.id)
    record(AuditAction.SIGN_OUT, actor=ann, object_type="user", object_id=sale.id)  # same id, not a sale
    record(AuditAction.SIGN_IN, store_id=other_store.id, object_type="sale", object_id=elsewhere.id)
    db.session.commit()
    for typed in ("abcde-12345-ins", "T-991", str(sale.id)):
        found = page(EventFilter(chain_key=store.id, object_id=typed)).events
        expected = {("sale", str(sale.id))} | ({("user", str(sale.id))} if typed == str(sale.id) else set())
        assert {(e.object_type, e.object_id) for e in found} == expected, typed
