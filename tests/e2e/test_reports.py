"""Reports on an iPad: a manager reads the store's figures and charts in both orientations and exports a table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, ipad_context, small_targets
from tests.e2e.test_sale import add_first_options, pay, start

PORTRAIT = {"width": 834, "height": 1194}
LANDSCAPE = {"width": 1194, "height": 834}
CHARTS = ("#chart-days", "#chart-people", "#chart-declines")


def box(page: Any, selector: str) -> dict[str, float]:
    """Where an element is drawn, in CSS pixels."""
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


def charts_drawn(page: Any) -> None:
    """Every chart is an SVG drawn with bars, each with its table beside or below it."""
    for chart in CHARTS:
        svg = page.locator(chart)
        expect(svg).to_be_visible()
        drawn = box(page, chart)
        assert drawn["width"] > 250 and drawn["height"] > 80, (chart, drawn)
    # Sales per associate: a light bar (quoted) and a dark one (with cover) for the associate who sold.
    assert page.locator("#chart-people rect.chart-bar-light").count() >= 1
    assert page.locator("#chart-days rect.chart-bar").count() == page.locator("#table-days tbody tr").count()
    assert small_targets(page) == []


def test_a_manager_reads_the_stores_report_on_an_ipad_in_both_orientations(
    sign_in: Callable[[str], Any], browser: Any, playwright_instance: Any, live_server: LiveServer
) -> None:
    # An associate books cover at the counter on another iPad, so today's report has a sale with cover.
    context = ipad_context(browser, playwright_instance, live_server)
    counter = context.new_page()
    counter.goto("/auth/sign-in")
    counter.get_by_label("Username").fill("ldn.alex")
    counter.get_by_label("Password").fill("counter-demo-2026")
    counter.get_by_role("button", name="Sign in").tap()
    counter.wait_for_url(lambda url: "/auth/sign-in" not in url)
    start(counter)
    add_first_options(counter)
    pay(counter, receipt="T-REPORT-1")
    expect(counter.locator("#sale-status")).to_have_text("Covered", timeout=30000)
    context.close()

    page = sign_in("ldn.manager")
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: problems.append(r.url) if not r.url.startswith(live_server.url) else None)
    page.locator("#nav-reports").tap()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    page.get_by_role("link", name="Today", exact=True).tap()
    page.wait_for_url("**period=today**")
    assert "Today" in page.locator("#report-scope").inner_text()
    assert page.locator("#summary .attach-rate").inner_text() != "–"  # at least one customer quoted today
    assert page.locator("#summary .revenue").inner_text().startswith("£")

    page.set_viewport_size(PORTRAIT)
    charts_drawn(page)
    chart, table = box(page, "#chart-days"), box(page, "#days-section .table-wrap")
    assert table["y"] >= chart["y"] + chart["height"] - 1  # portrait: the table sits below its chart

    page.set_viewport_size(LANDSCAPE)
    charts_drawn(page)
    chart, table = box(page, "#chart-days"), box(page, "#days-section .table-wrap")
    assert table["x"] >= chart["x"] + chart["width"] - 1  # landscape: the table sits beside its chart
    assert abs(table["y"] - chart["y"]) < 40

    with page.expect_download() as download:
        page.locator("#export-days").tap()
    assert download.value.suggested_filename.startswith("report-LDN01-days-")
    assert problems == []  # nothing blocked by the Content-Security-Policy, nothing from another origin


def test_head_office_compares_the_stores(sign_in: Callable[[str], Any]) -> None:
    page = sign_in("admin")
    page.goto("/reports/?period=this_month")
    expect(page.locator("#chart-stores")).to_be_visible()
    rows = page.locator("#table-stores tbody tr").all_inner_texts()
    assert any(r.startswith("LDN01") for r in rows) and any(r.startswith("SYD01") for r in rows)
    totals = [r for r in rows if r.startswith("Total")]
    assert any("GBP" in r for r in totals) and any("AUD" in r for r in totals)  # a total per currency
    page.get_by_label("Store", exact=True).select_option(label="SYD01 · Demo Electronics Sydney")
    page.get_by_role("button", name="Show report").tap()
    page.wait_for_url("**store=**")
    assert "SYD01" in page.locator("#report-scope").inner_text()
    assert small_targets(page) == []
