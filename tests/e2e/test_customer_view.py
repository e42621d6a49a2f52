"""The customer's screen on an iPad: a French customer reads and acknowledges the key facts in French."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, LiveServer, small_targets
from tests.e2e.test_sale import PRODUCTS, fill_customer, fill_products, query, sale_id


def test_a_french_customer_reads_and_acknowledges_in_french(
    sign_in: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = sign_in("ldn.alex")
    page.goto("/sales/new")
    fill_products(page, PRODUCTS[:1])
    fill_customer(page, last_name="Dupont")
    page.get_by_label("Language").select_option("fr")
    page.get_by_role("button", name="Show cover options").tap()
    expect(page.get_by_role("heading", name=re.compile("Cover options"))).to_be_visible()
    sale = sale_id(page)

    page.get_by_role("button", name="Show the customer").tap()
    expect(page).to_have_url(re.compile(r"/customer-view$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Vos options de garantie")).to_be_visible()
    expect(page.get_by_role("heading", name="Ce qui est couvert").first).to_be_visible()
    expect(page.get_by_role("heading", name="Ce qui n’est pas couvert").first).to_be_visible()
    expect(page.locator(".disclaimer").first).to_be_visible()
    assert page.get_by_role("button", name="Sign out").count() == 0  # nothing of the portal
    assert small_targets(page) == []
    page.get_by_role("button", name="J’ai lu les informations clés").tap()
    expect(page.locator("#customer-acknowledged")).to_contain_text("Merci. Vous avez confirmé")

    # Nothing else is reachable while the customer holds the iPad.
    page.goto("/sales/")
    expect(page).to_have_url(re.compile(r"/customer-view$"))
    page.goto(f"/sales/{sale}/payment")
    expect(page).to_have_url(re.compile(r"/customer-view$"))

    # The associate unlocks with their password: a wrong one first.
    page.locator("#staff-unlock summary").tap()
    page.get_by_label("Mot de passe").fill("not-my-password")
    page.get_by_role("button", name="Déverrouiller").tap()
    expect(page.locator("#secret-error")).to_contain_text("Ce n’est pas le mot de passe")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Déverrouiller").tap()
    expect(page).to_have_url(re.compile(rf"/sales/{sale}/options$"))
    expect(page.locator("#customer-acknowledged")).to_be_visible()
    expect(page.locator("#acknowledged")).to_be_checked()
    page.locator("section.product-options label.choice", has_text="Add").first.tap()
    page.get_by_role("button", name="Continue").tap()
    expect(page.get_by_role("heading", name=re.compile("^Payment"))).to_be_visible()

    actions = [a for (a,) in query(live_server, "SELECT action FROM audit_event WHERE object_id = ?", str(sale))]
    assert actions.count("sale.customer_acknowledged") == 1
    assert "sale.customer_view_shown" in actions and actions.count("sale.customer_view_unlocked") == 2
    [(details,)] = query(
        live_server, "SELECT details FROM audit_event WHERE object_id = ? AND action = 'sale.acknowledged'", str(sale)
    )
    assert '"acknowledged_on": "customer_view"' in details or '"acknowledged_on":"customer_view"' in details
