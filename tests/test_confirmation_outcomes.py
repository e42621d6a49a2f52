"""Every way XCover can answer a return's or a correction's confirmation, first time and on Check again: the
answer, the status moves, last_error and the audit (portal.policies.machine.send settles both kinds)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from portal.extensions import db
from portal.models import AuditEvent, Correction, Cover, PolicyReturn, User
from portal.policies import corrections, return_confirmation, returns
from portal.xcover.errors import (
    XCoverError,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
    XCoverValidationError,
)
from tests.returns_support import approve_here, book_sale, last_event_id, latest_return, request_return
from tests.test_corrections import correct
from tests.test_corrections import latest as latest_correction


class Answering:
    """A client whose confirmation calls raise `error`; get_booking shows `booking` (or is not answering)."""

    def __init__(self, error: XCoverError, booking: Any = None) -> None:
        self.error, self.booking = error, booking
        self.keys: list[str] = []

    def confirm_cancellation(self, package_id: str, cancellation_id: str, *, idempotency_key: str) -> Any:
        self.keys.append(idempotency_key)
        raise self.error

    def confirm_update(self, package_id: str, update_id: str, *, idempotency_key: str) -> Any:
        self.keys.append(idempotency_key)
        raise self.error

    def get_booking(self, package_id: str) -> Any:
        if self.booking is None:
            raise XCoverUnavailable("down")
        return self.booking


@pytest.fixture
def people(store, make_user) -> dict[str, User]:
    return {"alex": make_user("alex", "associate", store), "meg": make_user("meg", "manager", store)}


@pytest.fixture
def seller(app, people, auth):
    auth.sign_in("alex")
    return auth.client


def events_since(event_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The audit events after an event id: action, result, details."""
    db.session.expire_all()
    rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id))
    return [(e.action, e.result, e.details) for e in rows]


def approved_return(seller: Any) -> PolicyReturn:
    """A return of the sale's first policy, approved by a manager."""
    sale = book_sale(seller)
    request_return(seller, sale, sale.covers[0].id)
    approve_here(seller, latest_return(), "meg")
    return latest_return()


def cover_status(ret: PolicyReturn) -> str:
    db.session.expire_all()
    return db.session.get(Cover, ret.lines[0].cover_id).status


def test_a_return_xcover_did_not_reach_waits_approved_again(app, sandbox, seller, people):
    ret = approved_return(seller)
    before = last_event_id()
    message = return_confirmation.confirm(ret, people["alex"], Answering(XCoverUnavailable("down")), "R-1")
    assert message == returns.DOWN
    ret = latest_return()
    assert (ret.status, ret.last_error, cover_status(ret)) == ("approved", returns.DOWN, "returning")
    assert events_since(before) == [("return.failed", "failure", {"reason": "XCoverUnavailable", "return_id": ret.id})]


def test_a_return_whose_answer_is_lost_and_then_not_reached_stays_confirming(app, sandbox, seller, people):
    ret = approved_return(seller)
    lost = Answering(XCoverOutcomeUnknown("timed out"))
    before = last_event_id()
    assert return_confirmation.confirm(ret, people["alex"], lost, "R-1") == returns.LOST
    ret = latest_return()
    assert (ret.status, ret.last_error, cover_status(ret)) == ("confirming", None, "cancelling")
    assert events_since(before) == [
        ("return.outcome_unknown", "pending", {"reason": "XCoverOutcomeUnknown", "return_id": ret.id})
    ]
    # The first attempt may have been applied: a check XCover does not answer moves nothing back and records nothing.
    down = Answering(XCoverRateLimited("slow down"))
    before = last_event_id()
    assert return_confirmation.check_again(ret, people["alex"], down) == returns.LOST
    ret = latest_return()
    assert (ret.status, ret.last_error, cover_status(ret)) == ("confirming", None, "cancelling")
    assert events_since(before) == []
    assert return_confirmation.check_again(ret, None, lost) == returns.LOST
    assert [e[:2] for e in events_since(before)] == [("return.outcome_unknown", "pending")]
    assert len(set(lost.keys + down.keys)) == 1 and lost.keys[0] == ret.idempotency_key


