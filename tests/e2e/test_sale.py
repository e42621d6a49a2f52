"""The sale on an iPad against the running app and its mounted XCover sandbox."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, small_targets

INS = re.compile(r"^[A-Z0-9]{5}-[A-Z0-9]{5}-INS$")
PRODUCTS = [
    {"name": "Aurora 15 Laptop", "category": "electronics", "price": "899.00", "brand": "Aurora", "model": "A15"},
    {"name": "Pixel Phone 9", "category": "mobile_phones", "price": "649.00", "brand": "Pixel", "model": "P9"},
]


@pytest.fixture(autouse=True)
def no_faults(live_server: LiveServer) -> None:
    """Every test starts with a well-behaved sandbox."""
    live_server.flask("xcover-sandbox", "clear-faults")


def fault(live_server: LiveServer, operation: str, mode: str, count: int = 1, seconds: float = 0) -> None:
    """Make the sandbox misbehave for the next calls of an operation."""
    live_server.flask("xcover-sandbox", "fault", operation, mode, "--count", str(count), "--seconds", str(seconds))


def query(live_server: LiveServer, sql: str, *args: Any) -> list[tuple]:
    """Read the portal's database."""
    with sqlite3.connect(live_server.db_path) as conn:
        return conn.execute(sql, args).fetchall()


def query_sandbox(live_server: LiveServer, sql: str, *args: Any) -> list[tuple]:
    """Read the sandbox's own database."""
    with sqlite3.connect(live_server.sandbox_db_path) as conn:
        return conn.execute(sql, args).fetchall()


def fill_products(page: Any, products: list[dict[str, str]]) -> None:
    """Type the products, adding rows as needed."""
    for i, p in enumerate(products):
        if i > 0:
            page.get_by_role("button", name="Add another product").tap()
        page.locator(f"#items-{i}-product_name").fill(p["name"])
        page.locator(f"#items-{i}-category").select_option(p["category"])
        page.locator(f"#items-{i}-price").fill(p["price"])
        page.locator(f"#items-{i}-brand").fill(p.get("brand", ""))
        page.locator(f"#items-{i}-model").fill(p.get("model", ""))


def fill_customer(page: Any, last_name: str = "Doe") -> None:
    """Type the customer's details (the phone prefix is already there)."""
    page.get_by_label("First name").fill("Jane")
    page.get_by_label("Last name").fill(last_name)
    page.get_by_label("Email").fill("jane.doe@example.com")
    page.get_by_label("Mobile phone").fill("+44 7400 123456")
    page.get_by_label("Address").fill("1 High Street")
    page.get_by_label("City").fill("London")
    page.get_by_label("Postcode").fill("SW1A 1AA")


def start(
    page: Any, products: list[dict[str, str]] = PRODUCTS, last_name: str = "Doe", *, opened: bool = False
) -> None:
    """Screen 1 filled in and sent: lands on the options (`opened`: the form is already on screen)."""
    if opened:
        page.wait_for_url("**/sales/new")
        expect(page.get_by_label("First name")).to_be_visible()
    else:
        page.goto("/sales/new")
    fill_products(page, products)
    fill_customer(page, last_name)
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()


def add_first_options(page: Any) -> None:
    """Screen 2: add the first option of every product and confirm the key facts were seen."""
    for section in page.locator("section.product-options").all():
        section.locator("label.choice", has_text="Add").first.tap()
    page.locator("label[for=acknowledged]").tap()
    page.get_by_role("button", name="Continue").tap()
    expect(page.get_by_role("heading", name=re.compile("^Payment"))).to_be_visible()


def pay(page: Any, receipt: str = "T-1001") -> None:
    """Screen 3: the amount is filled in; type the receipt and book."""
    page.get_by_label("Receipt number").fill(receipt)
    page.get_by_label("Card last four digits").fill("4242")
    page.get_by_role("button", name="Record payment and book cover").tap()


def sale_id(page: Any) -> int:
    """The id of the sale the page is about."""
    return int(re.search(r"/sales/(\d+)", page.url).group(1))


