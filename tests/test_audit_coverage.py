"""Every state-changing request in the app leaves exactly one event (or its documented set), against the sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from portal.audit.verify import verify_chains
from portal.extensions import db
from portal.models import AuditEvent, Correction, PolicyReturn, Sale
from tests.conftest import PASSWORD, csrf_token
from tests.route_table import changing
from xcover_sandbox import control

HOOK_KEY, HOOK_SECRET = "hook-key", "hook-secret"
# One attempt per call, so injected faults settle at once instead of after real back-off sleeps.
pytestmark = pytest.mark.parametrize(
    "app_overrides",
    [{"XCOVER_RETRY_MAX_ATTEMPTS": 1, "XCOVER_WEBHOOK_KEY": HOOK_KEY, "XCOVER_WEBHOOK_SECRET": HOOK_SECRET}],
)

# Quick switch (docs/quick-switch.md), walked by test_every_quick_switch_request_leaves_its_events.
SWITCH_WALKED = {"auth.set_pin", "auth.clear_pin", "auth.activity", "auth.lock", "auth.unlock", "admin.clear_pin"}
# Every route that changes something (it declares POST in tests/route_table.py, the one table of routes), split
# between the walks below: a new state-changing route fails its walk's last assertion until it is walked.
WALKED = changing(admin=False) - SWITCH_WALKED
ADMIN_WALKED = changing(admin=True) - SWITCH_WALKED

# Quick switch (docs/quick-switch.md), walked by test_every_quick_switch_request_leaves_its_events.
SWITCH_WALKED = {"auth.set_pin", "auth.clear_pin", "auth.activity", "auth.lock", "auth.unlock", "admin.clear_pin"}


def top() -> int:
    """The highest event id so far."""
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


class Walk:
    """Runs one request at a time and checks the events it appended, and only those."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.seen: set[str] = set()

    def expect(self, actions: list[str], request: Callable[[], Any], endpoint: str = "") -> Any:
        """Run one request (the CSRF token is fetched before counting) and compare the new events."""
        before = top()
        response = request()
        db.session.expire_all()
        got = list(
            db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.id > before).order_by(AuditEvent.id))
        )
        assert got == actions, (endpoint, response.status_code, got)
        self.seen.add(endpoint)
        return response

    def post(self, actions: list[str], endpoint: str, path: str, data: dict[str, str], form: str = "") -> Any:
        """POST a form with a fresh CSRF token taken from `form` (default: the path itself)."""
        token = csrf_token(self.client, form or path)
        return self.expect(actions, lambda: self.client.post(path, data={"csrf_token": token, **data}), endpoint)


YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()


def sale_data(price: str = "800.00", **extra: str) -> dict[str, str]:
    """A one-product sale form."""
    return {
        "items-0-product_name": "TV",
        "items-0-category": "electronics",
        "items-0-price": price,
        "items-0-quantity": "1",
        "items-0-purchase_date": YESTERDAY,
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+44 7400 123456",
        "address1": "1 High Street",
        "city": "London",
        "region": "",
        "postcode": "SW1A 1AA",
        "country": "GB",
        "language": "en",
        **extra,
    }


def new_sale(walk: Walk, actions: list[str]) -> int:
    """Start a sale through the form; return its id."""
    walk.post(actions, "sales.new", "/sales/new", sale_data())
    return db.session.scalar(sa.select(sa.func.max(Sale.id)))


def choice(sale_id: int, decline: bool = False) -> dict[str, str]:
    """The options form choosing the first cover of each product, or declining each."""
    sale = db.session.get(Sale, sale_id)
    if decline:
        return {
            **{f"choice_{i.id}": "none" for i in sale.items},
            **{f"reason_{i.id}": "too_expensive" for i in sale.items},
        }
    return {"acknowledged": "y", **{f"choice_{i.id}": str(i.covers[0].id) for i in sale.items}}


def fault(app: Any, operation: str, mode: str) -> None:
    """Make the sandbox's next call of an operation fail."""
    with app.extensions["xcover_sandbox_app"].app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], operation, mode, count=1)


