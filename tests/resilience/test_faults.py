"""Every XCover call the portal makes, under every fault, against gunicorn: nothing is lost, nothing is doubled.

For one fault mode, each scenario brings its own sale (head office's: a fresh catalogue draft) to the step just
before a call to XCover, the fault is armed at the sandbox (served alone, over HTTP) for that call, and all the
steps are tapped at once. Then the faults are cleared, XCover finishes what it was doing, `flask reconcile` runs as
cron would, the associate (or head office) taps whatever Retry or Check again the screen offers, and each scenario
must end where it should. The portal runs with the production timeouts (read 5 s, booking read 10 s, whole call
18 s; gunicorn's worker timeout 30 s), so the 12-second latency and the 12-second drop-after-apply are real: they
outlast the client's read timeout.

The portal's calls (portal/xcover/client.py, used by portal/sales, portal/policies and portal/admin):

| Operation | Screen step |
|---|---|
| create_quote | New sale: Show cover options (and Retry) |
| create_quote (head office) | Offer catalogue draft: Check with XCover (and again once XCover answers) |
| opt_out | Options: No thanks to everything (and Retry) |
| create_booking | Payment: Record payment and book (Retry, Check again, `flask reconcile`) |
| get_booking | reading a booking back: a declined booking, a booking whose key is held, a refused cancellation |
| send_email | Sale page: Resend email |
| cancel (preview) | Return cover |
| confirm_cancellation | Return: Confirm cancellation (and Check again) |
| quote_for_update | Correct details |
| confirm_update | Correction: Apply (and Check again) |
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import requests

from . import flows
from .flows import Stack
from .support import Counter, location, sale_id_in

# (id, sandbox mode, firings, seconds). A client retry is a request too, so "3" fails every attempt of a call.
MODES = [
    ("latency-0", "latency", 1, 0),
    ("latency-2", "latency", 1, 2),
    ("latency-12", "latency", 1, 12),
    ("429-retry-after", "rate_limit", 3, 1),
    ("5xx-burst", "5xx", 3, 0),
    ("drop-after-apply", "timeout_after_apply", 1, 12),
]


@dataclass
class Ctx:
    """One scenario's counter, the fault mode, its sale and what its steps keep."""

    stack: Stack
    counter: Counter
    manager: Counter
    mode: tuple = ()
    sale_id: int = 0
    other_id: int = 0
    body: list[tuple[str, str]] = field(default_factory=list)
    answer: requests.Response | None = None
    error: BaseException | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def status(self) -> str:
        """The sale's status in the portal."""
        return self.stack.sale_status(self.sale_id)

    def ref(self) -> str:
        """The sale's XCover reference."""
        return self.stack.portal.scalar("SELECT xcover_ref FROM sale WHERE id = :id", id=self.sale_id)


@dataclass(frozen=True)
class Scenario:
    """A step that calls XCover: get to it, tap it, finish it after the fault, and where it must end."""

    operation: str
    prepare: Callable[[Ctx], None]
    act: Callable[[Ctx], requests.Response]
    meanwhile: Callable[[Ctx], None]
    settle: Callable[[Ctx], None]
    check: Callable[[Ctx], None]


# ---- create_quote ---------------------------------------------------------------------------------------


def quote_prepare(ctx: Ctx) -> None:
    ctx.body = flows.new_sale_body(ctx.counter)


def quote_act(ctx: Ctx) -> requests.Response:
    resp = ctx.counter.post("/sales/new", ctx.body)
    ctx.sale_id = sale_id_in(location(resp))
    return resp


def quote_meanwhile(ctx: Ctx) -> None:
    # Quoted, or a draft waiting on Retry with everything typed kept.
    assert ctx.status() in ("quoted", "draft")


def quote_settle(ctx: Ctx) -> None:
    for _ in range(3):
        if ctx.status() != "draft":
            return
        page, action = f"/sales/{ctx.sale_id}/edit", f"/sales/{ctx.sale_id}/quote"
        ctx.counter.post(action, flows.button_body(ctx.counter, page, action))


