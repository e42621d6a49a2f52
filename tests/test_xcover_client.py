"""The XCover client against the sandbox over real HTTP: every operation, every error, retries and budgets."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from xcover.auth import XCoverAuth
from xcover.config import AuthConfig, SignatureAlgorithm

from portal.xcover import (
    Booking,
    ClientSettings,
    QuotePackage,
    XCoverAuthError,
    XCoverClient,
    XCoverConflict,
    XCoverNotFound,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
    XCoverValidationError,
    build_client,
    get_client,
)
from portal.xcover.client import parse_retry_after
from xcover_sandbox import control
from xcover_sandbox.models import SandboxIdempotency

from .xcover_support import LiveSandbox, booking_payload, free_port, quote_request


def key() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


def booked(client: XCoverClient, **payload_extra: Any) -> Booking:
    """Quote one TV and book it."""
    package = client.create_quote(quote_request())
    return client.create_booking(
        package.id, booking_payload(package.quotes["0"].id, **payload_extra), idempotency_key=key()
    )


# ---- signing ------------------------------------------------------------------------------------------


def test_signature_matches_the_reference_test_vector() -> None:
    request = requests.Request(
        "GET", "https://example.test/x/partners/LLODT/quotes/", headers={"Date": "Sun, 29 Aug 2021 12:07:26 GMT"}
    ).prepare()
    XCoverAuth(
        AuthConfig(api_key="k", api_secret="test_api_secret", algorithm=SignatureAlgorithm.HMAC_SHA256, headers="date")
    )(request)
    assert 'signature="bfxytCfvFqito27v0%2FKcN1jBJsgnCReimKXdAWwoi0k%3D"' in request.headers["Authorization"]


def test_client_sends_the_documented_headers() -> None:
    seen: Any = requests.structures.CaseInsensitiveDict()

    class Capture(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            seen.update(request.headers)
            seen["timeout"] = kwargs["timeout"]
            response = requests.Response()
            response.status_code, response._content = 200, b'{"id": "AAAAA-BBBBB-INS", "quotes": []}'
            return response

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("https://", Capture())
    client = XCoverClient(
        ClientSettings(
            base_url="https://xcover.test/x",
            partner_code="P1",
            api_key="key1",
            api_secret="s",
            algorithm="hmac-sha384",
            read_timeout=30,
            connect_timeout=9,
        ),
        session,
    )
    client.get_booking("AAAAA-BBBBB-INS")
    assert seen["X-Api-Key"] == "key1" and seen["Content-Type"] == "application/json"
    assert seen["Date"].endswith(" GMT")
    assert seen["Authorization"].startswith('Signature keyId="key1",algorithm="hmac-sha384",')
    assert seen["timeout"] == (3.0, 5.0)  # the brief's ceilings win over larger settings


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError):
        ClientSettings(base_url="x", partner_code="p", api_key="k", api_secret="s", algorithm="hmac-md5")


# ---- every operation ------------------------------------------------------------------------------------


def test_quote_lifecycle_with_typed_results(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request({}, {"product_category": "jewellery", "product_name": "Ring"}))
    assert isinstance(package, QuotePackage) and package.status == "RECEIVED"
    assert package.id.endswith("-INS") and len(package.id) == 15
    assert list(package.quotes) == ["0", "1"]
    tv = package.quote_for_item(0)
    assert tv is not None and package.quote_for_item(1) is None
    assert "jewellery" in (package.error_for_item(1) or "") and package.error_for_item(0) is None
    assert tv.price == Decimal("145.15") and tv.price_formatted == "£145.15"
    # XCover echoes no item fields (extra_fields is {}), so no term comes back: the portal keeps its own.
    assert tv.tax_total == Decimal("15.55") and tv.cover_term_months is None
    assert tv.policy_type == "product_warranty" and tv.content.disclaimer.startswith("<p>")
    assert tv.content.underwriter_name
    assert package.total_price == Decimal("145.15")

    again = client.get_quote(package.id)
    assert again.quotes["0"] is not None and again.quotes["0"].id == tv.id

    cheaper = client.update_quote(package.id, {"request": [{"quote_id": tv.id, "product_price": 499.99}]})
    assert cheaper.quotes["0"] is not None and cheaper.quotes["0"].id == tv.id
    assert cheaper.quotes["0"].price < tv.price


@pytest.mark.both_dbs
def test_booking_lifecycle(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request({}, {"product_name": "Soundbar", "product_price": 299}))
    ids = [package.quotes["0"].id, package.quotes["1"].id]  # type: ignore[union-attr]
    pending = client.create_booking(
        package.id, booking_payload(*ids), idempotency_key=key(), require_payment_confirmation=True
    )
    assert pending.status == "PENDING_PAYMENT" and all(q.status == "PENDING_PAYMENT" for q in pending.quotes)
    booking = client.confirm_booking(package.id, idempotency_key=key())
    assert booking.status == "CONFIRMED" and booking.id == package.id
    assert booking.coi_url and booking.coi_pdf_url and booking.account_url and booking.pds_url
    assert booking.policyholder["email"] == "ada@example.com"
    assert client.get_booking(package.id).total_price == package.total_price

    page = client.list_bookings(limit=1)
    assert page.count == 1 and page.results[0].id == package.id and page.next is None

    modified = client.modify_booking(
        package.id, {"quotes": [{"id": ids[0], "update_fields": {"serial_number": "SN1"}}]}, idempotency_key=key()
    )
    assert modified.id == package.id and modified.quotes[0].raw["extra_fields"] == {}

    update = client.quote_for_update(
        package.id, {"quotes": [{"id": ids[1], "update_fields": {"product_price": 399}}]}, idempotency_key=key()
    )
    assert update.update_id.endswith("-UPD") and update.total_price_diff > 0
    assert client.get_booking(package.id).total_price == package.total_price  # nothing changes until confirmed
    updated = client.confirm_update(package.id, update.update_id, idempotency_key=key())
    assert updated.total_price == package.total_price + update.total_price_diff

    client.send_email(package.id, idempotency_key=key())

    preview = client.cancel(package.id, quotes=[{"id": ids[0]}], preview=True, idempotency_key=key())
    assert preview.cancellation_id and preview.cancellation_id.endswith("-CCL") and preview.confirm_before
    assert client.get_booking(package.id).quotes[0].status == "CONFIRMED"
    done = client.confirm_cancellation(package.id, preview.cancellation_id, idempotency_key=key())
    assert done.total_refund == preview.total_refund > 0
    after = client.get_booking(package.id)
    assert after.status == "CONFIRMED" and [q.status for q in after.quotes] == ["CANCELLED", "CONFIRMED"]

    rest = client.cancel(package.id, idempotency_key=key())
    assert rest.status == "CANCELLED" and rest.cancellation_id is None
    client.send_email(package.id, event="BOOKING_CANCELLED", idempotency_key=key())


def test_opt_out_marks_the_package(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request())
    assert client.opt_out(package.id, idempotency_key=key(), partner_metadata={"reason": "has_cover"}) is None
    after = client.get_quote(package.id)
    assert after.status == "OPTED_OUT" and after.quotes["0"] is not None and after.quotes["0"].status == "RECEIVED"


# ---- every error class ----------------------------------------------------------------------------------


def test_validation_error_carries_field_errors(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    with pytest.raises(XCoverValidationError) as caught:
        client.create_quote(quote_request({"product_price": "lots"}))
    assert caught.value.status == 422 and caught.value.body["type"] == "validation_error"
    assert caught.value.field_errors() == {"request.0.product_price": ["A valid number is required."]}

    package = client.create_quote(quote_request())
    with pytest.raises(XCoverValidationError) as caught:
        client.create_booking(
            package.id,
            booking_payload(package.quotes["0"].id, phone="07700900123"),  # type: ignore[union-attr]
            idempotency_key=key(),
        )
    assert caught.value.field_errors() == {"policyholder.phone": ['The phone number should start with "+" character']}


def test_decline_is_a_validation_error_with_a_message(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    with pytest.raises(XCoverValidationError) as caught:
        booked(client, last_name="Declineson")
    assert caught.value.message == "Booking declined." and "declined" in caught.value.field_errors()[""][0]


def test_not_found(live_sandbox: LiveSandbox) -> None:
    with pytest.raises(XCoverNotFound) as caught:
        live_sandbox.client().get_booking("AAAAA-BBBBB-INS")
    assert caught.value.status == 404


@pytest.mark.parametrize("change", [{"XCOVER_API_SECRET": "wrong"}, {"XCOVER_API_KEY": "other"}])
def test_authentication_error(live_sandbox: LiveSandbox, change: dict[str, str]) -> None:
    with pytest.raises(XCoverAuthError) as caught:
        live_sandbox.client(**change).get_quote("AAAAA-BBBBB-INS")
    assert caught.value.status == 401 and "Signature string does not match!" in caught.value.message


def test_unknown_partner_code_is_not_found(live_sandbox: LiveSandbox) -> None:
    with pytest.raises(XCoverNotFound) as caught:
        live_sandbox.client(XCOVER_PARTNER_CODE="NOTME").get_quote("AAAAA-BBBBB-INS")
    assert caught.value.status == 404


def test_rate_limited_after_retries_with_retry_after(live_sandbox: LiveSandbox) -> None:
    live_sandbox.fault("get_booking", "rate_limit", count=10, seconds=0.02)
    with pytest.raises(XCoverRateLimited) as caught:
        live_sandbox.client().get_booking("AAAAA-BBBBB-INS")
    assert caught.value.retry_after == 0.02 and caught.value.status == 429
    assert len(live_sandbox.sleeps) == 2 and all(s >= 0.02 for s in live_sandbox.sleeps)  # 3 attempts in all


def test_unavailable_when_xcover_keeps_failing_a_read(live_sandbox: LiveSandbox) -> None:
    live_sandbox.fault("get_quote", "error_503", count=10)
    with pytest.raises(XCoverUnavailable) as caught:
        live_sandbox.client().get_quote("AAAAA-BBBBB-INS")
    assert caught.value.status == 503 and len(live_sandbox.sleeps) == 2  # 3 attempts in all


def test_a_call_without_a_key_is_not_retried(live_sandbox: LiveSandbox) -> None:
    live_sandbox.fault("create_quote", "error_502", count=1)
    client = live_sandbox.client()
    with pytest.raises(XCoverUnavailable):
        client.create_quote(quote_request())
    assert live_sandbox.sleeps == []
    assert client.create_quote(quote_request()).status == "RECEIVED"


def test_unavailable_when_nothing_listens() -> None:
    client = XCoverClient(
        ClientSettings(
            base_url=f"http://127.0.0.1:{free_port()}/x",
            partner_code="P",
            api_key="k",
            api_secret="s",
            retry_base_delay=0.001,
            retry_max_delay=0.002,
        )
    )
    with pytest.raises(XCoverUnavailable) as caught:
        client.create_booking("AAAAA-BBBBB-INS", {}, idempotency_key=key())
    assert caught.value.status is None


def test_lost_answer_is_recovered_by_a_retry_with_the_same_key(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client(XCOVER_BOOKING_READ_TIMEOUT=0.3)
    package = client.create_quote(quote_request())
    live_sandbox.fault("create_booking", "timeout_after_apply", seconds=1.0)
    booking = client.create_booking(package.id, booking_payload(package.quotes["0"].id), idempotency_key=key())  # type: ignore[union-attr]
    assert booking.status == "CONFIRMED" and len(live_sandbox.sleeps) == 1  # the retry got the 409 replay


@pytest.mark.both_dbs
def test_outcome_unknown_then_reconciled(live_sandbox: LiveSandbox) -> None:
    # Generous margins so a busy machine still applies the booking well before the client gives up.
    client = live_sandbox.client(XCOVER_BOOKING_READ_TIMEOUT=0.8, XCOVER_RETRY_MAX_ATTEMPTS=1)
    package = client.create_quote(quote_request())
    live_sandbox.fault("create_booking", "timeout_after_apply", seconds=2.0)
    payload, k = booking_payload(package.quotes["0"].id), key()  # type: ignore[union-attr]
    with pytest.raises(XCoverOutcomeUnknown):
        client.create_booking(package.id, payload, idempotency_key=k)
    assert client.get_booking(package.id).status == "CONFIRMED"  # it was applied
    replayed = client.create_booking(package.id, payload, idempotency_key=k)  # 409 with the stored body
    assert replayed.status == "CONFIRMED" and replayed.id == package.id


def test_outcome_unknown_when_a_booking_keeps_failing(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request())
    live_sandbox.fault("create_booking", "error_504", count=10)
    with pytest.raises(XCoverOutcomeUnknown) as caught:
        client.create_booking(package.id, booking_payload(package.quotes["0"].id), idempotency_key=key())  # type: ignore[union-attr]
    assert caught.value.status == 504


def test_same_key_with_another_body_is_a_conflict(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request())
    k = key()
    client.opt_out(package.id, idempotency_key=k)
    client.opt_out(package.id, idempotency_key=k)  # replay: fine
    with pytest.raises(XCoverConflict) as caught:
        client.opt_out(package.id, idempotency_key=k, partner_metadata={"reason": "price"})
    assert caught.value.status == 409


# ---- retries and budgets ------------------------------------------------------------------------------


class Scripted(requests.adapters.BaseAdapter):
    """Answers each attempt from a script: an exception to raise or a (status, headers) to return."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = list(script)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        response = requests.Response()
        response.status_code, response.headers = step[0], requests.structures.CaseInsensitiveDict(step[1])
        response._content = b'{"type": "rate_limit", "message": "Too many requests.", "errors": {}}'
        return response

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    "then",
    [
        (429, {"Retry-After": "0"}),
        requests.exceptions.ConnectionError(
            requests.urllib3.exceptions.MaxRetryError(
                None, "/", requests.urllib3.exceptions.NewConnectionError(None, "refused")
            )
        ),  # type: ignore[arg-type]
    ],
    ids=["then-rate-limited", "then-no-connection"],
)
def test_a_write_that_may_have_applied_stays_unknown_whatever_follows(then: Any) -> None:
    # The first attempt's answer was lost (it may have booked); later "not applied" answers prove nothing.
    session = requests.Session()
    adapter = Scripted([requests.exceptions.ReadTimeout("lost"), then, then])
    session.mount("https://", adapter)
    client = XCoverClient(
        ClientSettings(base_url="https://xcover.test/x", partner_code="P", api_key="k", api_secret="s", max_attempts=3),
        session,
        sleep=lambda s: None,
    )
    with pytest.raises(XCoverOutcomeUnknown):
        client.create_booking("AAAAA-BBBBB-INS", {}, idempotency_key=key())
    assert adapter.script == []
    adapter.script = [then, then, then]  # never sent or refused every time: certainly not applied
    with pytest.raises((XCoverRateLimited, XCoverUnavailable)):
        client.create_booking("AAAAA-BBBBB-INS", {}, idempotency_key=key())