PAY = {"payment_method": "card", "receipt_number": "T-1", "card_last4": "4242"}


@pytest.mark.both_dbs
def test_every_state_changing_request_leaves_its_events(app, client, store, make_user):
    make_user("ann", "associate", store)
    make_user("meg", "manager", store)
    walk = Walk(client)

    def sign_in(user: str, password: str = PASSWORD) -> dict[str, str]:
        return {"username": user, "password": password}

    walk.post(["auth.sign_in_failed"], "auth.sign_in", "/auth/sign-in", sign_in("nobody"))
    walk.post(["auth.sign_in_failed"], "auth.sign_in", "/auth/sign-in", sign_in("ann", "wrong-password-1"))
    walk.post(["auth.sign_in"], "auth.sign_in", "/auth/sign-in", sign_in("ann"))

    # A sale: saving the draft and XCover's quote are two facts of one tap, so two events.
    sale_id = new_sale(walk, ["sale.saved", "sale.quoted"])
    walk.expect(["sale.options_shown"], lambda: client.get(f"/sales/{sale_id}/options"))
    walk.expect([], lambda: client.get(f"/sales/{sale_id}/options"))  # once per quote, not per look
    walk.post(["sale.saved", "sale.quoted"], "sales.edit", f"/sales/{sale_id}/edit", sale_data("900.00"))
    client.get(f"/sales/{sale_id}/options")
    # The customer view: shown, acknowledged by the customer, a wrong password, then the associate's unlock.
    options = f"/sales/{sale_id}/options"
    walk.post(["sale.customer_view_shown"], "customer.show_customer", f"/sales/{sale_id}/customer-view", {}, options)
    walk.post(
        ["sale.customer_acknowledged"], "customer.acknowledge", "/customer-view/acknowledge", {}, "/customer-view"
    )
    walk.post(
        ["sale.customer_view_unlocked"], "customer.unlock", "/customer-view/unlock", {"secret": "x"}, "/customer-view"
    )
    walk.post(
        ["sale.customer_view_unlocked"],
        "customer.unlock",
        "/customer-view/unlock",
        {"secret": PASSWORD},
        "/customer-view",
    )
    walk.post(["sale.acknowledged"], "sales.options", f"/sales/{sale_id}/options", choice(sale_id))
    total = str(db.session.get(Sale, sale_id).cover_total)
    walk.post(
        ["sale.payment_recorded", "sale.booking_sent", "sale.booked"],
        "sales.payment",
        f"/sales/{sale_id}/payment",
        {**PAY, "amount_collected": total},
    )
    walk.post(["sale.email_resent"], "sales.resend_email", f"/sales/{sale_id}/email", {}, f"/sales/{sale_id}")
    first_booked = sale_id

    # XCover down while quoting, then Retry.
    fault(app, "create_quote", "error_503")
    sale_id = new_sale(walk, ["sale.saved", "sale.quote_failed"])
    walk.post(["sale.quoted"], "sales.quote", f"/sales/{sale_id}/quote", {}, f"/sales/{sale_id}/edit")

    # XCover down while booking (nothing applied), then Retry the booking.
    client.get(f"/sales/{sale_id}/options")
    # The customer view: shown, acknowledged by the customer, a wrong password, then the associate's unlock.
    options = f"/sales/{sale_id}/options"
    walk.post(["sale.customer_view_shown"], "customer.show_customer", f"/sales/{sale_id}/customer-view", {}, options)
    walk.post(
        ["sale.customer_acknowledged"], "customer.acknowledge", "/customer-view/acknowledge", {}, "/customer-view"
    )
    walk.post(
        ["sale.customer_view_unlocked"], "customer.unlock", "/customer-view/unlock", {"secret": "x"}, "/customer-view"
    )
    walk.post(
        ["sale.customer_view_unlocked"],
        "customer.unlock",
        "/customer-view/unlock",
        {"secret": PASSWORD},
        "/customer-view",
    )
    walk.post(["sale.acknowledged"], "sales.options", f"/sales/{sale_id}/options", choice(sale_id))
    total = str(db.session.get(Sale, sale_id).cover_total)
    fault(app, "create_booking", "rate_limit")
    walk.post(
        ["sale.payment_recorded", "sale.booking_sent", "sale.booking_failed"],
        "sales.payment",
        f"/sales/{sale_id}/payment",
        {**PAY, "amount_collected": total},
    )
    fault(app, "create_booking", "error_503")
    walk.post(
        ["sale.booking_sent", "sale.outcome_unknown"],
        "sales.book",
        f"/sales/{sale_id}/book",
        {},
        f"/sales/{sale_id}/payment",
    )
    # Check again: XCover books it with the same key; the booking and the settling of the unknown.
    walk.post(["sale.booked", "sale.reconciled"], "sales.check", f"/sales/{sale_id}/check", {}, f"/sales/{sale_id}")
    second_booked = sale_id

    # Declined, with XCover down for the opt-out, then Retry: one event per product declined, one for the opt-out.
    fault(app, "opt_out", "error_503")
    sale_id = new_sale(walk, ["sale.saved", "sale.quoted"])
    client.get(f"/sales/{sale_id}/options")
    walk.post(["sale.declined"], "sales.options", f"/sales/{sale_id}/options", choice(sale_id, decline=True))
    walk.post(["sale.opted_out"], "sales.opt_out", f"/sales/{sale_id}/opt-out", {}, f"/sales/{sale_id}/options")

    after_the_sale(app, walk, first_booked, second_booked)
    waiting = f"/sales/{second_booked}/returns/{latest(PolicyReturn)}"

    walk.post(["auth.sign_out"], "auth.sign_out", "/auth/sign-out", {}, "/")
    walk.post(["auth.sign_in"], "auth.sign_in", "/auth/sign-in", sign_in("meg"))
    walk.post(["return.refused"], "policies.decide", f"{waiting}/decide", {"decision": "refuse"}, waiting)
    # XCover cancels the second sale's booking on its own side and tells the portal.
    sale = db.session.get(Sale, second_booked)
    body = json.dumps({"event": "BOOKING_CANCELLED", "payload": {"id": sale.xcover_ref, "status": "CANCELLED"}})
    walk.expect(
        ["xcover.booking_cancelled"],
        lambda: client.post("/webhooks/xcover", data=body, headers=signed_webhook()),
        "webhooks.xcover",
    )
    walk.expect(["audit.viewed"], lambda: client.get("/audit/"))
    walk.expect(["audit.exported"], lambda: client.get("/audit/export.csv", buffered=True))
    walk.expect(["audit.exported"], lambda: client.get("/audit/export.jsonl", buffered=True))
    # Reports: looking changes nothing and records nothing; each CSV export is recorded.
    walk.expect([], lambda: client.get("/reports/?period=this_month"))
    for table in ("stores", "associates", "days", "policy_types", "declines"):
        walk.expect(["report.exported"], lambda t=table: client.get(f"/reports/export.csv?table={t}", buffered=True))

    assert not WALKED - walk.seen, f"state-changing routes not walked here: {sorted(WALKED - walk.seen)}"
    assert all(report.ok for report in verify_chains())


