"""The benchmark code runs end to end on small inputs (timings are not checked: that is bench/'s job)."""

import re

import pytest

from bench import audit, http, reports, scale, signin


def test_audit_benchmark_runs_on_a_thousand_events(tmp_path):
    path = audit.run("sqlite", events=1000, out=tmp_path, requests=20)
    text = path.read_text()
    assert path.name == "audit-sqlite.md"
    for heading in ("## Machine", "## Cost per audited request", "## Verify", "## Viewer queries", "## Export"):
        assert heading in text
    # The synthetic chain, the 20 people's user.created events, 20 warm-up and 20 timed record() calls, then 20
    # sale-like transactions of 7 events each.
    assert "over 1,200 events: **" in text
    assert re.search(r"\*\*[0-9.]+ ms per event\*\*", text) and "events per CPU-second" in text
    assert re.search(r"\*\*one append -?[0-9.]+ ms\*\*", text)
    assert re.search(r"\| newest page, no filter \| [0-9.]+ \| 50 \|", text)
    assert re.search(r"\| object = one XCover reference \| [0-9.]+ \| [1-9]\d* \|", text)


def test_reports_benchmark_runs_on_a_thousand_sales(tmp_path):
    path = reports.run("sqlite", sales=1000, out=tmp_path, runs=2)
    text = path.read_text()
    assert path.name == "reports-sqlite.md"
    for heading in ("## Machine", "## Data", "## The Reports page"):
        assert heading in text
    assert "with 1,000 sales over the last 365 days" in text
    # The whole year holds every quoted sale of the thousand (drafts are never quoted).
    year = r"\| the whole year \(366 days, every sale\) \| (9\d\d) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$"
    assert re.search(year, text, re.MULTILINE)  # the page's timings, then the build's alone


@pytest.mark.e2e
def test_sign_in_flood_benchmark_runs_against_a_real_gunicorn(tmp_path):
    path = signin.run("sqlite", rate=4, seconds=1, out=tmp_path)
    text = path.read_text()
    assert path.name == "signin-sqlite.md"
    for heading in ("## Machine", "## Method", "## Associate's page", "## Bogus sign-ins", "## A person signing in"):
        assert heading in text
    for label, _ in signin.SCENARIOS:
        assert re.search(rf"\| {re.escape(label)} \| [1-9]\d* \| \d+ \| \d+ \| \d+ \| \d+ \|", text), label
    # The flood reached the server: every bogus sign-in has an outcome, none failed to connect.
    assert re.search(r"\| flood, default bound \(SIGN_IN_CONCURRENCY=1\) \| [^|]*(refused|429)[^|]* \|", text)


def test_scale_benchmark_runs_on_small_stores(tmp_path):
    path = scale.run("sqlite", [10, 60], requests=2, out=tmp_path)
    text = path.read_text()
    assert path.name == "scale-sqlite.md" and "## Machine" in text and "| page | 10 | 60 |" in text
    for label in ("home (today's latest 20)", "search: XCover reference", "search: phone as said"):
        assert re.search(rf"\| {re.escape(label)} \| [0-9.]+ \| [0-9.]+ \|", text), label


@pytest.mark.e2e
def test_http_benchmark_runs_against_real_gunicorns(tmp_path):
    path = http.run("sqlite", seconds=1, connections=2, associates=2, each=1, out=tmp_path)
    text = path.read_text()
    assert path.name == "http-sqlite.md"
    for label in (
        "bare Flask (before)",
        http.TYPICAL,
        "home",
        "options (2 products)",
        "booked sale page (2 policies, QR)",
    ):
        assert re.search(rf"\| {re.escape(label)} \| [0-9,]+ \| [0-9.]+", text), label
    assert "**2 sales in" in text and "0 errors" in text
    assert "(double bookings): **0**" in text