def test_two_product_sale_booked_end_to_end(sign_in: Callable[[str], Any], live_server: LiveServer) -> None:
    page = sign_in("ldn.alex")
    page.get_by_role("link", name="New sale").tap()
    expect(page.get_by_label("Mobile phone")).to_have_value("+44 ")
    expect(page.get_by_label("Country")).to_have_value("GB")
    # A customer from elsewhere: the prefix follows the country until a number is typed.
    page.get_by_label("Country").select_option("IE")
    expect(page.get_by_label("Mobile phone")).to_have_value("+353 ")
    page.get_by_label("Country").select_option("GB")
    expect(page.get_by_label("Mobile phone")).to_have_value("+44 ")
    page.get_by_label("Mobile phone").fill("+44 7400 123456")
    page.get_by_label("Country").select_option("IE")
    expect(page.get_by_label("Mobile phone")).to_have_value("+44 7400 123456")
    page.get_by_label("Country").select_option("GB")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", page.locator("#items-0-purchase_date").input_value())
    assert page.get_by_label("Email").get_attribute("inputmode") == "email"
    assert page.locator("#items-0-price").get_attribute("inputmode") == "decimal"
    assert small_targets(page) == []
    fill_products(page, PRODUCTS)
    fill_customer(page)
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()
    expect(page.locator("section.product-options")).to_have_count(2)
    assert page.locator("label.choice", has_text="No thanks").count() == 2
    # "No thanks" is as prominent as "Add": same size, same row.
    boxes = (
        page.locator("section.product-options")
        .first.locator("label.choice")
        .evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return [Math.round(r.width), Math.round(r.height), Math.round(r.top)]; })"
        )
    )
    assert len(boxes) == 3 and len({tuple(b) for b in boxes}) == 1, boxes
    wording = page.get_by_role("link", name=re.compile("Policy wording")).first
    assert wording.get_attribute("target") == "_blank"
    assert small_targets(page) == []
    add_first_options(page)
    total = page.locator("#cover-total").inner_text()
    assert re.fullmatch(r"£\d{1,3}(,\d{3})*\.\d{2}", total), total  # the London store's money, as en_GB writes it
    expect(page.get_by_label("Amount collected")).to_have_value(total[1:].replace(",", ""))
    assert small_targets(page) == []
    pay(page)
    expect(page.locator("#sale-status")).to_have_text("Covered")
    ref = page.locator("#xcover-ref").inner_text()
    assert INS.match(ref)
    expect(page.locator("#qr svg")).to_be_visible()
    expect(page.locator("#policies tbody tr")).to_have_count(2)
    expect(page.locator("#emailed")).to_contain_text("jane.doe@example.com")
    expect(page.get_by_role("link", name="Certificate of insurance")).to_be_visible()
    for name in ("Certificate of insurance", "Policy wording"):  # served by the sandbox mounted at /sandbox/xcover
        document = page.context.new_page()
        document.goto(page.get_by_role("link", name=name).first.get_attribute("href"))
        expect(document.get_by_text("XCover sandbox: test document")).to_be_visible()
        expect(document.locator("main")).to_contain_text(ref)
        document.close()
    expect(page.get_by_role("button", name="Print receipt")).to_be_visible()
    assert small_targets(page) == []
    page.get_by_role("button", name="Resend email").tap()
    expect(page.get_by_text("Confirmation emailed again")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("#timeline-heading")).to_be_hidden()
    expect(page.locator("#xcover-ref")).to_be_visible()
    page.emulate_media(media="screen")
    page.goto("/")
    expect(page.locator("#todays-sales")).to_contain_text(ref)
    assert small_targets(page) == []
    page.goto("/sales/?q=" + ref)
    expect(page.locator("#sale-list")).to_contain_text(ref)
    assert small_targets(page) == []
    page.goto("/")
    page.locator("#todays-sales a", has_text=ref).tap()
    expect(page.locator("#xcover-ref")).to_have_text(ref)
    status = query_sandbox(live_server, "SELECT status FROM xcover_sandbox_package WHERE id = ?", ref)
    assert status == [("CONFIRMED",)]


