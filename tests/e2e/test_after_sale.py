"""After the sale on an iPad: a return approved on the same iPad, a correction, the manager's queue, a webhook."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from portal import config as portal_config
from portal.xcover import build_client
from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, small_targets
from tests.e2e.test_sale import PRODUCTS, add_first_options, pay, query_sandbox, sale_id, start

MONEY = re.compile(r"£\d{1,3}(,\d{3})*\.\d{2}")


def book(page: Any, receipt: str) -> int:
    """Sell both products with cover through the screens; return the sale's id."""
    start(page, PRODUCTS)
    add_first_options(page)
    pay(page, receipt)
    expect(page.locator("#sale-status")).to_have_text("Covered")
    return sale_id(page)


def ask_for_return(page: Any, policy: str) -> None:
    """From the sale page: choose one policy and a reason, and preview the refund."""
    page.get_by_role("link", name="Return cover").tap()
    expect(page.get_by_role("heading", name=re.compile("Return cover"))).to_be_visible()
    assert small_targets(page) == []
    page.locator("label.choice", has_text=policy).tap()
    page.get_by_label("Reason").select_option("product_returned")
    page.get_by_role("button", name="Preview refund").tap()
    expect(page.locator("#return-status")).to_have_text("Awaiting manager approval")


def sandbox_quote_statuses(live_server: LiveServer, ref: str) -> list[str]:
    """The sandbox's status of each booked policy of a booking, in order."""
    import json

    ((doc,),) = query_sandbox(live_server, "SELECT doc FROM xcover_sandbox_package WHERE id = ?", ref)
    doc = json.loads(doc)
    return [q["status"] for q in doc["quotes"].values() if q and q["id"] in doc["_booked"]]


