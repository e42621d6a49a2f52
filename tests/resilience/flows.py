"""The counter's steps over HTTP: a sale from the blank form to booked, and after the sale (returns, corrections).

Each step opens the page, reads its form and posts it back with what the associate types or taps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from .support import Counter, PortalServer, SandboxServer, location, sale_id_in

YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
# The sandbox declines the booking of anyone of this name (docs/xcover.md, "Declines").
DECLINED_NAME = "Declineson"


@dataclass
class Stack:
    """One portal and its XCover, with the people who use them."""

    portal: PortalServer
    sandbox: SandboxServer

    def counter(self, username: str = "ldn.alex") -> Counter:
        """A signed-in iPad."""
        counter = Counter(self.portal.url)
        counter.sign_in(username)
        return counter

    def sale_status(self, sale_id: int) -> str:
        """Where a sale stands in the portal's database."""
        return self.portal.scalar("SELECT status FROM sale WHERE id = :id", id=sale_id)


def sale_details(last_name: str = "Doe", products: int = 1) -> dict[str, str]:
    """What the associate types on the blank New sale form."""
    typed = {
        "first_name": "Jane",
        "last_name": last_name,
        "email": "jane@example.com",
        "phone": "+44 7400 123456",
        "address1": "1 High Street",
        "city": "London",
        "postcode": "SW1A 1AA",
    }
    catalogue = [("Laptop", "electronics", "1000.00"), ("Phone", "mobile_phones", "500.00")]
    for n, (name, category, price) in enumerate(catalogue[:products]):
        typed |= {
            f"items-{n}-product_name": name,
            f"items-{n}-category": category,
            f"items-{n}-price": price,
            f"items-{n}-quantity": "1",
            f"items-{n}-brand": "Acme",
            f"items-{n}-purchase_date": YESTERDAY,
        }
    return typed


def new_sale_body(counter: Counter, last_name: str = "Doe", products: int = 1) -> list[tuple[str, str]]:
    """The body one tap of Show cover options sends from a fresh New sale form (its one-time token included)."""
    form = counter.form("/sales/new", "/sales/new")
    return form.data(**sale_details(last_name, products))


def start_sale(counter: Counter, last_name: str = "Doe", products: int = 1) -> int:
    """Fill in New sale and send it; the sale's id (quoted, or a draft if XCover did not quote)."""
    resp = counter.post("/sales/new", new_sale_body(counter, last_name, products))
    assert resp.status_code == 302, errors_on(resp.text)
    return sale_id_in(location(resp))


def options_body(counter: Counter, sale_id: int, take: bool = True) -> list[tuple[str, str]]:
    """The options form: the first option for every product (and the acknowledgement), or No thanks to all."""
    form = counter.form(f"/sales/{sale_id}/options", f"/sales/{sale_id}/options")
    picks: dict[str, str | list[str]] = {}
    for name, offered in form.options.items():
        if name.startswith("choice_"):
            item = name.removeprefix("choice_")
            if take:
                picks[name] = next(v for v in offered if v != "none")
            else:
                picks[name] = "none"
                reasons = [r for r in form.options[f"reason_{item}"] if r]
                picks[f"reason_{item}"] = reasons[0]
    if take:
        picks["acknowledged"] = form.options["acknowledged"][0]
    return form.data(**picks)


def choose(counter: Counter, sale_id: int, take: bool = True) -> None:
    """Take the first option of every product (or decline them all)."""
    resp = counter.post(f"/sales/{sale_id}/options", options_body(counter, sale_id, take))
    assert resp.status_code in (302, 503), resp.text[:2000]


def payment_body(counter: Counter, sale_id: int) -> list[tuple[str, str]]:
    """The payment form as shown (the amount is the cover total), with a till receipt."""
    form = counter.form(f"/sales/{sale_id}/payment", f"/sales/{sale_id}/payment")
    return form.data(receipt_number=f"R-{sale_id}", payment_method="card")


def to_payment(counter: Counter, last_name: str = "Doe", products: int = 1) -> int:
    """A sale quoted and chosen, waiting on the payment screen."""
    sale_id = start_sale(counter, last_name, products)
    choose(counter, sale_id)
    return sale_id


def booked_sale(counter: Counter, products: int = 1) -> int:
    """A sale booked at XCover."""
    sale_id = to_payment(counter, products=products)
    resp = counter.post(f"/sales/{sale_id}/payment", payment_body(counter, sale_id))
    assert location(resp) == f"/sales/{sale_id}", location(resp)
    return sale_id


def return_body(counter: Counter, sale_id: int) -> list[tuple[str, str]]:
    """The return form: every policy of the sale, the first reason."""
    form = counter.form(f"/sales/{sale_id}/returns/new", f"/sales/{sale_id}/returns/new")
    return form.data(covers=form.options["covers"], reason=[r for r in form.options["reason"] if r][0])


def request_return(counter: Counter, sale_id: int) -> int:
    """Ask for the return of every policy of a sale; the return's id."""
    resp = counter.post(f"/sales/{sale_id}/returns/new", return_body(counter, sale_id))
    match = re.search(r"/returns/(\d+)$", location(resp))
    assert match, (resp.status_code, location(resp), resp.text[:2000])
    return int(match.group(1))


def approve(manager: Counter, sale_id: int, return_id: int) -> None:
    """The store's manager approves the return on their own iPad."""
    page = f"/sales/{sale_id}/returns/{return_id}"
    resp = manager.submit(page, f"{page}/decide", button=("decision", "approve"))
    assert resp.status_code == 302, resp.text[:2000]