def quote_check(ctx: Ctx) -> None:
    assert ctx.status() == "quoted"


# ---- opt_out --------------------------------------------------------------------------------------------


def opt_out_prepare(ctx: Ctx) -> None:
    ctx.sale_id = flows.start_sale(ctx.counter)
    ctx.body = flows.options_body(ctx.counter, ctx.sale_id, take=False)


def opt_out_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/options", ctx.body)


def opt_out_meanwhile(ctx: Ctx) -> None:
    assert ctx.status() in ("declined", "quoted")


def opt_out_settle(ctx: Ctx) -> None:
    if ctx.status() == "quoted":
        page, action = f"/sales/{ctx.sale_id}/options", f"/sales/{ctx.sale_id}/opt-out"
        ctx.counter.post(action, flows.button_body(ctx.counter, page, action))


def opt_out_check(ctx: Ctx) -> None:
    assert ctx.status() == "declined"


# ---- create_booking (and get_booking, through a declined booking) ---------------------------------------------


def booking_prepare(ctx: Ctx, last_name: str = "Doe") -> None:
    ctx.sale_id = flows.to_payment(ctx.counter, last_name=last_name)
    ctx.body = flows.payment_body(ctx.counter, ctx.sale_id)


def booking_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/payment", ctx.body)


def booking_meanwhile(ctx: Ctx) -> None:
    """Covered only if XCover booked it; back on Payment only if XCover did not; else not yet known."""
    status, booked = ctx.status(), dict(ctx.stack.sandbox.booked())
    assert status in ("booked", "outcome_unknown", "quoted"), status
    if status == "booked":
        assert booked.get(ctx.ref()) == "CONFIRMED"
    if status == "quoted":
        assert ctx.ref() not in booked, "the portal said nothing was booked, but XCover booked it"


def booking_settle(ctx: Ctx) -> None:
    if ctx.status() == "quoted":
        page, action = f"/sales/{ctx.sale_id}/payment", f"/sales/{ctx.sale_id}/book"
        ctx.counter.post(action, flows.button_body(ctx.counter, page, action))
    if ctx.status() == "outcome_unknown":
        page, action = f"/sales/{ctx.sale_id}", f"/sales/{ctx.sale_id}/check"
        ctx.counter.post(action, flows.button_body(ctx.counter, page, action))


def booking_check(ctx: Ctx) -> None:
    assert ctx.status() == "booked"
    assert dict(ctx.stack.sandbox.booked()).get(ctx.ref()) == "CONFIRMED"


def declined_meanwhile(ctx: Ctx) -> None:
    assert ctx.status() == "failed"
    assert ctx.ref() not in dict(ctx.stack.sandbox.booked())


def declined_check(ctx: Ctx) -> None:
    declined_meanwhile(ctx)


# ---- send_email -----------------------------------------------------------------------------------------


def email_prepare(ctx: Ctx) -> None:
    ctx.sale_id = flows.booked_sale(ctx.counter)
    ctx.body = flows.button_body(ctx.counter, f"/sales/{ctx.sale_id}", f"/sales/{ctx.sale_id}/email")


def email_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/email", ctx.body)


def emails(ctx: Ctx) -> int:
    """Emails XCover recorded for the sale's booking (the booking's own, then each resend)."""
    doc = ctx.stack.sandbox.package(ctx.ref())
    return len(doc.get("_emails", []))


def email_meanwhile(ctx: Ctx) -> None:
    assert ctx.status() == "booked"
    resent = ctx.stack.portal.scalar(
        "SELECT count(*) FROM audit_event WHERE action = 'sale.email_resent' AND object_id = :id", id=str(ctx.sale_id)
    )
    ctx.notes["resent"] = resent
    if resent:  # the portal says it was sent only when XCover took it
        assert emails(ctx) >= 1


def email_settle(ctx: Ctx) -> None:
    if not ctx.notes["resent"]:
        page, action = f"/sales/{ctx.sale_id}", f"/sales/{ctx.sale_id}/email"
        ctx.counter.post(action, flows.button_body(ctx.counter, page, action))