def test_a_return_xcover_refuses_fails_with_its_words(app, sandbox, seller, people):
    ret = approved_return(seller)
    before = last_event_id()
    refused = Answering(XCoverValidationError("Too late.", status=422))
    message = return_confirmation.confirm(ret, people["alex"], refused, "R-1")
    words = "XCover refused the cancellation: Too late. Nothing was cancelled; preview again."
    assert message == words
    ret = latest_return()
    assert (ret.status, ret.last_error, cover_status(ret)) == ("failed", words, "booked")
    assert events_since(before) == [("return.failed", "failure", {"return_id": ret.id, "reason": words})]


def test_a_refused_repeat_of_a_cancellation_xcover_made_settles_the_return(app, sandbox, seller, people):
    ret = approved_return(seller)
    return_confirmation.confirm(ret, people["alex"], Answering(XCoverOutcomeUnknown("timed out")), "R-1")
    ret = latest_return()
    cancelled = [SimpleNamespace(id=line.cover.quote_id, status="CANCELLED") for line in ret.lines]
    booking = SimpleNamespace(quotes=cancelled)
    before = last_event_id()
    message = return_confirmation.check_again(ret, None, Answering(XCoverValidationError("Already done."), booking))
    assert message.startswith("Cancelled. Refunded ")
    assert (latest_return().status, cover_status(ret)) == ("confirmed", "cancelled")
    assert [e[0] for e in events_since(before)] == ["return.confirmed", "return.refunded"]


def quoted_correction(seller: Any) -> Correction:
    """A serial number correction priced by the sandbox (no price difference)."""
    sale = book_sale(seller)
    correct(seller, sale.items[0], serial_number="SN-1")
    correction = latest_correction()
    assert correction.status == "quoted" and correction.price_diff == 0
    return correction


def test_a_correction_xcover_did_not_reach_waits_quoted_again(app, sandbox, seller, people):
    correction = quoted_correction(seller)
    before = last_event_id()
    message = corrections.confirm_correction(correction, people["alex"], Answering(XCoverRateLimited("slow down")))
    assert message == corrections.DOWN
    correction = latest_correction()
    assert (correction.status, correction.last_error) == ("quoted", corrections.DOWN)
    assert events_since(before) == [
        ("correction.failed", "failure", {"reason": "XCoverRateLimited", "correction_id": correction.id})
    ]


def test_a_correction_whose_answer_is_lost_and_then_not_reached_stays_confirming(app, sandbox, seller, people):
    correction = quoted_correction(seller)
    lost = Answering(XCoverOutcomeUnknown("timed out"))
    before = last_event_id()
    assert corrections.confirm_correction(correction, people["alex"], lost) == corrections.LOST
    correction = latest_correction()
    assert (correction.status, correction.last_error) == ("confirming", None)
    assert events_since(before) == [
        ("correction.outcome_unknown", "pending", {"reason": "XCoverOutcomeUnknown", "correction_id": correction.id})
    ]
    down = Answering(XCoverUnavailable("down"))
    before = last_event_id()
    assert corrections.check_again(correction, people["alex"], down) == corrections.LOST
    assert (latest_correction().status, events_since(before)) == ("confirming", [])
    assert len(set(lost.keys + down.keys)) == 1 and lost.keys[0] == correction.idempotency_key


def test_a_correction_xcover_refuses_fails_with_its_words(app, sandbox, seller, people):
    correction = quoted_correction(seller)
    before = last_event_id()
    refused = Answering(XCoverValidationError("Not allowed.", status=422))
    message = corrections.confirm_correction(correction, people["alex"], refused)
    words = "XCover refused the change: Not allowed. Nothing was changed; correct it again."
    assert message == words
    correction = latest_correction()
    assert (correction.status, correction.last_error) == ("failed", words)
    assert events_since(before) == [("correction.failed", "failure", {"correction_id": correction.id, "reason": words})]