def test_decline_with_reason_reaches_the_sandbox_as_opt_out(
    sign_in: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = sign_in("ldn.sam")
    start(page, PRODUCTS[:1])
    page.locator("label.choice", has_text="No thanks").tap()
    page.get_by_role("button", name="Continue").tap()
    expect(page.get_by_text("Ask the customer why, and choose a reason.")).to_be_visible()
    page.get_by_label("Reason").select_option("too_expensive")
    page.get_by_role("button", name="Continue").tap()
    expect(page.locator("#sale-status")).to_have_text("Declined")
    assert small_targets(page) == []
    ref = page.locator("#xcover-ref").inner_text()
    ((status, doc),) = query_sandbox(live_server, "SELECT status, doc FROM xcover_sandbox_package WHERE id = ?", ref)
    assert status == "OPTED_OUT"
    assert json.loads(doc)["_partner_metadata"]["decline_reason"] == "too_expensive"


def test_validation_errors_on_each_screen_keep_what_was_typed(sign_in: Callable[[str], Any]) -> None:
    page = sign_in("ldn.alex")
    page.goto("/sales/new")
    fill_products(page, [PRODUCTS[0], {**PRODUCTS[1], "price": ""}])
    fill_customer(page)
    page.get_by_label("Email").fill("jane.doe@")
    page.locator("#items-1-serial_number").fill("4111 1111 1111 1111")
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.locator("#items-1-price-error")).to_have_text("Enter the price.")
    expect(page.locator("#items-1-price")).to_be_focused()
    assert small_targets(page) == []
    expect(page.locator("#email-error")).to_contain_text("Enter an email address")
    expect(page.locator("#items-1-serial_number-error")).to_contain_text("This looks like a card number")
    expect(page.locator("#items-1-serial_number")).to_have_value("")
    expect(page.locator("#items-0-product_name")).to_have_value(PRODUCTS[0]["name"])
    expect(page.locator("#items-1-product_name")).to_have_value(PRODUCTS[1]["name"])
    expect(page.get_by_label("First name")).to_have_value("Jane")
    expect(page.get_by_label("Email")).to_have_value("jane.doe@")
    page.locator("#items-1-price").fill(PRODUCTS[1]["price"])
    page.get_by_label("Email").fill("jane.doe@example.com")
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()
    # Options: nothing chosen yet.
    page.locator("section.product-options").first.locator("label.choice", has_text="Add").first.tap()
    page.get_by_role("button", name="Continue").tap()
    expect(page.get_by_text("Choose an option or No thanks.")).to_be_visible()
    expect(page.get_by_text("The customer must confirm they have seen the key facts.")).to_be_visible()
    expect(page.locator("section.product-options").nth(1).locator("input[type=radio]").first).to_be_focused()
    assert small_targets(page) == []
    expect(page.locator("section.product-options").first.locator("input[type=radio]:checked")).to_have_count(1)
    add_first_options(page)
    # Payment: wrong amount and no receipt.
    page.get_by_label("Amount collected").fill("1.00")
    page.get_by_label("Card last four digits").fill("12")
    page.get_by_role("button", name="Record payment and book cover").tap()
    expect(page.locator("#receipt_number-error")).to_have_text("Enter the receipt number.")
    expect(page.locator("#card_last4-error")).to_have_text("Exactly 4 digits, or leave it empty.")
    expect(page.locator("#amount_collected-error")).to_contain_text("the cover total")
    expect(page.get_by_label("Amount collected")).to_have_value("1.00")
    expect(page.get_by_label("Receipt number")).to_be_focused()
    assert small_targets(page) == []
    page.get_by_label("Receipt number").fill("T-2002")
    page.get_by_label("Card last four digits").fill("")
    page.get_by_role("button", name="Record payment and book cover").tap()
    expect(page.locator("#amount_collected-error")).to_contain_text("the cover total")
    expect(page.get_by_label("Amount collected")).to_be_focused()
    expect(page.get_by_label("Receipt number")).to_have_value("T-2002")
    expect(page.locator("#receipt_number-error")).to_have_count(0)


def test_xcover_down_at_quote_then_retry(sign_in: Callable[[str], Any], live_server: LiveServer) -> None:
    page = sign_in("ldn.alex")
    fault(live_server, "create_quote", "error_503")
    page.goto("/sales/new")
    fill_products(page, PRODUCTS[:1])
    fill_customer(page)
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.locator("#xcover-down")).to_contain_text("XCover is not answering")
    expect(page.locator("#items-0-product_name")).to_have_value(PRODUCTS[0]["name"])
    expect(page.get_by_label("Last name")).to_have_value("Doe")
    page.reload()
    expect(page.locator("#xcover-down")).to_be_visible()
    assert small_targets(page) == []
    page.get_by_role("button", name="Retry").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()


