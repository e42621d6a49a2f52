"""The sandbox against XCover's recorded answers: same status, and at least every key at the same nesting and type.

One retail lifecycle runs through the portal's client against the sandbox over real HTTP, touching every
operation the sandbox serves (successes and the recorded kinds of refusal). Each recorded answer is then
compared with every sandbox answer of the same operation and status.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from portal.xcover import XCoverClient, XCoverError
from portal.xcover.recording import OPERATIONS, Call, Capture, Recorded

from ..dbs import SqliteFactory
from ..xcover_support import LiveSandbox, booking_payload, quote_request
from .conftest import where
from .shapes import envelope_problems, problems

# Recorded operations the sandbox does not serve (the portal never calls them).
NOT_SERVED = {"add_quotes", "delete_quotes", "instant_booking", "get_instalments", "record_instalment"}
Answers = dict[tuple[str, int], list[Call]]


def key() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


def lifecycle(client: XCoverClient) -> None:
    """Quote, re-price, book, read, list, modify, price and confirm a change, email, cancel; opt out; pay later."""

    def refused(call: Callable[[], Any]) -> None:
        with pytest.raises(XCoverError):
            call()

    package = client.create_quote(
        quote_request({}, {"policy_type": "product_insurance", "cover_term_months": 12, "product_name": "Laptop 14"})
    )
    first, second = package.quotes["0"], package.quotes["1"]
    assert first is not None and second is not None
    client.get_quote(package.id)
    client.update_quote(package.id, {"request": [{"quote_id": first.id, "product_price": 799.99}]})
    booking = client.create_booking(package.id, booking_payload(first.id, second.id), idempotency_key=key())
    client.get_booking(booking.id)
    client.modify_booking(booking.id, {"policyholder": {"phone": "+447700900456"}}, idempotency_key=key())
    refused(
        lambda: client.modify_booking(booking.id, {"policyholder": {"phone": "invalid phone"}}, idempotency_key=key())
    )
    change = client.quote_for_update(
        booking.id, {"quotes": [{"id": first.id, "update_fields": {"product_price": 999.99}}]}, idempotency_key=key()
    )
    client.confirm_update(booking.id, change.update_id, idempotency_key=key())
    client.send_email(booking.id, idempotency_key=key())
    refused(lambda: client.send_email(booking.id, event="BOOKING_CANCELLED", idempotency_key=key()))
    preview = client.cancel(booking.id, preview=True, idempotency_key=key())
    assert preview.cancellation_id
    client.confirm_cancellation(booking.id, preview.cancellation_id, idempotency_key=key())

    declined = client.create_quote(quote_request())
    client.opt_out(declined.id, idempotency_key=key())
    client.get_quote(declined.id)

    later = client.create_quote(quote_request())
    assert later.quotes["0"] is not None
    insured = {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}
    client.create_booking(
        later.id,
        {**booking_payload(), "quotes": [{"id": later.quotes["0"].id, "insured": [insured]}]},
        idempotency_key=key(),
        require_payment_confirmation=True,
    )
    client.list_bookings(limit=1, offset=0)
    client.confirm_booking(later.id, idempotency_key=key())
    client.cancel(later.id, idempotency_key=key())

    refused(lambda: client.create_quote({**quote_request(), "policy_version": "unknown"}))


@pytest.fixture(scope="module")
def sandbox_server(sandbox_sqlite_factory: SqliteFactory) -> Iterator[LiveSandbox]:
    """One live sandbox for the module."""
    server = LiveSandbox(sandbox_sqlite_factory.new())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sandbox_answers(sandbox_server: LiveSandbox) -> Answers:
    """The sandbox's answers to the lifecycle, by operation and status."""
    client = sandbox_server.client()
    capture = Capture()
    capture.attach(client.session)
    lifecycle(client)
    answers: Answers = {}
    for call in capture.take():
        assert call.operation is not None, f"the client called {call.method} {call.path}, no XCover operation"
        answers.setdefault((call.operation, call.status), []).append(call)
    return answers


@where(lambda call: call.operation not in NOT_SERVED)
def test_the_sandbox_answers_as_xcover_did(recorded: Recorded | None, sandbox_answers: Answers) -> None:
    """Same status, and every key XCover's answer has, at the same nesting and type (error bodies: the envelope)."""
    assert recorded is not None, "no recorded call of an operation the sandbox serves"
    call = recorded.call
    answers = sandbox_answers.get((call.operation or "", call.status))
    assert answers, f"the sandbox never answered {call.operation} with {call.status}: {sorted(sandbox_answers)}"
    compare = envelope_problems if call.status >= 400 else problems
    for answer in answers:
        found = compare(call.response_body, answer.response_body)
        assert not found, f"{answer.method} {answer.path} -> {answer.status}:\n" + "\n".join(found[:40])


@pytest.mark.parametrize("operation", sorted(NOT_SERVED))
def test_what_the_sandbox_does_not_serve_is_not_found(operation: str, sandbox_server: LiveSandbox) -> None:
    """An XCover operation outside the sandbox gets a JSON 404 or 405 there, never a made-up answer."""
    ((method, pattern),) = [(m, p.pattern) for name, m, p in OPERATIONS if name == operation]
    path = pattern.strip("^$").replace("[^/]+", "AAAAA-BBBBB-INS")
    client = sandbox_server.client(XCOVER_RETRY_MAX_ATTEMPTS=1)
    with pytest.raises(XCoverError) as raised:
        client.call(operation, method, path, payload=None if method == "GET" else {})
    assert raised.value.status in (404, 405)
