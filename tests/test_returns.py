"""Returns against the mounted sandbox: preview, approval on the same iPad or from the queue, confirmation."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from portal.extensions import db
from portal.models import AuditEvent, Cover, PolicyReturn, Sale, SignInAddress, User, utcnow
from portal.policies import return_confirmation
from portal.sales.forms import CARD_MESSAGE
from portal.vocab import ReturnStatus
from portal.xcover import get_client
from tests.conftest import Auth, csrf_token
from tests.returns_support import (
    actions_since,
    approve_here,
    book_sale,
    confirm,
    last_event_id,
    latest_return,
    post,
    request_return,
    return_page,
)
from xcover_sandbox import control
from xcover_sandbox.extensions import db as sandbox_db
from xcover_sandbox.models import SandboxPackage, SandboxPending


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    """One attempt per call: the sandbox's faults settle at once."""
    return {"XCOVER_RETRY_MAX_ATTEMPTS": 1}


@pytest.fixture
def people(store, make_user) -> dict[str, User]:
    """An associate, a second associate and two managers of the London store."""
    return {
        "alex": make_user("alex", "associate", store),
        "sam": make_user("sam", "associate", store),
        "meg": make_user("meg", "manager", store),
        "max": make_user("max", "manager", store),
    }


@pytest.fixture
def seller(app, people, auth):
    auth.sign_in("alex")
    return auth.client


def booked(sale: Sale) -> list[Cover]:
    db.session.expire_all()
    return [c for c in db.session.get(Sale, sale.id).covers if c.status in ("booked", "returning", "cancelled")]


def sandbox_quotes(sandbox, ref: str) -> dict[str, str]:
    """The sandbox's status of each booked quote of a package."""
    with sandbox.app_context():
        doc = sandbox_db.session.get(SandboxPackage, ref).doc
        return {q["id"]: q["status"] for q in doc["quotes"].values() if q and q["id"] in doc["_booked"]}


def fault(app, operation: str, mode: str, seconds: float = 0.0) -> None:
    with app.extensions["xcover_sandbox_app"].app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], operation, mode, count=1, seconds=seconds)


@pytest.mark.both_dbs
def test_one_of_two_policies_returned_with_a_managers_approval_on_the_same_ipad(app, sandbox, seller, people):
    sale = book_sale(seller)
    laptop, phone = booked(sale)
    page = seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    assert 'id="return-cover"' in page

    before = last_event_id()
    response = request_return(seller, sale, laptop.id)
    assert response.status_code == 302
    assert actions_since(before) == ["return.requested", "return.previewed"]
    ret = latest_return()
    assert (ret.status, [line.cover_id for line in ret.lines]) == ("previewed", [laptop.id])
    # Only a preview so far: XCover still has both policies in force, and so has the portal.
    assert set(sandbox_quotes(sandbox, sale.xcover_ref).values()) == {"CONFIRMED"}
    assert ret.total_refund == laptop.price and ret.lines[0].inside_cooling_off
    page = seller.get(return_page(ret)).get_data(as_text=True)
    assert f'id="refund-total">£{laptop.price:,.2f}<' in page and "Inside" in page
    assert "Nothing is cancelled yet" in page and 'id="approval-sheet"' in page

    before = last_event_id()
    assert approve_here(seller, ret, "meg").status_code == 302
    assert actions_since(before) == ["return.approved"]  # no sign-in: nobody's session started or changed
    approval = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.id > before))
    assert approval.actor_name == "meg" and approval.actor_role == "manager"
    assert approval.details["on_ipad_of"] == "alex" and approval.details["in_person"] is True
    assert "Hello, Alex" in seller.get("/").get_data(as_text=True)  # still Alex's iPad
    ret = latest_return()
    assert (ret.status, ret.decided_by_id, ret.decided_here) == ("approved", people["meg"].id, True)

    before = last_event_id()
    assert confirm(seller, ret, "R-77").status_code == 302
    assert actions_since(before) == ["return.confirmed", "return.refunded"]
    refunded = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "return.refunded"))
    assert refunded.details == {
        "return_id": ret.id,
        "amount": f"{laptop.price:.2f}",
        "currency": "GBP",
        "refund_reference": "R-77",
    }
    ret = latest_return()
    assert (ret.status, ret.refund_reference, ret.refunded_amount) == ("confirmed", "R-77", laptop.price)
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "cancelled"
    assert db.session.get(Cover, phone.id).status == "booked"
    assert db.session.get(Sale, sale.id).status == "booked"  # the phone is still covered
    assert sandbox_quotes(sandbox, sale.xcover_ref) == {laptop.quote_id: "CANCELLED", phone.quote_id: "CONFIRMED"}
    page = seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    assert "Cancelled and refunded" in page and ">Covered<" in page