def test_xcover_down_at_booking_is_not_yet_confirmed_then_checked(
    sign_in: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = sign_in("ldn.alex")
    start(page, PRODUCTS[:1])
    add_first_options(page)
    fault(live_server, "create_booking", "error_503", count=4)
    pay(page)
    expect(page.locator("#sale-status")).to_have_text("Not yet confirmed, checking")
    expect(page.locator("#unknown")).to_contain_text("not covered until")
    expect(page.locator("#policies")).not_to_contain_text("Covered")
    assert small_targets(page) == []
    page.get_by_role("button", name="Check again").tap()
    expect(page.locator("#sale-status")).to_have_text("Covered")


def test_unknown_outcome_is_reconciled_later(sign_in: Callable[[str], Any], live_server: LiveServer) -> None:
    page = sign_in("ldn.sam")
    start(page, PRODUCTS[1:])
    add_first_options(page)
    # Applied at XCover, but the answer is lost and every retry fails too.
    fault(live_server, "create_booking", "timeout_after_apply", seconds=11)
    fault(live_server, "create_booking", "error_503", count=3)
    pay(page)
    expect(page.locator("#sale-status")).to_have_text("Not yet confirmed, checking", timeout=40000)
    the_sale = sale_id(page)
    ref = page.locator("#xcover-ref").inner_text()
    # Leave the page: its own Check again (after 8 s) would otherwise settle the sale first on a busy machine.
    page.goto("/")
    assert query_sandbox(live_server, "SELECT status FROM xcover_sandbox_package WHERE id = ?", ref) == [("CONFIRMED",)]
    out = live_server.flask("reconcile")
    page.goto(f"/sales/{the_sale}")
    assert f"{ref}: Covered" in out
    expect(page.locator("#sale-status")).to_have_text("Covered")


def test_double_submit_books_once(sign_in: Callable[[str], Any], live_server: LiveServer) -> None:
    page = sign_in("ldn.alex")
    start(page, PRODUCTS[:1])
    add_first_options(page)
    page.get_by_label("Receipt number").fill("T-3003")
    the_sale = sale_id(page)
    page.evaluate("""async () => {
        const form = document.querySelector('form[action$="/payment"]');
        const send = () => fetch(form.action, {method: 'POST', body: new FormData(form), redirect: 'manual'});
        await Promise.all([send(), send()]);
    }""")
    page.goto(f"/sales/{the_sale}")
    expect(page.locator("#sale-status")).to_have_text("Covered")
    sent = query(
        live_server,
        "SELECT count(*) FROM audit_event WHERE object_type = 'sale' AND object_id = ? "
        "AND action = 'sale.booking_sent'",
        str(the_sale),
    )
    assert sent == [(1,)]
    ((key,),) = query(live_server, "SELECT idempotency_key FROM sale WHERE id = ?", the_sale)
    assert query_sandbox(live_server, "SELECT count(*) FROM xcover_sandbox_idempotency WHERE key = ?", key) == [(1,)]


def test_back_from_the_options_reopens_the_saved_sale(sign_in: Callable[[str], Any], live_server: LiveServer) -> None:
    page = sign_in("ldn.alex")
    # "Add another product" draws screen 1 in answer to a POST; Back must not ask to resend it.
    start(page, PRODUCTS, last_name="Backson")
    the_sale = sale_id(page)
    page.go_back()
    page.wait_for_url(f"**/sales/{the_sale}/edit")
    expect(page.locator("#items-1-product_name")).to_have_value(PRODUCTS[1]["name"])
    expect(page.get_by_label("Last name")).to_have_value("Backson")
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()
    assert query(live_server, "SELECT count(*) FROM sale WHERE last_name = 'Backson'") == [(1,)]
    # A new sale started afterwards is not sent back to the old one.
    page.goto("/sales/new")
    page.goto("/")
    page.go_back()
    expect(page.get_by_role("heading", name="New sale")).to_be_visible()
    assert page.url.endswith("/sales/new")