def test_booking_retried_through_transient_failures(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request())
    live_sandbox.fault("create_booking", "error_503", count=2)
    booking = client.create_booking(package.id, booking_payload(package.quotes["0"].id), idempotency_key=key())  # type: ignore[union-attr]
    assert booking.status == "CONFIRMED" and len(live_sandbox.sleeps) == 2


@pytest.mark.both_dbs
def test_in_flight_duplicate_gets_423_and_the_client_waits_it_out(live_sandbox: LiveSandbox) -> None:
    client = live_sandbox.client()
    package = client.create_quote(quote_request())
    payload, k = booking_payload(package.quotes["0"].id), key()  # type: ignore[union-attr]
    live_sandbox.fault("create_booking", "latency", seconds=1.0)
    results: list[Any] = []
    first = threading.Thread(
        target=lambda: results.append(client.create_booking(package.id, payload, idempotency_key=k))
    )
    first.start()
    claimed = sa.select(SandboxIdempotency.state).where(SandboxIdempotency.key == k)
    while not live_sandbox.query(claimed):
        pass
    raw = requests.Session()
    raw.auth = client.auth
    direct = raw.post(client.url(f"bookings/{package.id}/"), json=payload, headers={"x-idempotency-key": k})
    assert direct.status_code == 423
    patient = live_sandbox.client(XCOVER_RETRY_BASE_DELAY=0.4, XCOVER_RETRY_MAX_DELAY=0.8, XCOVER_RETRY_MAX_ATTEMPTS=8)
    second = patient.create_booking(package.id, payload, idempotency_key=k)
    first.join()
    assert results[0].id == second.id == package.id and second.status == "CONFIRMED"


