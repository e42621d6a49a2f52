"""axe-core on every screen, on the iPad profile: no serious or critical violation.

The screens are the GET routes of tests/route_table.py each visitor may open, against one object of each kind
made through the live server (a quoted sale, a booked one with a return waiting and a correction, a person,
the store, a catalogue draft), plus a form sent empty (its errors shown) and an error page. axe-core is the
copy bundled in axe-playwright-python (requirements-dev.txt), injected into the page: nothing is fetched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.route_table import ROLE_NAMES, ROUTES

from .conftest import DEMO_PASSWORD, LiveServer, ipad_context

BLOCKING = {"serious", "critical"}
# Who opens the screens: the demo people of the London store (store A) and head office.
VISITORS = {"anonymous": None, "associate_a": "ldn.alex", "manager_a": "ldn.manager", "head_office": "admin"}
NOT_SCREENS = {"static", "main.healthz", "audit.export"}


def _token(session: requests.Session, url: str) -> str:
    """The CSRF token of the form on a page."""
    html = session.get(url, timeout=30).text
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    assert match, url
    return match.group(1)


def _session(server: LiveServer, username: str) -> requests.Session:
    """A requests session signed in through the form."""
    session = requests.Session()
    data = {
        "username": username,
        "password": DEMO_PASSWORD,
        "csrf_token": _token(session, server.url + "/auth/sign-in"),
    }
    assert session.post(server.url + "/auth/sign-in", data=data, timeout=30).status_code == 200
    return session


def _post(session: requests.Session, url: str, data: dict[str, Any], form: str = "") -> requests.Response:
    """POST a form with the CSRF token of its page; follow the redirect."""
    return session.post(url, data={"csrf_token": _token(session, form or url), **data}, timeout=60)


def _sell(server: LiveServer, seller: requests.Session, book: bool) -> int:
    """A one-product sale through the forms: quoted, or booked with cover."""
    from tests.test_audit_coverage import sale_data

    response = _post(seller, server.url + "/sales/new", sale_data())
    sale_id = int(re.search(r"/sales/(\d+)/options", response.url).group(1))
    if book:
        options = seller.get(f"{server.url}/sales/{sale_id}/options", timeout=30).text
        choices = dict(re.findall(r'name="(choice_\d+)" id="choice_\d+-\d+" value="(\d+)"', options))
        _post(seller, f"{server.url}/sales/{sale_id}/options", {"acknowledged": "y", **choices})
        payment = seller.get(f"{server.url}/sales/{sale_id}/payment", timeout=30).text
        total = re.search(r'id="cover-total">[^0-9]*([0-9,]+\.[0-9]{2})<', payment).group(1).replace(",", "")
        pay = {"payment_method": "card", "receipt_number": "A-11Y", "amount_collected": total}
        _post(seller, f"{server.url}/sales/{sale_id}/payment", pay)
    return sale_id


@pytest.fixture(scope="module")
def ids(live_server: LiveServer) -> Iterator[dict[str, int]]:
    """One object of each kind in the London store, made through the live server's forms (the draft discarded after).

    The live server is the whole session's: a catalogue draft left behind would stop tests/e2e/test_admin.py
    starting its own.
    """
    url = live_server.url
    seller = _session(live_server, "ldn.alex")
    quoted = _sell(live_server, seller, book=False)
    booked = _sell(live_server, seller, book=True)
    returning = _sell(live_server, seller, book=True)
    new_return = seller.get(f"{url}/sales/{returning}/returns/new", timeout=30).text
    cover = re.search(r'name="covers"[^>]*value="(\d+)"', new_return).group(1)
    response = _post(seller, f"{url}/sales/{returning}/returns/new", {"covers": cover, "reason": "product_returned"})
    return_id = int(re.search(rf"/sales/{returning}/returns/(\d+)", response.url).group(1))
    item = int(re.search(r"/items/(\d+)/correct", seller.get(f"{url}/sales/{booked}", timeout=30).text).group(1))
    fields = {"brand": "", "model": "", "sku": "", "price": "800.00", "serial_number": "SN-A11Y"}
    response = _post(seller, f"{url}/sales/{booked}/items/{item}/correct", fields)
    correction = int(re.search(rf"/sales/{booked}/corrections/(\d+)", response.url).group(1))

    boss = _session(live_server, "admin")
    stores = boss.get(f"{url}/admin/stores/", timeout=30).text
    store = int(re.search(r'href="/admin/stores/(\d+)" id="store-LDN01"', stores).group(1))
    people = boss.get(f"{url}/admin/stores/{store}/people", timeout=30).text
    person = int(re.search(r'href="/admin/people/(\d+)"', people).group(1))
    response = _post(boss, f"{url}/admin/catalogue/draft", {}, f"{url}/admin/catalogue/")
    version = int(re.search(r"/admin/catalogue/(\d+)", response.url).group(1))
    category = int(re.search(rf"/admin/catalogue/{version}/categories/(\d+)", response.text).group(1))
    yield {
        "sale_id": booked,
        "quoted": quoted,
        "return_sale": returning,
        "return_id": return_id,
        "item_id": item,
        "correction_id": correction,
        "store_id": store,
        "user_id": person,
        "version_id": version,
        "category_id": category,
    }
    discarded = _post(boss, f"{url}/admin/catalogue/{version}/discard", {}, f"{url}/admin/catalogue/{version}")
    assert discarded.ok and "discarded" in discarded.text, discarded.status_code


def screens(ids: dict[str, int], who: str) -> Iterator[str]:
    """The paths of every screen the visitor may open."""
    column = ROLE_NAMES.index(who)
    rules = {r.endpoint: r for r in _url_map().iter_rules()}
    for endpoint, access in ROUTES.items():
        if endpoint in NOT_SCREENS or access.by_method.get("GET", ("",) * 6)[column] != "ok":
            continue
        rule = rules[endpoint].rule
        names = set(re.findall(r"<(?:\w+:)?(\w+)>", rule))
        sales = [ids["return_sale"]] if "return_id" in names else [ids["sale_id"]]
        if names == {"sale_id"}:
            sales.append(ids["quoted"])
        for sale_id in sales:
            values = {**ids, "sale_id": sale_id}
            yield re.sub(r"<(?:\w+:)?(\w+)>", lambda m, v=values: str(v.get(m.group(1), "csv")), rule)


def _url_map() -> Any:
    """The portal's routes (an app built only to read its map)."""
    from portal import create_app

    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"}).url_map


