"""The audit log on an iPad: a manager's own store, an admin's store picker, and a chain that verifies."""

from .conftest import small_targets


def test_manager_filters_the_store_log_by_touch(ipad, sign_in):
    messages = []
    ipad.on("console", lambda m: messages.append(m.text) if m.type == "error" else None)
    sign_in("ldn.manager")
    ipad.locator("#nav-audit").tap()
    ipad.wait_for_url("**/audit/")
    assert ipad.get_by_role("heading", name="Audit log").is_visible()
    assert ipad.locator("td", has_text="auth.sign_in").first.is_visible()
    assert ipad.get_by_label("Store", exact=True).count() == 0  # a manager is locked to their own store
    assert small_targets(ipad) == []
    ipad.get_by_label("Action").select_option(label="Signed in")  # the filter speaks in words
    ipad.get_by_label("Person (username)").fill("ldn.manager")
    ipad.get_by_role("button", name="Show events").tap()
    ipad.wait_for_url("**action=auth.sign_in**")
    actions = set(ipad.locator("tbody tr td:nth-child(4)").all_inner_texts())
    assert actions == {"Signed in\nauth.sign_in"}  # the words, and the stored action under them
    assert "action=auth.sign_in" in ipad.locator("#export-csv").get_attribute("href")
    assert ipad.get_by_label("Person (username)").input_value() == "ldn.manager"
    assert messages == []


def test_admin_picks_a_store(ipad, sign_in):
    sign_in("admin")
    ipad.goto("/audit/")
    assert ipad.get_by_text("Head office: times in UTC").is_visible()
    ipad.get_by_label("Store", exact=True).select_option(label="SYD01 · Demo Electronics Sydney")
    ipad.get_by_role("button", name="Show events").tap()
    ipad.wait_for_url("**store=**")
    assert ipad.get_by_text("times in Australia/Sydney").is_visible()
    assert ipad.locator("td", has_text="user.created").count() == 3
    assert small_targets(ipad) == []


def test_every_chain_verifies_after_the_browser_tests(live_server, ipad, sign_in):
    """Two gunicorn workers have been appending to the same chains: nothing forked."""
    sign_in("syd.manager")
    ipad.goto("/audit/")
    output = live_server.flask("audit", "verify")
    chains = output.strip().splitlines()  # head office, the two demo stores, and any store a browser test opened
    assert "BROKEN" not in output and len(chains) >= 3
    assert all("chain intact, last hash" in line for line in chains)
