"""Running the store and the stores from an iPad: people, temporary passwords, settings, stores, the catalogue."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, ipad_context, small_targets
from tests.e2e.test_sale import add_first_options, pay, start


@pytest.fixture
def other_ipad(browser: Any, playwright_instance: Any, live_server: LiveServer) -> Iterator[Any]:
    """A second iPad (its own cookies), as a colleague's at the same counter."""
    context = ipad_context(browser, playwright_instance, live_server)
    yield context.new_page()
    context.close()


def touch_sized(page: Any) -> None:
    """Every control on the page is at least 44 by 44 CSS pixels."""
    assert small_targets(page) == [], page.url


def sign_in_on(page: Any, username: str, password: str) -> None:
    """Sign in through the form with touch."""
    page.goto("/auth/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_url(lambda url: "/auth/sign-in" not in url)


def choose_password(page: Any, temporary: str, chosen: str) -> None:
    """On the screen a temporary password leads to: type it, then one's own twice."""
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    touch_sized(page)
    page.get_by_label("Current password").fill(temporary)
    page.get_by_label("New password", exact=True).fill(chosen)
    page.get_by_label("New password again").fill(chosen)
    page.get_by_role("button", name="Save my new password").tap()
    expect(page.get_by_text("Your new password is set.")).to_be_visible()


def add_person(page: Any, username: str, name: str, role: str | None = None) -> str:
    """From a People screen: add someone with a made-up password; return it (shown once)."""
    page.get_by_role("link", name="Add a person").tap()
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()
    touch_sized(page)
    field = page.get_by_label("Username")
    assert field.get_attribute("autocapitalize") == "none" and field.get_attribute("autocorrect") == "off"
    field.fill(username)
    page.get_by_label("Name", exact=True).fill(name)
    if role:
        page.locator("label.choice", has_text=role).tap()
    page.get_by_role("button", name="Add this person").tap()
    shown = page.locator("#temporary-password")
    expect(shown).to_be_visible()
    touch_sized(page)
    return shown.inner_text().strip()


def test_a_manager_adds_an_associate_who_sells_then_disables_them_and_their_ipad_signs_out(
    sign_in: Callable[[str], Any], other_ipad: Any, live_server: LiveServer
) -> None:
    manager = sign_in("ldn.manager")
    manager.locator("a.area", has_text="People").tap()
    expect(manager.get_by_role("heading", name="People")).to_be_visible()
    touch_sized(manager)
    username = f"ldn.e2e{uuid.uuid4().hex[:6]}"
    temporary = add_person(manager, username, "Robin Counter")

    associate = other_ipad
    sign_in_on(associate, username, temporary)
    assert associate.url.endswith("/auth/password")
    choose_password(associate, temporary, "robin-chose-this-1")
    associate.get_by_role("link", name="New sale").tap()
    start(associate, opened=True)
    add_first_options(associate)
    pay(associate, receipt=f"T-{username}")
    expect(associate.locator("#sale-status")).to_have_text("Covered")

    manager.goto("/")
    manager.locator("a.area", has_text="People").tap()
    manager.locator(f'[id="person-{username}"]').tap()
    expect(manager.locator("#person-state")).to_have_text("Active")
    touch_sized(manager)
    manager.get_by_role("button", name="Disable").tap()
    expect(manager.get_by_text("is disabled and signed out everywhere")).to_be_visible()
    expect(manager.locator("#person-state")).to_have_text("Disabled")

    # The associate's open iPad: the next tap lands on the sign-in screen, and the password no longer works.
    associate.get_by_role("link", name="Home", exact=True).tap()
    associate.wait_for_url("**/auth/sign-in**")
    sign_in_attempt = associate.get_by_label("Username")
    sign_in_attempt.fill(username)
    associate.get_by_label("Password").fill("robin-chose-this-1")
    associate.get_by_role("button", name="Sign in").tap()
    expect(associate.locator("#password-error")).to_contain_text("did not match")


def test_a_manager_changes_the_store_settings(sign_in: Callable[[str], Any]) -> None:
    manager = sign_in("syd.manager")
    manager.get_by_role("link", name="Store settings").first.tap()
    expect(manager.get_by_role("heading", name="Settings")).to_be_visible()
    touch_sized(manager)
    name = manager.get_by_label("Store name")
    typed = "Demo Electronics Sydney CBD"
    name.fill("")
    manager.get_by_role("button", name="Save settings").tap()
    expect(manager.locator("#name-error")).to_have_text("Enter the store name.")
    name.fill(typed)
    manager.get_by_label("Time zone").select_option("Australia/Melbourne")
    manager.get_by_role("button", name="Save settings").tap()
    expect(manager.get_by_text("Settings saved.")).to_be_visible()
    expect(manager.get_by_role("heading", name=re.compile(typed))).to_be_visible()
    manager.get_by_role("link", name="Settings", exact=True).tap()
    manager.get_by_label("Store name").fill("Demo Electronics Sydney")
    manager.get_by_label("Time zone").select_option("Australia/Sydney")
    manager.get_by_role("button", name="Save settings").tap()
    expect(manager.get_by_text("Settings saved.")).to_be_visible()


def test_head_office_opens_a_store_and_its_manager_signs_in(sign_in: Callable[[str], Any], other_ipad: Any) -> None:
    admin = sign_in("admin")
    admin.locator("a.area", has_text="Stores").tap()
    expect(admin.get_by_role("heading", name="Stores")).to_be_visible()
    touch_sized(admin)
    admin.get_by_role("link", name="New store").tap()
    expect(admin.get_by_role("heading", name="New store")).to_be_visible()
    touch_sized(admin)
    code = f"E2E{uuid.uuid4().hex[:5].upper()}"
    assert admin.get_by_label("Store code").get_attribute("autocapitalize") == "characters"
    admin.get_by_label("Store code").fill(code)
    admin.get_by_label("Store name").fill("Demo Electronics Dublin")
    admin.get_by_label("Country", exact=True).select_option("IE")
    admin.get_by_label("Currency").select_option("EUR")
    admin.get_by_label("Language").select_option("en")
    admin.get_by_label("Time zone").select_option("Europe/Dublin")
    admin.get_by_label("Phone country").select_option("IE")
    admin.get_by_role("button", name="Create store").tap()
    expect(admin.get_by_text("Demo Electronics Dublin is open. Add its manager next.")).to_be_visible()
    touch_sized(admin)
    admin.get_by_role("link", name="People").first.tap()
    username = f"{code.lower()}.manager"
    temporary = add_person(admin, username, "Dana Dublin", role="Manager")

    manager = other_ipad
    sign_in_on(manager, username, temporary)
    choose_password(manager, temporary, "dana-runs-dublin-1")
    expect(manager.get_by_text("Manager · Demo Electronics Dublin")).to_be_visible()
    expect(manager.locator("a.area", has_text="People")).to_be_visible()
    touch_sized(manager)

    admin.goto("/admin/stores/")
    row = admin.locator(f"#store-{code}")
    expect(row).to_contain_text("0 sales today")
    expect(row).to_contain_text("1 people")


def test_head_office_checks_a_catalogue_change_with_xcover_and_publishes_it(sign_in: Callable[[str], Any]) -> None:
    admin = sign_in("admin")
    admin.locator("a.area", has_text="Offer catalogue").tap()
    expect(admin.get_by_role("heading", name="Offer catalogue")).to_be_visible()
    touch_sized(admin)
    admin.get_by_role("button", name="Start a draft").tap()
    expect(admin.locator("#version-status")).to_have_text("Draft")
    touch_sized(admin)
    admin.locator("#edit-jewellery").tap()
    expect(admin.get_by_label("Name at the counter")).to_be_visible()
    touch_sized(admin)
    admin.get_by_label("Name at the counter").fill("Jewellery and watches")
    admin.get_by_role("button", name="Add a line").tap()
    expect(admin.get_by_label("Name at the counter")).to_have_value("Jewellery and watches")  # nothing typed lost
    admin.locator("#lines-1-policy_type").fill("watch_cover")
    admin.locator("#lines-1-cover_term_months").fill("12")
    admin.get_by_role("button", name="Save", exact=True).tap()
    admin.get_by_role("button", name="Check with XCover").tap()
    expect(admin.get_by_text("XCover accepts 11 of 12 lines.")).to_be_visible()
    expect(admin.locator("#line-jewellery-1")).to_contain_text("XCover refused it")
    admin.get_by_role("button", name=re.compile("^Publish version")).tap()
    expect(admin.locator("#publish-blocked")).to_contain_text("1 line(s) not accepted by XCover yet")
    admin.locator("#edit-jewellery").tap()
    admin.get_by_role("button", name="Remove line 2").tap()
    admin.get_by_role("button", name="Save", exact=True).tap()
    admin.get_by_role("button", name="Check with XCover").tap()
    expect(admin.get_by_text("XCover accepts 11 of 11 lines.")).to_be_visible()
    admin.get_by_role("button", name=re.compile("^Publish version")).tap()
    expect(admin.get_by_text(re.compile(r"Version \d+ is in use"))).to_be_visible()

    seller = sign_in_again(admin, "ldn.alex")
    seller.goto("/sales/new")
    expect(seller.locator("#items-0-category option", has_text="Jewellery and watches")).to_have_count(1)


def sign_in_again(page: Any, username: str, password: str = DEMO_PASSWORD) -> Any:
    """Sign out and sign in as someone else on the same iPad."""
    page.goto("/")
    page.get_by_role("button", name="Sign out").tap()
    page.wait_for_url("**/auth/sign-in")
    sign_in_on(page, username, password)
    return page