def email_check(ctx: Ctx) -> None:
    assert ctx.status() == "booked" and emails(ctx) >= 1


# ---- cancel (the return's refund preview) ---------------------------------------------------------------


def returns_of(ctx: Ctx) -> list[tuple[int, str]]:
    return ctx.stack.portal.rows("SELECT id, status FROM policy_return WHERE sale_id = :id", id=ctx.sale_id)


def preview_prepare(ctx: Ctx) -> None:
    ctx.sale_id = flows.booked_sale(ctx.counter)
    ctx.body = flows.return_body(ctx.counter, ctx.sale_id)


def preview_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/returns/new", ctx.body)


def preview_meanwhile(ctx: Ctx) -> None:
    assert ctx.status() == "booked" and len(returns_of(ctx)) <= 1


def preview_settle(ctx: Ctx) -> None:
    if not returns_of(ctx):
        flows.request_return(ctx.counter, ctx.sale_id)


def preview_check(ctx: Ctx) -> None:
    assert [s for _, s in returns_of(ctx)] == ["previewed"]
    assert ctx.stack.sandbox.package(ctx.ref())["status"] == "CONFIRMED"  # a preview cancels nothing


# ---- confirm_cancellation ------------------------------------------------------------------------------------


def confirm_return_prepare(ctx: Ctx) -> None:
    ctx.sale_id = flows.booked_sale(ctx.counter)
    ctx.other_id = flows.request_return(ctx.counter, ctx.sale_id)
    flows.approve(ctx.manager, ctx.sale_id, ctx.other_id)
    ctx.body = flows.confirm_return_body(ctx.counter, ctx.sale_id, ctx.other_id)


def confirm_return_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/returns/{ctx.other_id}/confirm", ctx.body)


def return_status(ctx: Ctx) -> str:
    return ctx.stack.portal.scalar("SELECT status FROM policy_return WHERE id = :id", id=ctx.other_id)


def confirm_return_meanwhile(ctx: Ctx) -> None:
    status, at_xcover = return_status(ctx), ctx.stack.sandbox.package(ctx.ref())["status"]
    assert status in ("confirmed", "confirming", "approved"), status
    if status == "confirmed":
        assert at_xcover == "CANCELLED"
    if status == "approved":
        assert at_xcover != "CANCELLED", "the portal said nothing was cancelled, but XCover cancelled it"


def confirm_return_settle(ctx: Ctx) -> None:
    page = f"/sales/{ctx.sale_id}/returns/{ctx.other_id}"
    if return_status(ctx) == "confirming":
        ctx.counter.post(f"{page}/check", flows.button_body(ctx.counter, page, f"{page}/check"))
    if return_status(ctx) == "approved":
        ctx.counter.post(f"{page}/confirm", flows.confirm_return_body(ctx.counter, ctx.sale_id, ctx.other_id))


def confirm_return_check(ctx: Ctx) -> None:
    assert return_status(ctx) == "confirmed" and ctx.status() == "cancelled"
    assert ctx.stack.sandbox.package(ctx.ref())["status"] == "CANCELLED"


# ---- quote_for_update ------------------------------------------------------------------------------------------


def corrections_of(ctx: Ctx) -> list[tuple[int, str]]:
    return ctx.stack.portal.rows("SELECT id, status FROM sale_correction WHERE sale_id = :id", id=ctx.sale_id)


def correct_prepare(ctx: Ctx) -> None:
    ctx.sale_id = flows.booked_sale(ctx.counter)
    ctx.other_id = flows.item_of(ctx.counter, ctx.sale_id)
    ctx.body = flows.correction_body(ctx.counter, ctx.sale_id, ctx.other_id, f"SN-{ctx.sale_id}")


def correct_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/items/{ctx.other_id}/correct", ctx.body)


def correct_meanwhile(ctx: Ctx) -> None:
    assert len(corrections_of(ctx)) <= 1