def confirm_return_body(counter: Counter, sale_id: int, return_id: int) -> list[tuple[str, str]]:
    """The confirmation form of an approved return, with the till's refund reference."""
    page = f"/sales/{sale_id}/returns/{return_id}"
    return counter.form(page, f"{page}/confirm").data(refund_reference=f"RF-{return_id}")


def item_of(counter: Counter, sale_id: int) -> int:
    """The first product of a booked sale that can be corrected."""
    html = counter.get(f"/sales/{sale_id}").text
    match = re.search(rf"/sales/{sale_id}/items/(\d+)/correct", html)
    assert match, "no Correct link on the sale page"
    return int(match.group(1))


def correction_body(counter: Counter, sale_id: int, item_id: int, serial: str) -> list[tuple[str, str]]:
    """The correction form with a new serial number."""
    page = f"/sales/{sale_id}/items/{item_id}/correct"
    return counter.form(page, page).data(serial_number=serial)


def quote_correction(counter: Counter, sale_id: int, item_id: int, serial: str) -> int:
    """XCover prices a new serial number; the correction's id."""
    resp = counter.post(f"/sales/{sale_id}/items/{item_id}/correct", correction_body(counter, sale_id, item_id, serial))
    match = re.search(r"/corrections/(\d+)$", location(resp))
    assert match, (resp.status_code, location(resp), resp.text[:2000])
    return int(match.group(1))


def confirm_correction_body(counter: Counter, sale_id: int, correction_id: int) -> list[tuple[str, str]]:
    """The Apply form of a priced correction."""
    page = f"/sales/{sale_id}/corrections/{correction_id}"
    return counter.form(page, f"{page}/confirm").data(till_reference=f"TR-{correction_id}")


CATALOGUE = "/admin/catalogue/"


def fresh_catalogue_draft(admin: Counter) -> int:
    """Head office discards the catalogue draft if there is one and starts another: no line of it checked yet."""
    match = re.search(r'href="/admin/catalogue/(\d+)" id="open-draft"', admin.get(CATALOGUE).text)
    if match:
        page = f"{CATALOGUE}{match.group(1)}"
        resp = admin.submit(page, f"{page}/discard", allowed=frozenset({302}))
        assert location(resp) == CATALOGUE, (location(resp), resp.text[:2000])
    resp = admin.submit(CATALOGUE, f"{CATALOGUE}draft", allowed=frozenset({302}))
    match = re.search(r"^/admin/catalogue/(\d+)$", location(resp))
    assert match, (location(resp), resp.text[:2000])
    return int(match.group(1))


def catalogue_check_body(admin: Counter, version_id: int) -> list[tuple[str, str]]:
    """The Check with XCover form of a draft as shown: the first open store, the default sample price."""
    page = f"{CATALOGUE}{version_id}"
    return admin.form(page, f"{page}/check").data()


def errors_on(html: str) -> list[str]:
    """The error messages a page shows (beside fields and above the form)."""
    return re.findall(r'class="[^"]*(?:error|notice-bad)[^"]*"[^>]*>\s*(.*?)\s*<', html, re.S)


def button_body(counter: Counter, page: str, action: str) -> list[tuple[str, str]]:
    """The body of a one-button form (Retry, Check again, Resend email, Withdraw...)."""
    return counter.form(page, action).data()


def reconcile(portal: PortalServer) -> str:
    """`flask reconcile`, as cron runs it."""
    return portal.flask("reconcile")


def audit_verify(portal: PortalServer) -> str:
    """`flask audit verify`; fails the test unless it exits 0 (every chain intact)."""
    return portal.flask("audit", "verify")


SETTLED_SALES = {"booked", "failed", "declined", "quoted", "cancelled"}


def assert_settled(stack: Stack) -> None:
    """After `flask reconcile`: every sale settled, each booking made once, audit chains intact, no worker timeout.

    - Every sale is booked, failed, declined or quoted (or cancelled by a confirmed return); none is left a draft,
      being booked, or unknown; no return or correction is left waiting on XCover's answer.
    - XCover's bookings are exactly the portal's booked (or since cancelled) sales: none booked twice, none that
      the portal does not know of, none the portal calls booked that XCover does not hold.
    - Each sale has at most one "booked" audit event, and `flask audit verify` finds every chain intact.
    - gunicorn never killed a worker for running too long, and no request got a 500.
    """
    portal, sandbox = stack.portal, stack.sandbox
    sandbox.settle()
    reconcile(portal)
    statuses = dict(portal.rows("SELECT status, count(*) FROM sale GROUP BY status"))
    assert set(statuses) <= SETTLED_SALES, statuses
    assert not portal.rows("SELECT id, status FROM policy_return WHERE status = 'confirming'")
    assert not portal.rows("SELECT id, status FROM sale_correction WHERE status = 'confirming'")
    refs = [r for (r,) in portal.rows("SELECT xcover_ref FROM sale WHERE status IN ('booked', 'cancelled')")]
    assert len(refs) == len(set(refs)), "two sales share one XCover booking"
    booked = sandbox.booked()
    assert sorted(ref for ref, _ in booked) == sorted(refs), "XCover's bookings differ from the portal's"
    twice = portal.rows(
        "SELECT object_id, count(*) FROM audit_event WHERE action = 'sale.booked' "
        "GROUP BY object_id HAVING count(*) > 1"
    )
    assert twice == [], twice
    report = audit_verify(portal)
    assert "broken" not in report.lower(), report
    log = portal.log_text()
    assert "WORKER TIMEOUT" not in log and "WORKER TIMEOUT" not in sandbox.log_text()
    errors = [line for line in portal.access_log() if line["status"] >= 500 and line["status"] != 503]
    assert errors == [], errors[:5]
    assert "Traceback" not in log, log[log.index("Traceback") :][:3000]
