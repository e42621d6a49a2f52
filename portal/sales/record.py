"""The staging recorder: the sale's XCover lifecycle against the configured XCover, every call written down.

`flask xcover record --out DIR` quotes a test basket built by the sale's own code (catalogue and item
template), books the first option for a test customer (the sale's booking body), previews and confirms a
cancellation, and opts a second quote out (the sale's opt-out metadata). Each call is written in the
format of tests/contracts/recorded with personal data and secrets scrubbed, so a retailer's first staging
session gives the contract tests its own fixtures. Nothing is stored in the portal's database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..sensitive import new_key
from ..vocab import DeclineReason
from ..xcover.client import XCoverClient
from ..xcover.errors import XCoverError
from ..xcover.recording import Call, Capture, Scrubber, write
from . import catalogue
from .options import opt_out_metadata
from .quoting import booking_body

# The test customer the recording books for (scrubbed from the files all the same).
TEST_CUSTOMER = {
    "first_name": "Stella",
    "last_name": "Recorder-Test",
    "email": "xcover-recorder@example.com",
    "phone": "+447700900123",
    "address1": "1 Test Street",
    "city": "London",
    "region": "",
    "postcode": "SW1A 1AA",
    "country": "GB",
}


@dataclass
class RecordOptions:
    """What to record with: the basket's category and price, the customer's country, currency and language."""

    category: str
    price: Decimal = Decimal("499.00")
    country: str = "GB"
    currency: str = "GBP"
    language: str = "en"
    customer: Mapping[str, str] = field(default_factory=lambda: dict(TEST_CUSTOMER))


@dataclass
class RecordResult:
    """The files written, the calls in each, and the step that failed (None when all went through)."""

    files: list[Path]
    calls: dict[str, list[Call]]
    failed: str | None = None
    error: str | None = None


def _basket(options: RecordOptions) -> list[dict[str, Any]]:
    """One test product, as the sale form would hand it to the catalogue."""
    return [
        {
            "product_name": "Staging test product",
            "category": options.category,
            "price": options.price,
            "quantity": 1,
            "brand": "Test",
            "model": "T-1",
            "sku": "STAGING-1",
            "serial_number": "",
            "purchase_date": datetime.now(UTC).date(),
        }
    ]


def _quote(client: XCoverClient, options: RecordOptions) -> Any:
    """Ask for a quote package for the test basket, built exactly as the sale builds it."""
    payload, lines = catalogue.build_quote_request(
        _basket(options),
        currency=options.currency,
        country=options.country,
        region=options.customer.get("region", ""),
        language=options.language,
    )
    if not lines:
        raise XCoverError(f"the catalogue offers no cover for the category {options.category!r}")
    return client.create_quote(payload)


def _book_and_cancel(client: XCoverClient, options: RecordOptions, step: Callable[[str], None]) -> None:
    """Quote, book the first option, read it, preview the cancellation, confirm it, read it again."""
    step("quote")
    package = _quote(client, options)
    quote = next((q for q in package.quotes.values() if q is not None), None)
    if quote is None:
        raise XCoverError(f"XCover quoted no option: {package.errors}")
    step("book")
    booking = client.create_booking(
        package.id, booking_body([quote.id], {**options.customer}), idempotency_key=new_key()
    )
    client.get_booking(booking.id)
    step("cancellation preview")
    preview = client.cancel(booking.id, preview=True, idempotency_key=new_key())
    if not preview.cancellation_id:
        raise XCoverError("the cancellation preview carried no cancellation_id")
    step("cancel")
    client.confirm_cancellation(booking.id, preview.cancellation_id, idempotency_key=new_key())
    client.get_booking(booking.id)


def _opt_out(client: XCoverClient, options: RecordOptions, step: Callable[[str], None]) -> None:
    """Quote, then tell XCover the customer declined (as the sale does), and read the package."""
    step("quote for opt-out")
    package = _quote(client, options)
    step("opt-out")
    client.opt_out(
        package.id,
        idempotency_key=new_key(),
        partner_metadata=opt_out_metadata([DeclineReason.NOT_INTERESTED.value], "recorder"),
    )
    client.get_quote(package.id)


def readme(base_url: str, when: datetime, failed: str | None) -> str:
    """The README written beside the recordings."""
    outcome = f"It stopped at: {failed}." if failed else "Every step went through."
    where = base_url or "the in-process sandbox"
    return (
        "# Recorded XCover calls\n\n"
        f"Written by `flask xcover record` on {when:%Y-%m-%d %H:%M} UTC against {where}.\n"
        f"{outcome}\n\n"
        "Personal data and secrets are scrubbed (names, e-mail, phone, address, tokens, the API key and secret;\n"
        "the partner code reads PARTNER). Check the contract with:\n\n"
        "    pytest tests/contracts --xcover-recordings THIS_DIRECTORY\n"
    )


def record(client: XCoverClient, out: str | Path, options: RecordOptions, secrets: list[str]) -> RecordResult:
    """Run the lifecycle through `client`, writing every call it made (scrubbed) to `out`; stop at a failure."""
    capture = Capture()
    capture.attach(client.session)
    scrubber = Scrubber(
        secrets=[s for s in (*secrets, *options.customer.values()) if s and len(s) > 2],
        partner_code=client.settings.partner_code,
    )
    files: dict[str, list[Call]] = {}
    failed: str | None = None
    error: str | None = None
    current = ""

    def step(name: str) -> None:
        nonlocal current
        current = name

    for name, run in (("record_book_and_cancel.json", _book_and_cancel), ("record_opt_out.json", _opt_out)):
        try:
            run(client, options, step)
        except XCoverError as exc:
            failed, error = current, exc.message
        calls = capture.take()
        if calls:
            files[name] = [scrubber.call(c) for c in calls]
        if failed:
            break
    written = write(out, files, readme(_host(client.settings.base_url), datetime.now(UTC), failed))
    return RecordResult(written, files, failed, error)


def _host(base_url: str) -> str:
    """The base URL unless it is the in-process sandbox's internal one."""
    return "" if base_url.startswith("http://xcover-sandbox.internal") else base_url
