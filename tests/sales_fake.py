"""A small in-memory stand-in for the XCover client (XCoverClientLike in portal/sales/machine.py), for service tests."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from decimal import Decimal
from typing import Any

from portal.xcover.errors import XCoverError, XCoverNotFound
from portal.xcover.types import Benefitish, Booking, Content, Quote, QuotePackage

PRICES = {
    "product_warranty": Decimal("0.10"),
    "product_insurance": Decimal("0.12"),
    "device_protection": Decimal("0.15"),
}


def fake_content(title: str) -> Content:
    """The words of a fake quote."""
    return Content(
        title=title,
        description="Repairs or replaces the product.",
        inclusions=[Benefitish("Breakdown", "Parts and labour")],
        exclusions=[Benefitish("Loss", "Lost items")],
        disclaimer="Read the policy wording.",
        underwriter_name="Demo Underwriting Ltd",
        underwriter_disclaimer="Underwritten by Demo Underwriting Ltd.",
    )


class FakeXCover:
    """Quotes, opt-outs and bookings in memory; `fail` queues errors per operation."""

    def __init__(self) -> None:
        self.packages: dict[str, QuotePackage] = {}
        self.bookings: dict[str, Booking] = {}
        self.by_key: dict[str, Booking] = {}
        self.calls: list[tuple[str, Any]] = []
        self.failures: dict[str, list[Exception]] = {}
        self.apply_then_fail: dict[str, Exception] = {}
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()

    def fail(self, operation: str, error: XCoverError, *, after_apply: bool = False) -> None:
        """Make the next call of an operation raise (optionally after doing the work)."""
        if after_apply:
            self.apply_then_fail[operation] = error
        else:
            self.failures.setdefault(operation, []).append(error)

    def _maybe_fail(self, operation: str) -> None:
        queue = self.failures.get(operation)
        if queue:
            raise queue.pop(0)

    def create_quote(self, payload: dict) -> QuotePackage:
        self.calls.append(("create_quote", payload))
        self._maybe_fail("create_quote")
        ref = f"{uuid.uuid4().hex[:5].upper()}-{uuid.uuid4().hex[:5].upper()}-INS"
        quotes: dict[str, Quote | None] = {}
        errors: dict[str, str] = {}
        for i, item in enumerate(payload["request"]):
            if item.get("product_category") == "boats":
                quotes[str(i)] = None
                errors[str(i)] = "Not eligible"
                continue
            price = (Decimal(str(item["product_price"])) * PRICES[item["policy_type"]]).quantize(Decimal("0.01"))
            term = item.get("cover_term_months")
            quotes[str(i)] = Quote(
                id=str(uuid.uuid4()),
                status="RECEIVED",
                price=price,
                price_formatted=f"£{price}",
                tax_total=Decimal("0.00"),
                tax_formatted="£0.00",
                policy_type=item["policy_type"],
                policy_name=item["policy_type"],
                policy_version="v1-" + item["policy_type"],
                policy_start_date=item["policy_start_date"],
                policy_end_date="2028-01-01T00:00:00Z",
                cover_term_months=term,
                content=fake_content(f"{term}-month {item['policy_type'].replace('_', ' ')}"),
                pds_url=f"https://example.test/pds/{ref}",
                benefits=[],
                can_be_cancelled=True,
                raw={},
            )
        total = sum((q.price for q in quotes.values() if q), Decimal("0"))
        package = QuotePackage(
            id=ref,
            status="RECEIVED",
            currency=payload["currency"],
            total_price=total,
            total_price_formatted=f"£{total}",
            quotes=quotes,
            errors=errors,
            pds_url=f"https://example.test/pds/{ref}",
            security_token=None,
            raw={},
        )
        self.packages[ref] = package
        return package

    def opt_out(self, package_id: str, *, idempotency_key: str, partner_metadata: dict | None = None) -> None:
        self.calls.append(("opt_out", {"package_id": package_id, "key": idempotency_key, "meta": partner_metadata}))
        self._maybe_fail("opt_out")

    def create_booking(self, package_id: str, payload: dict, *, idempotency_key: str) -> Booking:
        self.calls.append(("create_booking", {"package_id": package_id, "payload": payload, "key": idempotency_key}))
        if self.gate is not None:
            self.gate.wait(5)
        self._maybe_fail("create_booking")
        with self.lock:
            if idempotency_key in self.by_key:
                return self.by_key[idempotency_key]
            package = self.packages[package_id]
            chosen = {q["id"] for q in payload["quotes"]}
            quotes = [q for q in package.quotes.values() if q and q.id in chosen]
            declined = payload["policyholder"].get("last_name") == "Declineson"
            status = "FAILED" if declined else "CONFIRMED"
            booked = [dataclasses.replace(q, status=status) for q in quotes]
            total = sum((q.price for q in booked), Decimal("0"))
            booking = Booking(
                id=package_id,
                status=status,
                currency=package.currency,
                total_price=total,
                total_price_formatted=f"£{total}",
                quotes=booked,
                errors={} if not declined else {"0": "Declined"},
                pds_url=package.pds_url,
                coi_url=f"https://example.test/coi/{package_id}",
                coi_pdf_url=None,
                account_url=None,
                policyholder=payload["policyholder"],
                raw={},
            )
            self.by_key[idempotency_key] = booking
            self.bookings[package_id] = booking
        late = self.apply_then_fail.pop("create_booking", None)
        if late is not None:
            raise late
        return booking

    def get_booking(self, package_id: str) -> Booking:
        self.calls.append(("get_booking", {"package_id": package_id}))
        self._maybe_fail("get_booking")
        if package_id not in self.bookings:
            raise XCoverNotFound("Not found.", status=404)
        return self.bookings[package_id]

    def send_email(self, package_id: str, *, event: str | None = None, idempotency_key: str) -> None:
        self.calls.append(("send_email", {"package_id": package_id, "key": idempotency_key}))
        self._maybe_fail("send_email")

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)