def correct_settle(ctx: Ctx) -> None:
    if not corrections_of(ctx):
        flows.quote_correction(ctx.counter, ctx.sale_id, ctx.other_id, f"SN-{ctx.sale_id}")


def correct_check(ctx: Ctx) -> None:
    assert [s for _, s in corrections_of(ctx)] == ["quoted"]


# ---- confirm_update --------------------------------------------------------------------------------------------


def serials_at_xcover(ctx: Ctx) -> set[str]:
    """The serial numbers XCover holds for the sale's items."""
    return {str(item.get("serial_number")) for item in ctx.stack.sandbox.package(ctx.ref()).get("_items", [])}


def confirm_correction_prepare(ctx: Ctx) -> None:
    correct_prepare(ctx)
    ctx.other_id = flows.quote_correction(ctx.counter, ctx.sale_id, ctx.other_id, f"SN-{ctx.sale_id}")
    ctx.body = flows.confirm_correction_body(ctx.counter, ctx.sale_id, ctx.other_id)


def confirm_correction_act(ctx: Ctx) -> requests.Response:
    return ctx.counter.post(f"/sales/{ctx.sale_id}/corrections/{ctx.other_id}/confirm", ctx.body)


def correction_status(ctx: Ctx) -> str:
    return ctx.stack.portal.scalar("SELECT status FROM sale_correction WHERE id = :id", id=ctx.other_id)


def confirm_correction_meanwhile(ctx: Ctx) -> None:
    assert correction_status(ctx) in ("confirmed", "confirming", "quoted"), correction_status(ctx)


def confirm_correction_settle(ctx: Ctx) -> None:
    page = f"/sales/{ctx.sale_id}/corrections/{ctx.other_id}"
    if correction_status(ctx) == "confirming":
        ctx.counter.post(f"{page}/check", flows.button_body(ctx.counter, page, f"{page}/check"))
    if correction_status(ctx) == "quoted":
        ctx.counter.post(f"{page}/confirm", flows.confirm_correction_body(ctx.counter, ctx.sale_id, ctx.other_id))


def confirm_correction_check(ctx: Ctx) -> None:
    assert correction_status(ctx) == "confirmed"
    serial = ctx.stack.portal.scalar(
        "SELECT i.serial_number FROM sale_correction c JOIN sale_item i ON i.id = c.item_id WHERE c.id = :id",
        id=ctx.other_id,
    )
    assert serial == f"SN-{ctx.sale_id}" and serial in serials_at_xcover(ctx)


# ---- create_quote, for head office: the offer catalogue's Check with XCover ----------------------------------------

# The check's one quote request carries no idempotency key, so it is never retried: XCover can answer it in time
# only when it is merely slower than usual, under the production read timeout the portal runs with.
READ_TIMEOUT = 5


def draft_lines(ctx: Ctx) -> list[tuple[Any, ...]]:
    """The draft's lines in order: category, policy type, version, term, and what the last check said."""
    return ctx.stack.portal.rows(
        "SELECT c.key, l.policy_type, l.policy_type_version, l.cover_term_months, l.check_result FROM offer_line l "
        "JOIN offer_category c ON c.id = l.category_id WHERE c.catalogue_id = :id ORDER BY c.position, l.position",
        id=ctx.other_id,
    )


def checks_recorded(ctx: Ctx, result: str) -> int:
    """The draft's catalogue.checked events with that result (head office's audit chain)."""
    return ctx.stack.portal.scalar(
        "SELECT count(*) FROM audit_event WHERE action = 'catalogue.checked' AND object_type = 'catalogue' "
        "AND object_id = :number AND result = :result",
        number=str(ctx.notes["number"]),
        result=result,
    )


def assert_draft_intact(ctx: Ctx) -> list[str]:
    """Still the draft, its lines as they were, the version in use the same; what the check said of each line."""
    status = ctx.stack.portal.scalar("SELECT status FROM offer_catalogue WHERE id = :id", id=ctx.other_id)
    assert status == "draft", f"version {ctx.notes['number']} is {status}"
    lines = draft_lines(ctx)
    assert [line[:4] for line in lines] == ctx.notes["lines"], "the draft's lines changed"
    published = ctx.stack.portal.rows("SELECT id FROM offer_catalogue WHERE status = 'published'")
    assert published == [(ctx.notes["published"],)], "the version in use changed"
    return [line[4] for line in lines]