def test_returning_every_policy_cancels_the_sale(app, sandbox, seller, people):
    sale = book_sale(seller)
    request_return(seller, sale, *[c.id for c in booked(sale)], reason="changed_mind")
    ret = latest_return()
    approve_here(seller, ret, "meg")
    confirm(seller, latest_return())
    db.session.expire_all()
    assert db.session.get(Sale, sale.id).status == "cancelled"
    assert set(sandbox_quotes(sandbox, sale.xcover_ref).values()) == {"CANCELLED"}
    assert "Every policy on this sale is cancelled" in seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    assert 'id="return-cover"' not in seller.get(f"/sales/{sale.id}").get_data(as_text=True)


def test_a_policy_in_a_return_cannot_be_returned_twice(app, seller, people):
    sale = book_sale(seller)
    laptop, phone = booked(sale)
    request_return(seller, sale, laptop.id)
    before = last_event_id()
    response = request_return(seller, sale, laptop.id)  # the laptop no longer appears among the choices
    assert response.status_code == 422 and actions_since(before) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyReturn)) == 1
    request_return(seller, sale, phone.id)  # the other policy has a return of its own
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyReturn)) == 2


def test_the_sale_page_lists_its_returns_and_none_before(app, seller, people):
    sale = book_sale(seller)
    assert "after-sale-list" not in seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    page = seller.get(f"/sales/{sale.id}").get_data(as_text=True)
    assert 'id="after-sale-list"' in page and "Return of 1 policy" in page


