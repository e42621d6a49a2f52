"""Quick switch on one iPad: two associates take turns with their PINs, and an idle iPad locks itself."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, small_targets
from tests.e2e.test_sale import fill_customer, fill_products

PINS = {"ldn.pia": "284710", "ldn.ben": "593017"}


def add_associate(live_server: LiveServer, username: str, name: str) -> None:
    """Add an associate of the London store with the demo password (each test its own people)."""
    live_server.flask(
        "create-user", "--username", username, "--name", name, "--role", "associate", "--store", "LDN01",
        "--password", DEMO_PASSWORD,
    )  # fmt: skip


def sign_in(page: Any, username: str) -> None:
    """Sign in with the password, with touch."""
    page.get_by_label("Username").tap()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_url(lambda url: "/auth/sign-in" not in url)


def set_pin(page: Any, username: str) -> None:
    """From the Password page, set a PIN."""
    page.locator("#nav-password").tap()
    page.locator("#nav-pin").tap()
    field = page.get_by_label("New PIN", exact=True)
    assert field.get_attribute("inputmode") == "numeric" and field.get_attribute("autocomplete") == "off"
    field.fill(PINS[username])
    page.get_by_label("New PIN again").fill(PINS[username])
    page.locator("#save-pin").tap()
    expect(page.get_by_text("Your PIN is set.")).to_be_visible()


def type_pin_on_pad(page: Any, username: str) -> None:
    """Tap the PIN on the pad's keys; the sixth digit sends it."""
    field = page.get_by_label("PIN", exact=True)
    assert field.get_attribute("inputmode") == "numeric" and field.get_attribute("autocomplete") == "off"
    for digit in PINS[username]:
        page.locator(f".pin-key[data-digit='{digit}']").tap()


def test_two_associates_take_turns_on_one_ipad_with_pins(ipad: Any, live_server: LiveServer) -> None:
    add_associate(live_server, "ldn.pia", "Pia Patel")
    add_associate(live_server, "ldn.ben", "Ben Brown")

    # Pia signs in with her password, sets a PIN and starts a sale.
    ipad.goto("/auth/sign-in")
    sign_in(ipad, "ldn.pia")
    set_pin(ipad, "ldn.pia")
    ipad.locator("#new-sale").tap()
    fill_products(ipad, [{"name": "Aurora 15 Laptop", "category": "electronics", "price": "899.00"}])
    fill_customer(ipad, "Turner")
    ipad.locator("#get-options").tap()
    ipad.wait_for_url(re.compile(r"/sales/\d+/options"))
    pias_sale = ipad.url

    # A customer for Ben: Pia locks; Ben is not on the names screen yet, so he signs in with his password.
    ipad.locator("#lock").tap()
    ipad.wait_for_url("**/auth/locked")
    expect(ipad.locator("#names")).to_contain_text("Pia Patel")
    ipad.locator("#someone-else").tap()
    sign_in(ipad, "ldn.ben")
    set_pin(ipad, "ldn.ben")
    ipad.locator("#lock").tap()
    ipad.wait_for_url("**/auth/locked")
    expect(ipad.locator("#names a")).to_have_text(["Ben Brown", "Pia Patel"])
    assert small_targets(ipad) == []

    # Pia taps her name and her PIN on the pad: she is back on her sale.
    ipad.get_by_role("link", name="Pia Patel").tap()
    ipad.wait_for_url(re.compile(r"/auth/locked/\d+$"))
    assert small_targets(ipad) == []
    for key in ipad.locator(".pin-key").all():
        box = key.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
    type_pin_on_pad(ipad, "ldn.pia")
    ipad.wait_for_url(pias_sale)
    expect(ipad.locator(".who-name")).to_have_text("Pia Patel")
    expect(ipad.locator("#sale-owner")).to_have_count(0)

    # Ben's turn: a wrong PIN first, told beside the field, then his own; he lands on his home screen.
    ipad.locator("#lock").tap()
    ipad.get_by_role("link", name="Ben Brown").tap()
    ipad.wait_for_url(re.compile(r"/auth/locked/\d+$"))
    ipad.get_by_label("PIN", exact=True).fill("999000")
    ipad.locator("#unlock").tap()
    expect(ipad.locator("#pin-error")).to_contain_text("That PIN is not right. 4 more tries")
    type_pin_on_pad(ipad, "ldn.ben")
    ipad.wait_for_url(lambda url: url.endswith("/"))
    expect(ipad.locator(".who-name")).to_have_text("Ben Brown")

    # Pia's sale stays hers: Ben sees whose it is.
    ipad.goto(pias_sale)
    expect(ipad.locator("#sale-owner")).to_contain_text("Pia Patel started this sale.")

    # Locked, nothing else of the portal is reachable.
    ipad.locator("#lock").tap()
    ipad.wait_for_url("**/auth/locked")
    ipad.goto("/sales/")
    assert ipad.url.endswith("/auth/locked")


def test_an_idle_ipad_locks_itself(ipad: Any, live_server: LiveServer) -> None:
    add_associate(live_server, "ldn.ida", "Ida Idle")
    PINS["ldn.ida"] = "730194"
    ipad.clock.install()
    ipad.goto("/auth/sign-in")
    sign_in(ipad, "ldn.ida")
    set_pin(ipad, "ldn.ida")
    assert ipad.locator("body").get_attribute("data-lock-after") == "120"
    ipad.clock.fast_forward("01:50")
    ipad.locator("h1").tap()  # a touch: the two minutes start again
    ipad.clock.fast_forward("01:50")
    assert not ipad.url.endswith("/auth/locked")
    ipad.clock.fast_forward("00:15")
    ipad.wait_for_url("**/auth/locked")
    expect(ipad.locator("#names")).to_contain_text("Ida Idle")
