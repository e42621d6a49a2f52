"""Triple taps against gunicorn: every button of the sale and after the sale, tapped three times at once.

Three requests of one iPad (the same cookies, the same form and token) reach the two workers at the same moment,
as an impatient triple tap sends them. Each button must do its work once: one sale per form, one booking, one
opt-out, one return, one approval, one cancellation, one correction, one refund, one email. A new POST route in
the sale or after-sale screens fails `test_every_button_of_the_sale_is_tapped` until it is tapped here too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from . import flows
from .flows import Stack
from .support import DEMO_PASSWORD, Counter, location, sale_id_in
from .test_faults import at_once

TAPS = 3


@dataclass
class Tap:
    """A button ready to be tapped: where it posts, the body, and what must hold after the taps."""

    action: str
    body: list[tuple[str, str]]
    after: Callable[[list[requests.Response]], None]
    allowed: frozenset[int] = Counter.ALLOWED
    counter: Counter | None = None  # the iPad whose form it is (the preparer's, unless set)


def triple(counter: Counter, tap: Tap) -> list[requests.Response]:
    """Send the same body three times at once from the same browser (its cookies copied to three connections)."""
    sessions = []
    for _ in range(TAPS):
        session = requests.Session()
        session.headers["Connection"] = "close"
        session.cookies.update(counter.http.cookies)
        sessions.append(session)
    barrier = threading.Barrier(TAPS)
    answers: list[requests.Response] = []

    def send(session: requests.Session) -> None:
        barrier.wait()
        answers.append(session.post(counter.base + tap.action, data=tap.body, timeout=60, allow_redirects=False))

    threads = [threading.Thread(target=send, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert len(answers) == TAPS, f"{tap.action}: a tap got no answer"
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= tap.allowed, f"{tap.action}: {statuses}"
    return answers


def events(stack: Stack, action: str, sale_id: int) -> int:
    """How many audit events of one action a sale has."""
    return stack.portal.scalar(
        "SELECT count(*) FROM audit_event WHERE action = :action AND object_type = 'sale' AND object_id = :id",
        action=action,
        id=str(sale_id),
    )


def once(stack: Stack, action: str, sale_id: int) -> Callable[[list[requests.Response]], None]:
    """After the taps: exactly one event of this action for the sale."""

    def check(_: list[requests.Response]) -> None:
        assert events(stack, action, sale_id) == 1, f"{action} x{events(stack, action, sale_id)}"

    return check


def button(counter: Counter, page: str, action: str) -> list[tuple[str, str]]:
    """The body of the one-button form posting to action on page."""
    return flows.button_body(counter, page, action)


# ---- the buttons, each brought to the moment before its tap ------------------------------------------------


def new_sale(stack: Stack, c: Counter, m: Counter) -> Tap:
    body = flows.new_sale_body(c)
    token = dict(body)["submission"]

    def after(answers: list[requests.Response]) -> None:
        assert stack.portal.scalar("SELECT count(*) FROM sale WHERE submission_token = :t", t=token) == 1
        assert len({sale_id_in(location(a)) for a in answers}) == 1

    return Tap("/sales/new", body, after)


def draft(stack: Stack, c: Counter) -> int:
    """A sale XCover could not quote (a 503): a draft waiting on Retry."""
    stack.sandbox.fault("create_quote", "error_503", 1)
    sale_id = flows.start_sale(c)
    assert stack.sale_status(sale_id) == "draft"
    return sale_id


def quoted_once(stack: Stack, sale_id: int) -> Callable[[list[requests.Response]], None]:
    def after(_: list[requests.Response]) -> None:
        assert stack.sale_status(sale_id) == "quoted"
        assert events(stack, "sale.quoted", sale_id) == 1
        refs = stack.portal.scalar("SELECT count(DISTINCT quote_id) FROM cover WHERE sale_id = :id", id=sale_id)
        offered = stack.portal.scalar("SELECT count(*) FROM cover WHERE sale_id = :id", id=sale_id)
        assert refs == offered, "options of two quotes on one sale"

    return after


def quote_retry(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = draft(stack, c)
    page, action = f"/sales/{sale_id}/edit", f"/sales/{sale_id}/quote"
    return Tap(action, button(c, page, action), quoted_once(stack, sale_id))


def edit_and_quote(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = draft(stack, c)
    page = f"/sales/{sale_id}/edit"
    return Tap(page, c.form(page, page).data(), quoted_once(stack, sale_id))


def choose(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.start_sale(c)

    def after(_: list[requests.Response]) -> None:
        chosen = stack.portal.scalar("SELECT count(*) FROM cover WHERE sale_id = :id AND status = 'chosen'", id=sale_id)
        assert stack.sale_status(sale_id) == "quoted" and chosen == 1

    return Tap(f"/sales/{sale_id}/options", flows.options_body(c, sale_id), after)


def opted_out_once(stack: Stack, sale_id: int) -> Callable[[list[requests.Response]], None]:
    def after(_: list[requests.Response]) -> None:
        assert stack.sale_status(sale_id) == "declined"
        assert events(stack, "sale.opted_out", sale_id) == 1
        ref = stack.portal.scalar("SELECT xcover_ref FROM sale WHERE id = :id", id=sale_id)
        assert stack.sandbox.package(ref)["status"] == "OPTED_OUT"

    return after


def decline_all(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.start_sale(c)
    return Tap(f"/sales/{sale_id}/options", flows.options_body(c, sale_id, take=False), opted_out_once(stack, sale_id))


def opt_out_retry(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.start_sale(c)
    stack.sandbox.fault("opt_out", "rate_limit", 3, 0.1)
    flows.choose(c, sale_id, take=False)
    assert stack.sale_status(sale_id) == "quoted"
    page, action = f"/sales/{sale_id}/options", f"/sales/{sale_id}/opt-out"
    return Tap(action, button(c, page, action), opted_out_once(stack, sale_id))


def booked_once(stack: Stack, sale_id: int) -> Callable[[list[requests.Response]], None]:
    def after(_: list[requests.Response]) -> None:
        assert stack.sale_status(sale_id) == "booked"
        assert events(stack, "sale.booked", sale_id) == 1
        ref = stack.portal.scalar("SELECT xcover_ref FROM sale WHERE id = :id", id=sale_id)
        assert dict(stack.sandbox.booked()).get(ref) == "CONFIRMED"

    return after


def pay(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.to_payment(c)
    return Tap(f"/sales/{sale_id}/payment", flows.payment_body(c, sale_id), booked_once(stack, sale_id))


def book_retry(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.to_payment(c)
    stack.sandbox.fault("create_booking", "rate_limit", 3, 0.1)
    c.post(f"/sales/{sale_id}/payment", flows.payment_body(c, sale_id))
    assert stack.sale_status(sale_id) == "quoted"
    page, action = f"/sales/{sale_id}/payment", f"/sales/{sale_id}/book"
    return Tap(action, button(c, page, action), booked_once(stack, sale_id))


def check_booking(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.to_payment(c)
    stack.sandbox.fault("create_booking", "error_500", 1)
    c.post(f"/sales/{sale_id}/payment", flows.payment_body(c, sale_id))
    assert stack.sale_status(sale_id) == "outcome_unknown"
    page, action = f"/sales/{sale_id}", f"/sales/{sale_id}/check"
    return Tap(action, button(c, page, action), booked_once(stack, sale_id))


def email(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)
    ref = stack.portal.scalar("SELECT xcover_ref FROM sale WHERE id = :id", id=sale_id)
    before = len(stack.sandbox.package(ref).get("_emails", []))

    def after(_: list[requests.Response]) -> None:
        sent = len(stack.sandbox.package(ref).get("_emails", [])) - before
        assert sent == 1, f"{sent} emails for one tap"

    page, action = f"/sales/{sale_id}", f"/sales/{sale_id}/email"
    return Tap(action, button(c, page, action), after)


def returns_of(stack: Stack, sale_id: int) -> list[tuple[int, str]]:
    return stack.portal.rows("SELECT id, status FROM policy_return WHERE sale_id = :id", id=sale_id)


def new_return(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)

    def after(_: list[requests.Response]) -> None:
        assert [s for _, s in returns_of(stack, sale_id)] == ["previewed"]

    return Tap(f"/sales/{sale_id}/returns/new", flows.return_body(c, sale_id), after)


def approved_return(stack: Stack, c: Counter, m: Counter) -> tuple[int, int]:
    sale_id = flows.booked_sale(c)
    return_id = flows.request_return(c, sale_id)
    flows.approve(m, sale_id, return_id)
    return sale_id, return_id


def decide(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)
    return_id = flows.request_return(c, sale_id)
    page = f"/sales/{sale_id}/returns/{return_id}"
    body = m.form(page, f"{page}/decide").data(("decision", "approve"))
    return Tap(f"{page}/decide", body, once(stack, "return.approved", sale_id), counter=m)


def approve_here(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)
    return_id = flows.request_return(c, sale_id)
    page = f"/sales/{sale_id}/returns/{return_id}"
    form = c.form(page, f"{page}/approve-here")
    body = form.data(("decision", "approve"), username="ldn.manager", password=DEMO_PASSWORD)
    # A tap that finds the one password check of its worker busy is told to try again (429), as designed.
    return Tap(f"{page}/approve-here", body, once(stack, "return.approved", sale_id), Counter.ALLOWED | {429})


def confirmed_once(stack: Stack, sale_id: int) -> Callable[[list[requests.Response]], None]:
    def after(_: list[requests.Response]) -> None:
        assert events(stack, "return.confirmed", sale_id) == 1 and events(stack, "return.refunded", sale_id) == 1
        assert stack.sale_status(sale_id) == "cancelled"

    return after


def confirm_return(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id, return_id = approved_return(stack, c, m)
    page = f"/sales/{sale_id}/returns/{return_id}"
    return Tap(f"{page}/confirm", flows.confirm_return_body(c, sale_id, return_id), confirmed_once(stack, sale_id))


def check_return(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id, return_id = approved_return(stack, c, m)
    page = f"/sales/{sale_id}/returns/{return_id}"
    stack.sandbox.fault("confirm_cancellation", "error_500", 1)
    c.post(f"{page}/confirm", flows.confirm_return_body(c, sale_id, return_id))
    assert stack.portal.scalar("SELECT status FROM policy_return WHERE id = :id", id=return_id) == "confirming"
    return Tap(f"{page}/check", button(c, page, f"{page}/check"), confirmed_once(stack, sale_id))


def withdraw(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)
    return_id = flows.request_return(c, sale_id)
    page = f"/sales/{sale_id}/returns/{return_id}"
    return Tap(f"{page}/withdraw", button(c, page, f"{page}/withdraw"), once(stack, "return.withdrawn", sale_id))


def corrections_of(stack: Stack, sale_id: int) -> list[tuple[int, str]]:
    return stack.portal.rows("SELECT id, status FROM sale_correction WHERE sale_id = :id", id=sale_id)


def correct(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.booked_sale(c)
    item_id = flows.item_of(c, sale_id)

    def after(answers: list[requests.Response]) -> None:
        assert [s for _, s in corrections_of(stack, sale_id)] == ["quoted"]
        assert len({location(a) for a in answers}) == 1, "the taps landed on different corrections"

    return Tap(f"/sales/{sale_id}/items/{item_id}/correct", flows.correction_body(c, sale_id, item_id, "SN-TAP"), after)


def quoted_correction(stack: Stack, c: Counter) -> tuple[int, int]:
    sale_id = flows.booked_sale(c)
    return sale_id, flows.quote_correction(c, sale_id, flows.item_of(c, sale_id), f"SN-{sale_id}")


def confirm_correction(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id, correction_id = quoted_correction(stack, c)
    page = f"/sales/{sale_id}/corrections/{correction_id}"
    body = flows.confirm_correction_body(c, sale_id, correction_id)
    return Tap(f"{page}/confirm", body, once(stack, "correction.confirmed", sale_id))


def check_correction(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id, correction_id = quoted_correction(stack, c)
    page = f"/sales/{sale_id}/corrections/{correction_id}"
    stack.sandbox.fault("confirm_update", "error_500", 1)
    c.post(f"{page}/confirm", flows.confirm_correction_body(c, sale_id, correction_id))
    assert stack.portal.scalar("SELECT status FROM sale_correction WHERE id = :id", id=correction_id) == "confirming"
    return Tap(f"{page}/check", button(c, page, f"{page}/check"), once(stack, "correction.confirmed", sale_id))


def discard(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id, correction_id = quoted_correction(stack, c)
    page = f"/sales/{sale_id}/corrections/{correction_id}"
    return Tap(f"{page}/discard", button(c, page, f"{page}/discard"), once(stack, "correction.discarded", sale_id))


def refund(stack: Stack, c: Counter, m: Counter) -> Tap:
    sale_id = flows.to_payment(c, last_name=flows.DECLINED_NAME)
    c.post(f"/sales/{sale_id}/payment", flows.payment_body(c, sale_id))
    assert stack.sale_status(sale_id) == "failed"
    page = f"/sales/{sale_id}/refund"
    body = c.form(page, page).data(refund_reference="RF-TAP")
    return Tap(page, body, once(stack, "sale.refund_recorded", sale_id))


# Buttons whose preparation arms a fault: prepared one after another, so no fault fires on another's step.
WITH_FAULTS: dict[str, Callable[[Stack, Counter, Counter], Tap]] = {
    "sales.quote": quote_retry,
    "sales.edit": edit_and_quote,
    "sales.opt_out": opt_out_retry,
    "sales.book": book_retry,
    "sales.check": check_booking,
    "policies.check_return": check_return,
    "policies.check_correction": check_correction,
}
PLAIN: dict[str, Callable[[Stack, Counter, Counter], Tap]] = {
    "sales.new": new_sale,
    "sales.options": choose,
    "sales.options (No thanks to all)": decline_all,
    "sales.payment": pay,
    "sales.resend_email": email,
    "policies.new_return": new_return,
    "policies.decide": decide,
    "policies.approve_here": approve_here,
    "policies.confirm_return": confirm_return,
    "policies.withdraw_return": withdraw,
    "policies.new_correction": correct,
    "policies.confirm_correction": confirm_correction,
    "policies.discard_correction": discard,
    "policies.refund_failed": refund,
}
# POST routes of these screens that are not a button of a sale (with why).
NOT_TAPPED = {
    "policies.preview_again": "needs a return XCover refused or let expire; its preview is the one new_return taps",
}


def test_every_button_of_the_sale_is_tapped(app: Any) -> None:
    """Every POST route of the sale and after-sale screens is tapped below (or named in NOT_TAPPED with why)."""
    posts = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and rule.endpoint.split(".")[0] in ("sales", "policies")
    }
    tapped = {name.split(" ")[0] for name in (*WITH_FAULTS, *PLAIN)}
    assert posts - tapped - set(NOT_TAPPED) == set()


def test_three_taps_at_once_do_the_work_once(stack: Stack) -> None:
    manager = stack.counter("ldn.manager")
    ipads = {name: stack.counter() for name in (*WITH_FAULTS, *PLAIN)}
    taps = {name: prepare(stack, ipads[name], manager) for name, prepare in WITH_FAULTS.items()}
    assert stack.sandbox.faults_left() == []
    taps |= at_once({name: lambda n=name: PLAIN[n](stack, ipads[n], manager) for name in PLAIN})
    answers = at_once({name: lambda n=name, t=tap: triple(t.counter or ipads[n], t) for name, tap in taps.items()})
    stack.sandbox.settle()
    failures = []
    for name, tap in taps.items():
        try:
            tap.after(answers[name])
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert failures == []
    flows.assert_settled(stack)