def catalogue_prepare(ctx: Ctx) -> None:
    ctx.other_id = flows.fresh_catalogue_draft(ctx.counter)
    ctx.notes["number"] = ctx.stack.portal.scalar("SELECT number FROM offer_catalogue WHERE id = :id", id=ctx.other_id)
    ctx.notes["lines"] = [line[:4] for line in draft_lines(ctx)]
    ctx.notes["published"] = ctx.stack.portal.scalar("SELECT id FROM offer_catalogue WHERE status = 'published'")
    assert ctx.notes["lines"] and {line[4] for line in draft_lines(ctx)} == {"unchecked"}
    ctx.body = flows.catalogue_check_body(ctx.counter, ctx.other_id)


def catalogue_act(ctx: Ctx) -> requests.Response:
    # The check answers with the draft's page whatever XCover did: never an error page.
    return ctx.counter.post(f"{flows.CATALOGUE}{ctx.other_id}/check", ctx.body, allowed=frozenset({302}))


def catalogue_meanwhile(ctx: Ctx) -> None:
    """Every line accepted and said so; or, XCover failing, nothing learnt, head office told and the failure audited."""
    results = assert_draft_intact(ctx)
    html = ctx.counter.get(f"{flows.CATALOGUE}{ctx.other_id}").text  # shows what the tap flashed
    _, kind, _, seconds = ctx.mode
    answerable = kind == "latency" and seconds < READ_TIMEOUT
    # A delay under the read timeout usually lets XCover answer, but on a busy machine it may not: the check must
    # then look like any failed one.
    if answerable and set(results) == {"accepted"}:
        assert f"XCover accepts {len(results)} of {len(results)} lines." in html
        assert checks_recorded(ctx, "success") == 1 and checks_recorded(ctx, "failure") == 0
        return
    assert set(results) == {"unchecked"}, f"XCover failed, yet the lines say {set(results)}"
    assert "XCover is not answering right now. Nothing was changed: try again." in html, flows.errors_on(html)
    assert f'id="publish-blocked">{len(results)} line(s) not accepted' in html
    assert ctx.stack.portal.scalar("SELECT checked_at FROM offer_catalogue WHERE id = :id", id=ctx.other_id) is None
    assert checks_recorded(ctx, "failure") == 1 and checks_recorded(ctx, "success") == 0


def catalogue_settle(ctx: Ctx) -> None:
    if set(assert_draft_intact(ctx)) != {"accepted"}:
        body = flows.catalogue_check_body(ctx.counter, ctx.other_id)
        ctx.counter.post(f"{flows.CATALOGUE}{ctx.other_id}/check", body, allowed=frozenset({302}))


def catalogue_check(ctx: Ctx) -> None:
    assert set(assert_draft_intact(ctx)) == {"accepted"}
    html = ctx.counter.get(f"{flows.CATALOGUE}{ctx.other_id}").text
    assert 'id="publish-blocked"' not in html and "Every line is accepted." in html
    assert checks_recorded(ctx, "success") == 1