def blocking(page: Any) -> list[str]:
    """The serious and critical axe-core violations on the page, one line each with where they are."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in BLOCKING:
            targets = [" ".join(node["target"]) for node in violation["nodes"]][:5]
            found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


@pytest.mark.parametrize("who", list(VISITORS))
def test_every_screen_has_no_serious_or_critical_violation(
    who: str, ids: dict[str, int], browser: Any, playwright_instance: Any, live_server: LiveServer
) -> None:
    context = ipad_context(browser, playwright_instance, live_server)
    page = context.new_page()
    try:
        if VISITORS[who]:
            page.goto("/auth/sign-in")
            page.get_by_label("Username").fill(VISITORS[who])
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Sign in").tap()
            page.wait_for_url(lambda url: "/auth/sign-in" not in url)
        problems = {}
        paths = list(screens(ids, who))
        assert paths
        for path in paths:
            page.goto(path)
            found = blocking(page)
            if found:
                problems[path] = found
        # A form sent empty shows its errors; an unknown page shows the error page.
        page.goto("/auth/sign-in" if not VISITORS[who] else "/nowhere")
        if not VISITORS[who]:
            with page.expect_navigation():  # axe must run on the answer, not on the page being left
                page.get_by_role("button", name="Sign in").tap()
        problems.update({f"{page.url} (errors)": f for f in [blocking(page)] if f})
        assert not problems, "\n".join(f"{p}: {v}" for p, found in problems.items() for v in found)
    finally:
        context.close()


def test_a_failing_page_is_reported(browser: Any, playwright_instance: Any, live_server: LiveServer) -> None:
    context = ipad_context(browser, playwright_instance, live_server)
    page = context.new_page()
    try:
        page.set_content('<html lang="en"><body><main><img src="x.png"><button></button></main></body></html>')
        found = blocking(page)
        assert any(line.startswith("button-name (critical)") for line in found), found
    finally:
        context.close()