def latest(model: Any) -> int:
    """The newest row id of a model."""
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.max(model.id)))


def booked_cover(sale_id: int) -> str:
    """The id of a sale's first policy in force, as a form sends it."""
    db.session.expire_all()
    return str(next(c.id for c in db.session.get(Sale, sale_id).covers if c.status == "booked"))


def signed_webhook() -> dict[str, str]:
    """Headers XCover signs a webhook with (reference section 11)."""
    when = format_datetime(datetime.now(UTC), usegmt=True)
    digest = hmac.new(HOOK_SECRET.encode(), f"date: {when}".encode(), hashlib.sha256).digest()
    signature = quote(base64.b64encode(digest).decode(), safe="")
    return {
        "Date": when,
        "Authorization": f'Signature keyId="{HOOK_KEY}",algorithm="hmac-sha256",signature="{signature}"',
        "Content-Type": "application/json",
    }


def after_the_sale(app: Any, walk: Walk, first: int, second: int) -> None:
    """A failed booking's refund, returns and corrections, each request with its events (an associate signed in)."""
    sale_id = new_sale(walk, ["sale.saved", "sale.quoted"])
    walk.client.get(f"/sales/{sale_id}/options")
    walk.post(["sale.acknowledged"], "sales.options", f"/sales/{sale_id}/options", choice(sale_id))
    total = str(db.session.get(Sale, sale_id).cover_total)
    fault(app, "create_booking", "decline")
    walk.post(
        ["sale.payment_recorded", "sale.booking_sent", "sale.booking_failed"],
        "sales.payment",
        f"/sales/{sale_id}/payment",
        {**PAY, "amount_collected": total},
    )
    refund = f"/sales/{sale_id}/refund"
    walk.post(["sale.refund_recorded"], "policies.refund_failed", refund, {"refund_reference": "R-1"})

    # A return approved by a manager on this iPad (after one wrong password), confirmed through XCover's hiccups.
    new = f"/sales/{first}/returns/new"
    chosen = {"covers": booked_cover(first), "reason": "product_returned"}
    walk.post(["return.requested", "return.previewed"], "policies.new_return", new, chosen)
    ret = f"/sales/{first}/returns/{latest(PolicyReturn)}"
    sheet = {"username": "meg", "decision": "approve"}
    wrong = {**sheet, "password": "wrong-password-1"}
    walk.post(["auth.sign_in_failed"], "policies.approve_here", f"{ret}/approve-here", wrong, ret)
    walk.post(["return.approved"], "policies.approve_here", f"{ret}/approve-here", {**sheet, "password": PASSWORD}, ret)
    fault(app, "confirm_cancellation", "rate_limit")
    walk.post(["return.failed"], "policies.confirm_return", f"{ret}/confirm", {"refund_reference": "R-2"}, ret)
    fault(app, "confirm_cancellation", "error_503")
    walk.post(["return.outcome_unknown"], "policies.confirm_return", f"{ret}/confirm", {"refund_reference": "R-2"}, ret)
    walk.post(["return.confirmed", "return.refunded"], "policies.check_return", f"{ret}/check", {}, ret)

    # Corrections: applied, discarded, and one whose answer was lost.
    item = db.session.get(Sale, second).items[0]
    form = f"/sales/{second}/items/{item.id}/correct"
    fields = {"brand": "", "model": "", "sku": "", "price": f"{item.price:.2f}"}
    for serial, finish in (("SN-1", "confirm"), ("SN-2", "discard"), ("SN-3", "unknown")):
        walk.post(["correction.quoted"], "policies.new_correction", form, {**fields, "serial_number": serial})
        page = f"/sales/{second}/corrections/{latest(Correction)}"
        if finish == "confirm":
            walk.post(["correction.confirmed"], "policies.confirm_correction", f"{page}/confirm", {}, page)
        elif finish == "discard":
            walk.post(["correction.discarded"], "policies.discard_correction", f"{page}/discard", {}, page)
        else:
            fault(app, "confirm_update", "error_503")
            walk.post(["correction.outcome_unknown"], "policies.confirm_correction", f"{page}/confirm", {}, page)
            walk.post(["correction.confirmed"], "policies.check_correction", f"{page}/check", {}, page)

    # A preview that expired, run again, withdrawn; then one left for a manager to decide.
    new = f"/sales/{second}/returns/new"
    chosen = {"covers": booked_cover(second), "reason": "changed_mind"}
    walk.post(["return.requested", "return.previewed"], "policies.new_return", new, chosen)
    expired = latest(PolicyReturn)
    db.session.execute(
        sa.update(PolicyReturn)
        .where(PolicyReturn.id == expired)
        .values(confirm_before=datetime.now(UTC) - timedelta(minutes=1))
    )
    db.session.commit()
    ret = f"/sales/{second}/returns/{expired}"
    walk.post(
        ["return.expired", "return.requested", "return.previewed"], "policies.preview_again", f"{ret}/again", {}, ret
    )
    ret = f"/sales/{second}/returns/{latest(PolicyReturn)}"
    walk.post(["return.withdrawn"], "policies.withdraw_return", f"{ret}/withdraw", {}, ret)
    walk.post(["return.requested", "return.previewed"], "policies.new_return", new, chosen)