def test_one_of_two_policies_returned_with_a_managers_approval_on_the_same_ipad(
    sign_in: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = sign_in("ldn.alex")
    the_sale = book(page, "T-5001")
    ref = page.locator("#xcover-ref").inner_text()
    first_policy = page.locator("#policies tbody tr").first.locator("td").first.inner_text().split("\n")[0]
    ask_for_return(page, PRODUCTS[0]["name"])
    # XCover's preview: the refund per policy and in total, as the London store writes money; nothing cancelled.
    total = page.locator("#refund-total").inner_text()
    assert MONEY.fullmatch(total), total
    expect(page.locator("#refunds tbody tr")).to_have_count(1)
    expect(page.locator("#refunds tbody tr").first).to_contain_text(first_policy)
    expect(page.locator("#refunds tbody tr").first).to_contain_text("Inside")
    expect(page.locator("#return-next")).to_contain_text("Nothing is cancelled yet")
    assert sandbox_quote_statuses(live_server, ref) == ["CONFIRMED", "CONFIRMED"]
    assert small_targets(page) == []

    # The manager signs for this one approval in the sheet; the iPad stays Alex's.
    sheet = page.locator("#approval-sheet")
    sheet.get_by_label("Manager's username").tap()
    sheet.get_by_label("Manager's username").fill("ldn.manager")
    sheet.get_by_label("Manager's password").fill("not-the-password")
    sheet.get_by_role("button", name="Approve return").tap()
    expect(page.locator("#password-error")).to_contain_text("Those details did not match")
    expect(page.locator("#return-status")).to_have_text("Awaiting manager approval")
    sheet.get_by_label("Manager's username").fill("ldn.manager")
    sheet.get_by_label("Manager's password").fill(DEMO_PASSWORD)
    sheet.get_by_role("button", name="Approve return").tap()
    expect(page.locator("#return-status")).to_have_text("Approved, not yet cancelled")
    expect(page.locator("#return-next")).to_contain_text("Approved by London Manager on this iPad")
    expect(page.locator(".who-name")).to_have_text("Alex Morgan")
    assert small_targets(page) == []

    page.get_by_label("Till refund reference").fill("4111 1111 1111 1111")
    page.get_by_role("button", name="Confirm cancellation").tap()
    expect(page.locator("#refund_reference-error")).to_contain_text("This looks like a card number")
    page.get_by_label("Till refund reference").fill("R-5001")
    page.get_by_role("button", name="Confirm cancellation").tap()
    expect(page.locator("#return-status")).to_have_text("Cancelled and refunded")
    expect(page.locator("#refunded")).to_have_text(total)
    assert small_targets(page) == []

    page.get_by_role("link", name="Back to the sale").tap()
    expect(page.locator("#sale-status")).to_have_text("Covered")  # the other policy is still in force
    rows = page.locator("#policies tbody tr")
    expect(rows.nth(0).locator(".badge")).to_have_text("Cancelled")
    expect(rows.nth(1).locator(".badge")).to_have_text("Covered")
    expect(page.locator("#after-sale-list")).to_contain_text(total)
    assert sandbox_quote_statuses(live_server, ref) == ["CANCELLED", "CONFIRMED"]
    assert small_targets(page) == []

    # A serial number added to the product still covered.
    page.get_by_role("link", name=f"Correct {PRODUCTS[1]['name']}").tap()
    page.get_by_label("Serial number").fill("PX9-0042")
    page.get_by_role("button", name="Check with XCover").tap()
    expect(page.locator("#price-difference")).to_contain_text("No price difference")
    assert small_targets(page) == []
    page.get_by_role("button", name="Apply correction").tap()
    expect(page.locator("#correction-status")).to_have_text("Applied")
    page.goto("/sales/?q=PX9-0042")
    expect(page.locator("#sale-list")).to_contain_text(ref)

    # The customer cancels the rest on XCover's own site: XCover's webhook keeps the sale true.
    xcover_site = build_client(
        {
            **portal_config.DEMO_XCOVER,
            "XCOVER_BASE_URL": live_server.url + "/sandbox/xcover",
            "XCOVER_AUTH_ALGORITHM": "hmac-sha512",
            "XCOVER_CONNECT_TIMEOUT": 3.0,
            "XCOVER_READ_TIMEOUT": 5.0,
            "XCOVER_BOOKING_READ_TIMEOUT": 10.0,
            "XCOVER_TOTAL_BUDGET": 15.0,
            "XCOVER_RETRY_MAX_ATTEMPTS": 1,
            "XCOVER_RETRY_BASE_DELAY": 0.1,
            "XCOVER_RETRY_MAX_DELAY": 0.2,
        }
    )
    xcover_site.cancel(ref, idempotency_key=str(uuid.uuid4()))
    page.goto(f"/sales/{the_sale}")
    for _ in range(40):
        if page.locator("#sale-status").inner_text() == "Cover cancelled":
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#sale-status")).to_have_text("Cover cancelled")
    expect(page.locator("#policies tbody tr").nth(1).locator(".badge")).to_have_text("Cancelled")
    page.locator(".timeline-fold summary").tap()
    expect(page.locator(".audit-timeline")).to_contain_text("Booking cancelled at XCover")


def test_a_manager_approves_from_the_list_on_their_home(
    browser: Any, playwright_instance: Any, sign_in: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = sign_in("ldn.sam")
    book(page, "T-5002")
    ref = page.locator("#xcover-ref").inner_text()
    ask_for_return(page, PRODUCTS[1]["name"])
    device = dict(playwright_instance.devices["iPad Pro 11"])
    device.pop("default_browser_type", None)
    context = browser.new_context(**device, base_url=live_server.url)
    try:
        manager = context.new_page()
        manager.goto("/auth/sign-in")
        manager.get_by_label("Username").fill("ldn.manager")
        manager.get_by_label("Password").fill(DEMO_PASSWORD)
        manager.get_by_role("button", name="Sign in").tap()
        count = int(manager.locator("#exceptions-count").inner_text())
        assert count >= 1
        row = manager.locator(".attention", has_text=ref)
        expect(row).to_contain_text("Return awaiting approval")
        assert small_targets(manager) == []
        row.get_by_role("link", name="Approve or refuse").tap()
        expect(manager.locator("#return-status")).to_have_text("Awaiting manager approval")
        manager.get_by_role("button", name="Approve", exact=True).tap()
        expect(manager.locator("#return-status")).to_have_text("Approved, not yet cancelled")
        manager.goto("/")
        expect(manager.locator(".attention", has_text=ref)).to_contain_text("Return approved, not yet cancelled")
        assert int(manager.locator("#exceptions-count").inner_text()) == count
    finally:
        context.close()
    page.reload()
    expect(page.locator("#return-status")).to_have_text("Approved, not yet cancelled")