@pytest.mark.both_dbs
def test_an_expired_preview_is_explained_and_can_be_run_again(app, sandbox, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    ret = latest_return()
    db.session.execute(
        sa.update(PolicyReturn).where(PolicyReturn.id == ret.id).values(confirm_before=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    page = seller.get(return_page(ret)).get_data(as_text=True)
    assert "The refund preview expired at" in page and 'id="approval-sheet"' not in page

    before = last_event_id()
    response = approve_here(seller, ret, "meg")
    assert response.status_code == 302
    assert actions_since(before) == ["return.expired"]
    assert "XCover no longer holds it" in seller.get(return_page(ret)).get_data(as_text=True)
    db.session.expire_all()
    assert (db.session.get(PolicyReturn, ret.id).status, db.session.get(Cover, laptop.id).status) == (
        "expired",
        "booked",
    )

    before = last_event_id()
    response = post(seller, return_page(ret) + "/again", {}, return_page(ret))
    again = latest_return()
    assert response.headers["Location"].endswith(return_page(again)) and again.id != ret.id
    assert again.status == "previewed" and [line.cover_id for line in again.lines] == [laptop.id]
    assert actions_since(before) == ["return.requested", "return.previewed"]


@pytest.mark.both_dbs
def test_a_preview_xcover_no_longer_holds_is_refused_and_explained(app, sandbox, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    ret = latest_return()
    approve_here(seller, ret, "meg")
    with sandbox.app_context():  # XCover's deadline passed, while the portal's copy still looks valid
        sandbox_db.session.execute(sa.update(SandboxPending).values(expires_at=utcnow() - timedelta(seconds=1)))
        sandbox_db.session.commit()
    before = last_event_id()
    confirm(seller, latest_return())
    assert actions_since(before) == ["return.failed"]
    ret = latest_return()
    assert ret.status == "failed" and "expired" in ret.last_error and "Nothing was cancelled" in ret.last_error
    page = seller.get(return_page(ret)).get_data(as_text=True)
    assert "XCover refused the cancellation" in page and 'id="preview-again"' in page
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "booked"
    assert set(sandbox_quotes(sandbox, sale.xcover_ref).values()) == {"CONFIRMED"}
    post(seller, return_page(ret) + "/again", {}, return_page(ret))
    assert latest_return().status == "previewed"


def test_a_refused_preview_keeps_the_choice_on_screen(app, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    fault(app, "cancel", "decline")
    before = last_event_id()
    response = request_return(seller, sale, laptop.id)
    assert response.status_code == 422
    assert actions_since(before) == ["return.requested", "return.preview_failed"]
    assert "XCover refused the refund preview" in response.get_data(as_text=True)
    fault(app, "cancel", "error_503")
    response = request_return(seller, sale, laptop.id)
    assert response.status_code == 503 and "Nothing was cancelled" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyReturn)) == 0
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "booked"


@pytest.mark.parametrize("app_overrides", [{"XCOVER_BOOKING_READ_TIMEOUT": 2.0, "XCOVER_RETRY_MAX_ATTEMPTS": 1}])
def test_a_cancellation_whose_answer_is_lost_is_settled_with_the_same_key(app, sandbox, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    approve_here(seller, latest_return(), "meg")
    fault(app, "confirm_cancellation", "timeout_after_apply", 4.0)  # longer than the 2 s read timeout
    before = last_event_id()
    confirm(seller, latest_return())
    assert actions_since(before) == ["return.outcome_unknown"]
    ret = latest_return()
    db.session.expire_all()
    assert ret.status == "confirming" and db.session.get(Cover, laptop.id).status == "cancelling"
    assert "Check again" in seller.get(return_page(ret)).get_data(as_text=True)
    before = last_event_id()
    post(seller, return_page(ret) + "/check", {}, return_page(ret))
    assert actions_since(before) == ["return.confirmed", "return.refunded"]
    assert latest_return().status == "confirmed"
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "cancelled"


@pytest.mark.parametrize("app_overrides", [{"XCOVER_BOOKING_READ_TIMEOUT": 2.0, "XCOVER_RETRY_MAX_ATTEMPTS": 1}])
def test_flask_reconcile_settles_a_cancellation_whose_answer_was_lost(app, sandbox, seller, people, runner):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    approve_here(seller, latest_return(), "meg")
    fault(app, "confirm_cancellation", "timeout_after_apply", 4.0)  # longer than the 2 s read timeout
    confirm(seller, latest_return())
    ret = latest_return()
    assert ret.status == "confirming"
    # Still in flight as far as cron knows: left to the request that sent it.
    assert "Nothing to reconcile." in runner.invoke(args=["reconcile"]).output
    assert latest_return().status == "confirming"
    before = last_event_id()
    result = runner.invoke(args=["reconcile", "--stale-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert f"Return {ret.id} of sale {sale.id} {sale.xcover_ref}: Cancelled and refunded" in result.output
    assert actions_since(before) == ["return.confirmed", "return.refunded"]
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "cancelled"
    assert sandbox_quotes(sandbox, sale.xcover_ref)[laptop.quote_id] == "CANCELLED"
    # Settled once: a second run has nothing to do, and the associate's Check again says so.
    assert "Nothing to reconcile." in runner.invoke(args=["reconcile", "--stale-seconds", "0"]).output


def test_xcover_down_at_confirmation_keeps_the_approval_and_the_reference(app, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    approve_here(seller, latest_return(), "meg")
    fault(app, "confirm_cancellation", "rate_limit")
    before = last_event_id()
    confirm(seller, latest_return(), "R-1")
    assert actions_since(before) == ["return.failed"]
    ret = latest_return()
    assert ret.status == "approved" and "not answering" in ret.last_error
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "returning"
    confirm(seller, latest_return(), "R-1")
    assert latest_return().status == "confirmed"


def test_a_double_tap_on_confirm_cancels_once(app, sandbox, store, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    ret = latest_return()
    approve_here(seller, ret, "meg")
    fault(app, "confirm_cancellation", "latency", 0.5)  # the first tap holds the call while the second arrives
    taps = [app.test_client() for _ in range(2)]
    for tap in taps:
        Auth(tap).sign_in("alex")
    tokens = [csrf_token(tap, return_page(ret)) for tap in taps]
    before = last_event_id()
    start = threading.Barrier(2)
    answers: list[int] = []

    def tap(client: Any, token: str) -> None:
        start.wait()
        response = client.post(return_page(ret) + "/confirm", data={"csrf_token": token, "refund_reference": "R-2"})
        answers.append(response.status_code)

    threads = [threading.Thread(target=tap, args=pair) for pair in zip(taps, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [302, 302]
    assert actions_since(before) == ["return.confirmed", "return.refunded"]  # one call: no 423 for a second one
    confirmed = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEvent).where(AuditEvent.action == "return.confirmed")
    )
    assert confirmed == 1 and latest_return().status == "confirmed"
    assert sandbox_quotes(sandbox, sale.xcover_ref)[laptop.quote_id] == "CANCELLED"


@pytest.mark.both_dbs
def test_a_tap_that_read_the_return_before_another_sent_it_changes_nothing(app, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    approve_here(seller, latest_return(), "meg")
    ret = latest_return()
    with db.engine.begin() as first_tap:  # the first tap claimed the return and sent the cancellation
        first_tap.execute(sa.update(PolicyReturn).where(PolicyReturn.id == ret.id).values(status="confirming"))
        first_tap.execute(sa.update(Cover).where(Cover.id == laptop.id).values(status="cancelling"))
    stale = latest_return()
    # This tap read the return just before that, and its policies just after.
    set_committed_value(stale, "status", ReturnStatus.APPROVED)
    before = last_event_id()
    message = return_confirmation.confirm(stale, people["alex"], get_client(), "R-3")
    assert message == "This cancellation is already on its way."
    assert actions_since(before) == []
    db.session.expire_all()
    assert (latest_return().status, db.session.get(Cover, laptop.id).status) == ("confirming", "cancelling")


def test_the_refund_reference_is_required_and_never_a_card_number(app, seller, people):
    sale = book_sale(seller)
    request_return(seller, sale, booked(sale)[0].id)
    ret = latest_return()
    approve_here(seller, ret, "meg")
    before = last_event_id()
    response = confirm(seller, ret, "")
    assert response.status_code == 422 and "Enter the till refund reference." in response.get_data(as_text=True)
    response = confirm(seller, ret, "4111 1111 1111 1111")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and CARD_MESSAGE in html and "4111 1111" not in html
    assert actions_since(before) == [] and latest_return().status == "approved"


def test_a_wrong_manager_password_counts_as_a_failed_sign_in(app, seller, people):
    sale = book_sale(seller)
    request_return(seller, sale, booked(sale)[0].id)
    ret = latest_return()
    before = last_event_id()
    response = approve_here(seller, ret, "meg", "not-her-password")
    assert response.status_code == 422 and "Those details did not match" in response.get_data(as_text=True)
    assert actions_since(before) == ["auth.sign_in_failed"]
    failed = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.id > before))
    assert failed.actor_name == "meg" and failed.details == {
        "reason": "bad_password",
        "purpose": "approval",
        "consecutive_failures": 1,
    }
    db.session.expire_all()
    assert db.session.get(User, people["meg"].id).failed_sign_ins == 1
    assert db.session.get(SignInAddress, (people["meg"].id, "127.0.0.1")).failures == 1
    assert latest_return().status == "previewed"


@pytest.mark.parametrize("app_overrides", [{"LOCKOUT_THRESHOLD": 2}])
def test_failed_approvals_lock_the_manager_out_as_failed_sign_ins_do(app, seller, people):
    sale = book_sale(seller)
    request_return(seller, sale, booked(sale)[0].id)
    ret = latest_return()
    approve_here(seller, ret, "meg", "wrong-password-1")
    before = last_event_id()
    approve_here(seller, ret, "meg", "wrong-password-2")
    assert actions_since(before) == ["auth.locked"]
    response = approve_here(seller, ret, "meg")  # the right password, but this address is locked out of meg
    assert response.status_code == 422 and latest_return().status == "previewed"
    signing_in = Auth(app.test_client()).sign_in("meg")  # the same lock keeps her out of signing in here too
    assert signing_in.status_code == 200 and "Those details did not match" in signing_in.get_data(as_text=True)


def test_failed_approvals_and_sign_ins_share_one_throttle_per_address(app, seller, people):
    app.config["SIGN_IN_RATE_LIMIT"] = "3 per minute"
    sale = book_sale(seller)
    request_return(seller, sale, booked(sale)[0].id)
    ret = latest_return()
    other = Auth(app.test_client())
    other.sign_in("nobody", "wrong-password-1")
    other.sign_in("nobody", "wrong-password-2")
    assert approve_here(seller, ret, "meg", "wrong-password-3").status_code == 422
    response = approve_here(seller, ret, "meg")
    assert response.status_code == 429 and "Retry-After" in response.headers
    assert "Too many failed sign-ins from this network" in response.get_data(as_text=True)
    assert latest_return().status == "previewed"


def test_only_a_manager_of_the_store_other_than_the_requester_may_approve(app, store, seller, people, make_user):
    sale = book_sale(seller)
    request_return(seller, sale, booked(sale)[0].id)
    ret = latest_return()
    before = last_event_id()
    response = approve_here(seller, ret, "sam")  # an associate's own correct password
    assert response.status_code == 422 and "Only a manager of this store" in response.get_data(as_text=True)
    assert actions_since(before) == ["return.approval_denied"]
    assert db.session.get(SignInAddress, (people["sam"].id, "127.0.0.1")).failures == 0  # not a failed sign-in
    # A manager asks for a return: another manager approves it, from the queue.
    manager = Auth(app.test_client())
    manager.sign_in("meg")
    sale2 = book_sale(manager.client)
    request_return(manager.client, sale2, booked(sale2)[0].id)
    own = latest_return()
    assert 'id="decide-heading"' not in manager.client.get(return_page(own)).get_data(as_text=True)
    response = post(manager.client, return_page(own) + "/decide", {"decision": "approve"}, return_page(own))
    assert response.status_code == 403 and latest_return().status == "previewed"
    queue = manager.client.get("/returns/").get_data(as_text=True)
    assert "another manager approves it" in queue
    other = Auth(app.test_client())
    other.sign_in("max")
    queue = other.client.get("/returns/").get_data(as_text=True)
    assert f'id="approve-{own.id}"' in queue and f'id="approve-{ret.id}"' in queue
    before = last_event_id()
    response = post(other.client, return_page(own) + "/decide", {"decision": "refuse", "from": "queue"}, "/returns/")
    assert response.headers["Location"].endswith("/returns/")
    assert actions_since(before) == ["return.refused"] and latest_return().status == "refused"
    db.session.expire_all()
    assert all(line.cover.status == "booked" for line in latest_return().lines)
    # Associates have no queue and cannot decide.
    assert seller.get("/returns/").status_code == 403
    assert post(seller, return_page(ret) + "/decide", {"decision": "approve"}, return_page(ret)).status_code == 403


def test_a_return_can_be_withdrawn_and_its_policies_stay_in_force(app, seller, people):
    sale = book_sale(seller)
    laptop, _ = booked(sale)
    request_return(seller, sale, laptop.id)
    ret = latest_return()
    before = last_event_id()
    post(seller, return_page(ret) + "/withdraw", {}, return_page(ret))
    assert actions_since(before) == ["return.withdrawn"] and latest_return().status == "withdrawn"
    db.session.expire_all()
    assert db.session.get(Cover, laptop.id).status == "booked"
    assert re.search(r'id="return-cover"', seller.get(f"/sales/{sale.id}").get_data(as_text=True))