def test_every_state_changing_route_is_walked(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert routes == WALKED | ADMIN_WALKED | SWITCH_WALKED


def test_seed_demo_records_each_store_and_person_it_creates(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    actions = list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    per_store = ["store.created", "user.created", "user.created", "user.created"]
    # The catalogue init-db seeded, the admin, then each store and its three people.
    assert actions == ["catalogue.published", "user.created", *per_store, *per_store]
    assert runner.invoke(args=["seed-demo"]).exit_code == 0 and top() == len(actions)  # a second run adds nothing


def _lock(username: str) -> None:
    """Lock an account as ten wrong passwords would."""
    from portal.models import User, utcnow

    user = db.session.scalar(sa.select(User).where(User.username == username))
    user.locked_until = utcnow() + timedelta(minutes=5)
    db.session.commit()


@pytest.mark.both_dbs
def test_every_administration_request_leaves_its_events(app, client, store, make_user):
    from portal.models import CatalogueVersion, Store, User
    from tests.test_admin_stores import NEW_STORE

    make_user("meg", "manager", store)
    make_user("boss", "admin")
    walk = Walk(client)
    people = f"/admin/stores/{store.id}/people"

    # A manager runs the store's people and settings: one event per change, none for a change that changes nothing.
    walk.post(["auth.sign_in"], "auth.sign_in", "/auth/sign-in", {"username": "meg", "password": PASSWORD})
    walk.post(
        ["user.created"],
        "admin.new_person",
        f"{people}/new",
        {"username": "jo.b", "display_name": "Jo Bloggs", "role": "associate", "password": "first-day-pass"},
    )
    jo = db.session.scalar(sa.select(User).where(User.username == "jo.b"))
    page = f"/admin/people/{jo.id}"
    settings = {"name": "London Oxford St", "timezone": "Europe/London", "language": "en", "phone_country": "GB"}
    walk.post(["store.updated"], "admin.store_settings", f"/admin/stores/{store.id}/settings", settings)
    walk.post([], "admin.store_settings", f"/admin/stores/{store.id}/settings", settings)
    _lock("jo.b")
    walk.post(["user.unlocked"], "admin.unlock_person", f"{page}/unlock", {}, page)
    walk.post([], "admin.unlock_person", f"{page}/unlock", {}, page)
    walk.post(["user.password_reset"], "admin.reset_password", f"{page}/password", {"password": ""}, page)
    walk.post(["user.signed_out"], "admin.sign_out_person", f"{page}/sign-out", {}, page)
    walk.post(["user.disabled"], "admin.disable_person", f"{page}/disable", {}, page)
    walk.post([], "admin.disable_person", f"{page}/disable", {}, page)
    walk.post(["user.enabled"], "admin.enable_person", f"{page}/enable", {}, page)
    walk.post(
        ["user.password_reset"], "admin.reset_password", f"{page}/password", {"password": "second-day-pass"}, page
    )
    change = {"current_password": PASSWORD, "new_password": "my-own-passphrase", "confirm": "my-own-passphrase"}
    walk.post(["auth.password_changed"], "auth.change_password", "/auth/password", change)

    # The associate, on a temporary password: a wrong current one fails (and counts), the right one changes it.
    associate = Walk(client.application.test_client())
    associate.post(
        ["auth.sign_in"], "auth.sign_in", "/auth/sign-in", {"username": "jo.b", "password": "second-day-pass"}
    )
    mine = {"new_password": "jo-chooses-this", "confirm": "jo-chooses-this"}
    associate.post(
        ["auth.password_changed"], "auth.change_password", "/auth/password", {**mine, "current_password": "nope-nope-1"}
    )
    associate.post(
        ["auth.password_changed"],
        "auth.change_password",
        "/auth/password",
        {**mine, "current_password": "second-day-pass"},
    )
    results = db.session.scalars(
        sa.select(AuditEvent.result).where(AuditEvent.action == "auth.password_changed").order_by(AuditEvent.id)
    ).all()
    assert results == ["success", "failure", "success"]

    # Head office opens a store, gives it a manager, changes it, closes and reopens it.
    walk.post(["auth.sign_out"], "auth.sign_out", "/auth/sign-out", {}, "/")
    walk.post(["auth.sign_in"], "auth.sign_in", "/auth/sign-in", {"username": "boss", "password": PASSWORD})
    new_store = dict(NEW_STORE)
    walk.post(["store.created"], "admin.new_store", "/admin/stores/new", new_store)
    man = db.session.scalar(sa.select(Store).where(Store.code == "MAN01"))
    walk.post(
        ["user.created"],
        "admin.new_person",
        f"/admin/stores/{man.id}/people/new",
        {"username": "man.manager", "display_name": "Mo Manager", "role": "manager", "password": ""},
    )
    del new_store["code"]
    walk.post(
        ["store.updated"], "admin.store_settings", f"/admin/stores/{man.id}/settings", {**new_store, "currency": "EUR"}
    )
    store_page = f"/admin/stores/{man.id}"
    walk.post(["store.deactivated"], "admin.deactivate_store", f"{store_page}/deactivate", {}, store_page)
    walk.post([], "admin.deactivate_store", f"{store_page}/deactivate", {}, store_page)
    walk.post(["store.reactivated"], "admin.reactivate_store", f"{store_page}/reactivate", {}, store_page)

    # The catalogue: a draft, a category XCover refuses, a change, the check, publishing; a draft discarded.
    walk.post(["catalogue.drafted"], "catalogue.start_draft", "/admin/catalogue/draft", {}, "/admin/catalogue/")
    walk.post([], "catalogue.start_draft", "/admin/catalogue/draft", {}, "/admin/catalogue/")  # the same draft again
    draft = db.session.scalar(sa.select(CatalogueVersion).where(CatalogueVersion.status == "draft"))
    base = f"/admin/catalogue/{draft.id}"
    bikes = {
        "label": "Bicycles",
        "lines-0-policy_type": "bike_cover",
        "lines-0-policy_type_version": "1",
        "lines-0-cover_term_months": "12",
    }
    walk.post(["catalogue.edited"], "catalogue.new_category", f"{base}/categories/new", {"key": "bikes", **bikes})
    electronics = next(c for c in draft.categories if c.key == "electronics")
    lines = {
        f"lines-{i}-{f}": str(getattr(line, f))
        for i, line in enumerate(electronics.lines)
        for f in ("policy_type", "policy_type_version", "cover_term_months")
    }
    category = f"{base}/categories/{electronics.id}"
    walk.post(["catalogue.edited"], "catalogue.edit_category", category, {"label": "TV and audio", **lines})
    walk.post([], "catalogue.edit_category", category, {"label": "TV and audio", **lines})
    check = {"store": str(store.id), "price": "499.00"}
    walk.post(["catalogue.checked"], "catalogue.check", f"{base}/check", check, base)
    walk.post([], "catalogue.publish", f"{base}/publish", {}, base)  # the refused line keeps it from being published
    bikes_id = next(c.id for c in draft.categories if c.key == "bikes")
    walk.post(["catalogue.edited"], "catalogue.delete_category", f"{base}/categories/{bikes_id}/delete", {}, base)
    fault(app, "create_quote", "error_503")
    walk.post(["catalogue.checked"], "catalogue.check", f"{base}/check", check, base)  # XCover down: a failure
    walk.post(["catalogue.checked"], "catalogue.check", f"{base}/check", check, base)
    walk.post(["catalogue.published"], "catalogue.publish", f"{base}/publish", {}, base)
    walk.post(["catalogue.drafted"], "catalogue.start_draft", "/admin/catalogue/draft", {}, "/admin/catalogue/")
    draft = db.session.scalar(sa.select(CatalogueVersion).where(CatalogueVersion.status == "draft"))
    base = f"/admin/catalogue/{draft.id}"
    walk.post(["catalogue.discarded"], "catalogue.discard", f"{base}/discard", {}, base)

    unwalked = ADMIN_WALKED - walk.seen - associate.seen
    assert not unwalked, f"state-changing administration routes not walked here: {sorted(unwalked)}"
    assert all(report.ok for report in verify_chains())
    details = str(db.session.scalars(sa.select(AuditEvent.details)).all())
    for secret in ("first-day-pass", "second-day-pass", "my-own-passphrase", "jo-chooses-this", PASSWORD):
        assert secret not in details


@pytest.mark.both_dbs
def test_every_quick_switch_request_leaves_its_events(app, client, store, make_user):
    from portal.models import User

    for name, role in (("alex", "associate"), ("meg", "manager")):
        make_user(name, role, store)
    alex = db.session.scalar(sa.select(User).where(User.username == "alex"))
    walk = Walk(client)
    pin, pad, sign_in = {"pin": "284710", "confirm": "284710"}, f"/auth/locked/{alex.id}", "/auth/sign-in"

    # Alex sets a PIN, locks the iPad, mistypes it once, comes back with it, then removes it.
    walk.post(["auth.sign_in"], "auth.sign_in", sign_in, {"username": "alex", "password": PASSWORD})
    walk.post(["auth.pin_set"], "auth.set_pin", "/auth/pin", pin)
    walk.post([], "auth.set_pin", "/auth/pin", {"pin": "123456", "confirm": "123456"})  # too easy: refused
    token = csrf_token(client, "/")
    walk.expect([], lambda: client.post("/auth/activity", headers={"X-CSRFToken": token}), "auth.activity")
    walk.post(["auth.device_locked"], "auth.lock", "/auth/lock", {}, "/")
    walk.post(["auth.pin_failed"], "auth.unlock", pad, {"pin": "999000"}, sign_in)
    walk.post(["auth.user_switched"], "auth.unlock", pad, {"pin": "284710"}, sign_in)
    walk.post(["auth.pin_cleared"], "auth.clear_pin", "/auth/pin/clear", {}, "/auth/pin")
    walk.post([], "auth.clear_pin", "/auth/pin/clear", {}, "/auth/pin")

    # Again with a PIN: five wrong ones block it (the fifth is auth.pin_blocked), and then even the right one fails.
    walk.post(["auth.sign_out"], "auth.sign_out", "/auth/sign-out", {}, "/")
    walk.post(["auth.sign_in"], "auth.sign_in", sign_in, {"username": "alex", "password": PASSWORD})
    walk.post(["auth.pin_set"], "auth.set_pin", "/auth/pin", pin)
    walk.post(["auth.device_locked"], "auth.lock", "/auth/lock", {}, "/")
    for _ in range(4):
        walk.post(["auth.pin_failed"], "auth.unlock", pad, {"pin": "999000"}, sign_in)
    walk.post(["auth.pin_blocked"], "auth.unlock", pad, {"pin": "999000"}, sign_in)
    walk.post(["auth.pin_failed"], "auth.unlock", pad, {"pin": "284710"}, sign_in)

    # The manager, signing in on the same iPad, removes Alex's PIN.
    walk.post(["auth.sign_in"], "auth.sign_in", sign_in, {"username": "meg", "password": PASSWORD})
    person = f"/admin/people/{alex.id}"
    walk.post(["auth.pin_cleared"], "admin.clear_pin", f"{person}/pin/clear", {}, person)
    walk.post([], "admin.clear_pin", f"{person}/pin/clear", {}, person)

    assert walk.seen >= SWITCH_WALKED
    assert all(report.ok for report in verify_chains())
    switched = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "auth.user_switched")).one()
    assert switched.details["from"] == "alex" and switched.details["to"] == "alex"
    details = str(db.session.scalars(sa.select(AuditEvent.details)).all())
    assert "284710" not in details and "999000" not in details
