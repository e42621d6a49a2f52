"""The client against XCover's recorded answers: each call replayed through the portal's client.

For every recorded call the client makes the same request (method, path with its trailing slash, query and
body) and turns XCover's recorded answer into its typed result, or into the error class that answer means.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from portal.xcover import (
    Booking,
    BookingPage,
    Cancellation,
    ClientSettings,
    QuotePackage,
    UpdateQuote,
    XCoverClient,
    XCoverError,
    XCoverOutcomeUnknown,
    XCoverValidationError,
)
from portal.xcover.recording import Call, Recorded, partner_path

from .conftest import where

KEY = "contract-idempotency-key"
# What each operation's answer is parsed into (None: an empty 202/204 answer).
TYPES: dict[str, type | None] = {
    "create_quote": QuotePackage,
    "get_quote": QuotePackage,
    "update_quote": QuotePackage,
    "add_quotes": QuotePackage,
    "delete_quotes": QuotePackage,
    "opt_out": None,
    "list_bookings": BookingPage,
    "create_booking": Booking,
    "instant_booking": Booking,
    "get_booking": Booking,
    "modify_booking": Booking,
    "confirm_booking": Booking,
    "quote_for_update": UpdateQuote,
    "confirm_update": Booking,
    "cancel": Cancellation,
    "confirm_cancellation": Cancellation,
    "send_email": None,
    "record_instalment": None,
}
# Recorded operations the portal never calls: their answers are still parsed into the type of their shape.
NOT_CALLED = {"add_quotes", "delete_quotes", "instant_booking", "get_instalments", "record_instalment"}
# The instalment schedule has no type: the portal does not sell instalments. Its answer is checked as JSON.
UNTYPED = {"get_instalments"}


class Replay(BaseAdapter):
    """Answers every request with one recorded answer, keeping what was sent."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self.call = call
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        """Record the request; answer with the recorded status, headers and body."""
        self.sent.append(request)
        body = self.call.response_body
        response = requests.Response()
        response.status_code = self.call.status
        response.headers = CaseInsensitiveDict({k: ", ".join(v) for k, v in self.call.response_headers.items()})
        response._content = b"" if body is None else json.dumps(body).encode()  # type: ignore[attr-defined]
        response.request = request
        response.url = request.url or ""
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        """Nothing to release."""


def client_for(call: Call) -> tuple[XCoverClient, Replay]:
    """A client whose base URL and partner are the recording's, answered by the recording."""
    prefix, _, _ = call.path.partition("/partners/")
    partner = call.path.split("/partners/", 1)[1].split("/", 1)[0]
    adapter = Replay(call)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    settings = ClientSettings(
        base_url=f"https://{call.host or 'xcover.invalid'}{prefix}",
        partner_code=partner,
        api_key="contract-key",
        api_secret="contract-secret",
        retry_base_delay=0.0,
        retry_max_delay=0.0,
    )
    return XCoverClient(settings, session, sleep=lambda _: None), adapter


def invoke(client: XCoverClient, call: Call) -> Any:
    """Make the recorded call through the client's own method for it."""
    operation = call.operation
    segments = (partner_path(call.path) or "").split("/")
    ins = segments[1] if len(segments) > 1 else ""
    body = call.request_body if isinstance(call.request_body, dict) else {}
    if operation == "create_quote":
        return client.create_quote(call.request_body)
    if operation == "get_quote":
        return client.get_quote(ins)
    if operation == "update_quote":
        return client.update_quote(ins, call.request_body)
    if operation == "opt_out":
        return client.opt_out(ins, idempotency_key=KEY, partner_metadata=body.get("partner_metadata"))
    if operation == "create_booking":
        payload = {k: v for k, v in body.items() if k != "require_payment_confirmation"}
        return client.create_booking(
            ins,
            payload,
            idempotency_key=KEY,
            require_payment_confirmation=bool(body.get("require_payment_confirmation")),
        )
    if operation == "confirm_booking":
        return client.confirm_booking(ins, idempotency_key=KEY)
    if operation == "get_booking":
        return client.get_booking(ins)
    if operation == "list_bookings":
        query = dict(parse_qsl(call.query or ""))
        return client.list_bookings(limit=int(query.get("limit", 20)), offset=int(query.get("offset", 0)))
    if operation == "modify_booking":
        return client.modify_booking(ins, call.request_body, idempotency_key=KEY)
    if operation == "quote_for_update":
        return client.quote_for_update(ins, call.request_body, idempotency_key=KEY)
    if operation == "confirm_update":
        return client.confirm_update(ins, segments[3], idempotency_key=KEY)
    if operation == "cancel":
        return client.cancel(ins, quotes=body.get("quotes"), preview=bool(body.get("preview")), idempotency_key=KEY)
    if operation == "confirm_cancellation":
        return client.confirm_cancellation(ins, segments[3], idempotency_key=KEY)
    if operation == "send_email":
        return client.send_email(ins, event=body.get("event"), idempotency_key=KEY)
    assert operation in NOT_CALLED, f"no client call for {call.method} {call.path}"
    key = KEY if call.method != "GET" else None
    answer = client.call(
        operation, call.method, partner_path(call.path) or "", payload=call.request_body, idempotency_key=key
    )
    wanted = TYPES.get(operation)
    return wanted.from_json(answer) if wanted is not None and answer is not None else answer