SCENARIOS: dict[str, Scenario] = {
    "create_quote": Scenario("create_quote", quote_prepare, quote_act, quote_meanwhile, quote_settle, quote_check),
    "opt_out": Scenario("opt_out", opt_out_prepare, opt_out_act, opt_out_meanwhile, opt_out_settle, opt_out_check),
    "create_booking": Scenario(
        "create_booking", booking_prepare, booking_act, booking_meanwhile, booking_settle, booking_check
    ),
    "send_email": Scenario("send_email", email_prepare, email_act, email_meanwhile, email_settle, email_check),
    "cancel": Scenario("cancel", preview_prepare, preview_act, preview_meanwhile, preview_settle, preview_check),
    "confirm_cancellation": Scenario(
        "confirm_cancellation",
        confirm_return_prepare,
        confirm_return_act,
        confirm_return_meanwhile,
        confirm_return_settle,
        confirm_return_check,
    ),
    "quote_for_update": Scenario(
        "quote_for_update", correct_prepare, correct_act, correct_meanwhile, correct_settle, correct_check
    ),
    "confirm_update": Scenario(
        "confirm_update",
        confirm_correction_prepare,
        confirm_correction_act,
        confirm_correction_meanwhile,
        confirm_correction_settle,
        confirm_correction_check,
    ),
}
# The declined booking calls create_booking before it reads the booking back (get_booking), and head office's check
# calls create_quote as a new sale does: they are tapped after the others, so neither takes another scenario's fault
# nor leaves its own to another step.
LATER = {
    "get_booking": Scenario(
        "get_booking",
        lambda ctx: booking_prepare(ctx, flows.DECLINED_NAME),
        booking_act,
        declined_meanwhile,
        booking_settle,
        declined_check,
    ),
    "catalogue_check": Scenario(
        "create_quote", catalogue_prepare, catalogue_act, catalogue_meanwhile, catalogue_settle, catalogue_check
    ),
}
# Who holds each iPad: the London associate, unless named here.
USERS = {"manager": "ldn.manager", "catalogue_check": "admin"}


@pytest.fixture(scope="module")
def counters(stack: Stack) -> dict[str, Counter]:
    """One signed-in iPad per scenario (they tap at the same moment), and the store manager's."""
    names = [*SCENARIOS, *LATER, "manager"]
    return {name: stack.counter(USERS.get(name, "ldn.alex")) for name in names}


def at_once(steps: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each step in its own thread, all at once (one iPad each); raise the first failure, named."""
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def run(name: str) -> None:
        try:
            results[name] = steps[name]()
        except BaseException as exc:  # noqa: B036 (kept, and raised in the test's own thread below)
            errors[name] = exc

    threads = [threading.Thread(target=run, args=(name,)) for name in steps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for name, exc in errors.items():
        raise AssertionError(f"{name}: {exc}") from exc
    return results


def run_phase(stack: Stack, scenarios: dict[str, Scenario], ctxs: dict[str, Ctx], mode: tuple) -> None:
    """Arm the fault on each scenario's call, tap every step at once, then let XCover finish and check meanwhile."""
    _, kind, count, seconds = mode
    for scenario in scenarios.values():
        if kind == "5xx":  # 502 and 503 (retried for a call with a key), then 500 (never retried)
            for status in (502, 503, 500):
                stack.sandbox.fault(scenario.operation, f"error_{status}", 1)
        else:
            stack.sandbox.fault(scenario.operation, kind, count, seconds)
    at_once({name: partial(s.act, ctxs[name]) for name, s in scenarios.items()})
    stack.sandbox.settle()
    stack.sandbox.clear_faults()
    for name, scenario in scenarios.items():
        try:
            scenario.meanwhile(ctxs[name])
        except AssertionError as exc:
            raise AssertionError(f"{name} right after the fault: {exc}") from exc


@pytest.mark.parametrize("mode", MODES, ids=[m[0] for m in MODES])
def test_every_call_under_the_fault_settles_once(stack: Stack, counters: dict[str, Counter], mode: tuple) -> None:
    everything = {**SCENARIOS, **LATER}
    ctxs = {name: Ctx(stack, counters[name], counters["manager"], mode) for name in everything}
    at_once({name: partial(s.prepare, ctxs[name]) for name, s in everything.items()})
    run_phase(stack, SCENARIOS, ctxs, mode)
    run_phase(stack, LATER, ctxs, mode)
    at_once({name: partial(s.settle, ctxs[name]) for name, s in everything.items()})
    for name, scenario in everything.items():
        try:
            scenario.check(ctxs[name])
        except AssertionError as exc:
            raise AssertionError(f"{name} after settling: {exc}") from exc


def test_after_every_fault_everything_is_settled_once(stack: Stack) -> None:
    flows.assert_settled(stack)