def test_backoff_schedule_is_exponential_with_jitter_and_honours_retry_after() -> None:
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    class Bottom(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    settings = ClientSettings(
        base_url="x", partner_code="p", api_key="k", api_secret="s", retry_base_delay=0.5, retry_max_delay=4.0
    )
    high, low = XCoverClient(settings, rng=Top()), XCoverClient(settings, rng=Bottom())
    assert [high.backoff_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [low.backoff_delay(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 2.0, 2.0]
    assert low.backoff_delay(1, retry_after=3.0) == 3.0
    assert high.backoff_delay(4, retry_after=1.0) == 4.0


def test_retry_after_parsing() -> None:
    from datetime import datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0 and parse_retry_after("0.25") == 0.25
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_retry_after_beyond_the_budget_stops_at_once(live_sandbox: LiveSandbox) -> None:
    live_sandbox.fault("get_booking", "rate_limit", count=5, seconds=60)
    with pytest.raises(XCoverRateLimited) as caught:
        live_sandbox.client().get_booking("AAAAA-BBBBB-INS")
    assert caught.value.retry_after == 60 and live_sandbox.sleeps == []


def test_retry_after_on_a_503_is_honoured_too() -> None:
    session = requests.Session()
    session.mount("https://", Scripted([(503, {"Retry-After": "3"}), (503, {"Retry-After": "3"})]))
    sleeps: list[float] = []
    client = XCoverClient(
        ClientSettings(base_url="https://xcover.test/x", partner_code="P", api_key="k", api_secret="s", max_attempts=2),
        session,
        sleep=sleeps.append,
    )
    with pytest.raises(XCoverUnavailable):
        client.get_booking("AAAAA-BBBBB-INS")
    assert sleeps == [3.0]


def test_the_whole_call_stays_inside_the_budget_even_when_every_attempt_uses_its_timeouts(monkeypatch) -> None:
    # A fake clock: each attempt spends its full connect and read timeouts, each back-off its delay.
    clock = [1000.0]
    monkeypatch.setattr("portal.xcover.client.time.monotonic", lambda: clock[0])

    class Slow(requests.adapters.BaseAdapter):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            clock[0] += sum(kwargs["timeout"])
            raise requests.exceptions.ReadTimeout("slow")

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("https://", Slow())
    settings = ClientSettings(
        base_url="https://xcover.test/x", partner_code="P", api_key="k", api_secret="s", max_attempts=10
    )
    client = XCoverClient(settings, session, sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    with pytest.raises(XCoverOutcomeUnknown):
        client.create_booking("AAAAA-BBBBB-INS", {}, idempotency_key=key())
    assert clock[0] - 1000.0 <= settings.total_budget + 0.1 < 20


def test_budget_and_timeouts_stay_inside_the_worker_timeout() -> None:
    settings = ClientSettings(
        base_url="x", partner_code="p", api_key="k", api_secret="s", total_budget=60, booking_read_timeout=30
    )
    assert settings.total_budget < 20 and settings.booking_read_timeout == 10 and settings.connect_timeout <= 3


# ---- in-process transport (no URL configured) ----------------------------------------------------------


def test_in_process_sandbox_works_in_an_app_context(app: Any) -> None:
    client = get_client()
    assert client is get_client()  # one per process
    assert client.settings.base_url == "http://xcover-sandbox.internal/sandbox/xcover"
    package = client.create_quote(quote_request())
    booking = client.create_booking(package.id, booking_payload(package.quotes["0"].id), idempotency_key=key())  # type: ignore[union-attr]
    assert booking.status == "CONFIRMED" and booking.coi_url.startswith("/sandbox/xcover/en/coi/")  # type: ignore[union-attr]


@pytest.mark.parametrize("app_overrides", [{"XCOVER_BOOKING_READ_TIMEOUT": 0.8, "XCOVER_RETRY_MAX_ATTEMPTS": 1}])
def test_in_process_read_timeout_is_honoured_and_the_booking_exists(app: Any, sandbox: Any) -> None:
    client = get_client()
    package = client.create_quote(quote_request())
    with sandbox.app_context():
        control.inject_fault(app.config["XCOVER_PARTNER_CODE"], "create_booking", "timeout_after_apply", seconds=2.0)
    with pytest.raises(XCoverOutcomeUnknown):
        client.create_booking(package.id, booking_payload(package.quotes["0"].id), idempotency_key=key())  # type: ignore[union-attr]
    assert client.get_booking(package.id).status == "CONFIRMED"


@pytest.mark.parametrize("app_overrides", [{"XCOVER_RETRY_MAX_ATTEMPTS": 1}])
def test_a_failure_inside_the_in_process_sandbox_is_a_500_answer(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Was a transport error (no status): a booking then read "outcome unknown" for a plain server failure.
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("sandbox bug")

    monkeypatch.setattr("xcover_sandbox.service.get_booking", broken)
    with pytest.raises(XCoverUnavailable) as caught:
        get_client().get_booking("AAAAA-BBBBB-INS")
    assert caught.value.status == 500 and caught.value.body["type"] == "server_error"


def test_a_wsgi_app_that_raises_answers_500_like_a_server() -> None:
    from portal.xcover.transport import InProcess

    def exploding(environ: Any, start_response: Any) -> Any:
        raise RuntimeError("boom")

    config = {
        "XCOVER_BASE_URL": "",
        "XCOVER_PARTNER_CODE": "P",
        "XCOVER_API_KEY": "k",
        "XCOVER_API_SECRET": "s",
        "XCOVER_AUTH_ALGORITHM": "hmac-sha512",
        "XCOVER_CONNECT_TIMEOUT": 1.0,
        "XCOVER_READ_TIMEOUT": 1.0,
        "XCOVER_BOOKING_READ_TIMEOUT": 1.0,
        "XCOVER_TOTAL_BUDGET": 2.0,
        "XCOVER_RETRY_MAX_ATTEMPTS": 1,
        "XCOVER_RETRY_BASE_DELAY": 0.01,
        "XCOVER_RETRY_MAX_DELAY": 0.01,
    }
    client = build_client(config, InProcess(exploding, "/x"))
    with pytest.raises(XCoverOutcomeUnknown) as caught:
        client.create_booking("AAAAA-BBBBB-INS", {}, idempotency_key=key())
    assert caught.value.status == 500


def test_without_a_base_url_or_a_handed_over_sandbox_the_client_says_why(database_url: str) -> None:
    from portal import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
    with app.app_context(), pytest.raises(RuntimeError, match="app.py"):
        get_client()


def test_sandbox_is_not_mounted_when_xcover_is_configured(database_url: str) -> None:
    from stack import create_stack

    app = create_stack(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "x",
            "XCOVER_BASE_URL": "https://api.xcover.com/x",
        }
    )
    assert app.config["XCOVER_SANDBOX_ENABLED"] is False
    assert "xcover_sandbox_app" not in app.extensions and "xcover_inprocess" not in app.extensions
    assert app.test_client().get("/sandbox/xcover/en/account").status_code == 404
    assert build_client(app.config).settings.base_url == "https://api.xcover.com/x"