def test_every_recorded_call_is_a_known_operation(recorded: Recorded) -> None:
    """Method and path (trailing slash included) name one XCover operation the client knows how to read."""
    assert recorded.call.operation is not None, f"unknown call {recorded.call.method} {recorded.call.path}"
    assert recorded.call.operation in TYPES or recorded.call.operation in UNTYPED


def test_the_client_sends_the_recorded_request(recorded: Recorded) -> None:
    """Same method, path (slashes as recorded), query and JSON body as the official client sent XCover."""
    call = recorded.call
    client, adapter = client_for(call)
    with contextlib.suppress(XCoverError):
        invoke(client, call)
    assert adapter.sent, "the client sent nothing"
    sent = adapter.sent[0]
    parts = urlsplit(sent.url or "")
    assert sent.method == call.method
    assert parts.path == call.path
    assert dict(parse_qsl(parts.query)) == dict(parse_qsl(call.query or ""))
    sent_body = json.loads(sent.body) if sent.body else None
    assert sent_body == call.request_body or (sent_body is None and call.request_body == {})


def test_the_client_reads_the_recorded_answer(recorded: Recorded) -> None:
    """A success becomes the operation's type (or None when empty); an error becomes the class it means."""
    call = recorded.call
    client, _ = client_for(call)
    if call.status >= 400:
        with pytest.raises(XCoverError) as raised:
            invoke(client, call)
        if call.status == 422:
            assert isinstance(raised.value, XCoverValidationError) and raised.value.field_errors()
        elif call.status >= 500 and call.method != "GET":
            assert isinstance(raised.value, XCoverOutcomeUnknown)
        return
    result = invoke(client, call)
    if call.operation in UNTYPED:
        assert isinstance(result, dict) and isinstance(result.get("quotes"), list)
        return
    wanted = TYPES[call.operation or ""]
    if wanted is None:
        assert result is None
        return
    assert isinstance(result, wanted)
    if not isinstance(result, BookingPage):
        assert result.raw == call.response_body
    if isinstance(result, QuotePackage):
        assert result.id and set(result.quotes) == set(call.response_body["quotes"])
        assert all(q is None or q.id for q in result.quotes.values())
    elif isinstance(result, Booking):
        assert result.id and len(result.quotes) == len(call.response_body["quotes"])
    elif isinstance(result, Cancellation):
        assert result.package_id and result.status
    elif isinstance(result, UpdateQuote):
        assert result.update_id
    elif isinstance(result, BookingPage):
        assert result.count >= len(result.results)


@where(lambda call: call.status < 400 and TYPES.get(call.operation or "") is Booking)
def test_a_booking_answer_carries_its_price_difference_if_any(recorded: Recorded | None) -> None:
    """modify_booking and confirm_update answers give total_price_diff as a Decimal (other bookings: None)."""
    assert recorded is not None, "no booking answer recorded"
    call = recorded.call
    client, _ = client_for(call)
    booking = invoke(client, call)
    sent = call.response_body.get("total_price_diff")
    assert booking.total_price_diff == (None if sent is None else Decimal(str(sent)))
