"""Typed results built from XCover's real response shapes (money as Decimal, the raw body kept)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


def money(value: Any) -> Decimal:
    """Turn an XCover amount (a JSON number, sometimes a string) into a Decimal."""
    if value is None or value == "":
        return Decimal("0")
    return Decimal(str(value))


def as_list(quotes: Any) -> list[Any]:
    """Quotes as a list whether XCover sent an object keyed "0", "1", ... or a list."""
    if isinstance(quotes, dict):
        return list(quotes.values())
    return list(quotes or [])


@dataclass(frozen=True)
class Benefitish:
    """One inclusion or exclusion line: a title and a description."""

    title: str
    description: str


@dataclass(frozen=True)
class Content:
    """The words the customer must see: title, description, inclusions, exclusions, disclaimers."""

    title: str
    description: str
    inclusions: list[Benefitish]
    exclusions: list[Benefitish]
    disclaimer: str
    underwriter_name: str
    underwriter_disclaimer: str

    @classmethod
    def from_policy(cls, policy: dict[str, Any]) -> Content:
        """Build from a quote's `policy` object."""
        content = policy.get("content") or {}
        underwriter = policy.get("underwriter") or {}

        def lines(items: Any) -> list[Benefitish]:
            return [
                Benefitish(str(i.get("title") or ""), str(i.get("description") or ""))
                for i in items or []
                if isinstance(i, dict)
            ]

        return cls(
            title=str(content.get("title") or ""),
            description=str(content.get("description") or ""),
            inclusions=lines(content.get("inclusions")),
            exclusions=lines(content.get("exclusions")),
            disclaimer=str(content.get("disclaimer") or ""),
            underwriter_name=str(underwriter.get("name") or ""),
            underwriter_disclaimer=str(underwriter.get("disclaimer") or ""),
        )


@dataclass(frozen=True)
class Quote:
    """One quote (one policy once booked) inside a package."""

    id: str
    status: str
    price: Decimal
    price_formatted: str
    tax_total: Decimal
    tax_formatted: str
    policy_type: str
    policy_name: str
    policy_version: str
    policy_start_date: str | None
    policy_end_date: str | None
    cover_term_months: int | None
    content: Content
    pds_url: str | None
    benefits: list[dict[str, Any]]
    can_be_cancelled: bool | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quote:
        """Build from one element of `quotes`."""
        policy = data.get("policy") or {}
        tax = data.get("tax") or {}
        # XCover echoes no item fields (extra_fields is {} in every recorded answer): usually None, so the portal
        # takes the term from its own catalogue.
        extra = data.get("extra_fields") or {}
        term = extra.get("cover_term_months", data.get("cover_term_months"))
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            price=money(data.get("price")),
            price_formatted=str(data.get("price_formatted") or ""),
            tax_total=money(tax.get("total_tax")),
            tax_formatted=str(tax.get("total_tax_formatted") or ""),
            policy_type=str(policy.get("policy_type") or ""),
            policy_name=str(policy.get("policy_name") or ""),
            policy_version=str(policy.get("policy_version") or ""),
            policy_start_date=data.get("policy_start_date"),
            policy_end_date=data.get("policy_end_date"),
            cover_term_months=int(term) if term not in (None, "") else None,
            content=Content.from_policy(policy),
            pds_url=data.get("pds_url"),
            benefits=list(data.get("benefits") or []),
            can_be_cancelled=data.get("can_be_cancelled"),
            raw=data,
        )


@dataclass(frozen=True)
class QuotePackage:
    """A quote package: quotes keyed "0", "1", ... as XCover sends them; None where that item failed."""

    id: str
    status: str
    currency: str
    total_price: Decimal
    total_price_formatted: str
    quotes: dict[str, Quote | None]
    errors: Any
    pds_url: str | None
    security_token: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuotePackage:
        """Build from a quote-endpoint response (quotes as an object; a list is accepted too)."""
        quotes = data.get("quotes") or {}
        if isinstance(quotes, list):
            quotes = {str(i): q for i, q in enumerate(quotes)}
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            currency=str(data.get("currency") or ""),
            total_price=money(data.get("total_price")),
            total_price_formatted=str(data.get("total_price_formatted") or ""),
            quotes={str(k): (Quote.from_json(v) if isinstance(v, dict) else None) for k, v in quotes.items()},
            errors=data.get("errors") or {},
            pds_url=data.get("pds_url"),
            security_token=data.get("security_token"),
            raw=data,
        )

    def quote_for_item(self, index: int) -> Quote | None:
        """Return the quote for request item `index`, or None if it failed or is absent."""
        return self.quotes.get(str(index))

    def error_for_item(self, index: int) -> str | None:
        """Return XCover's message(s) for request item `index`, if it has any."""
        errors = self.errors
        entry: Any = None
        if isinstance(errors, dict):
            entry = errors.get(str(index), errors.get(index))  # type: ignore[call-overload]
        elif isinstance(errors, list) and index < len(errors):
            entry = errors[index]
        if not entry:
            return None
        if isinstance(entry, list):
            return " ".join(str(e) for e in entry)
        if isinstance(entry, dict):
            return str(entry.get("message") or entry)
        return str(entry)


@dataclass(frozen=True)
class Booking:
    """A booking: the same INS id as its quote package, quotes as a list."""

    id: str
    status: str
    currency: str
    total_price: Decimal
    total_price_formatted: str
    quotes: list[Quote]
    errors: Any
    pds_url: str | None
    coi_url: str | None
    coi_pdf_url: str | None
    account_url: str | None
    policyholder: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)
    # Set on modification answers (modify_booking, confirm_update): what the change adds to the price.
    total_price_diff: Decimal | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Booking:
        """Build from a booking-endpoint response."""
        coi = data.get("coi") or {}
        diff = data.get("total_price_diff")
        return cls(
            id=str(data.get("id") or ""),
            status=str(data.get("status") or ""),
            currency=str(data.get("currency") or ""),
            total_price=money(data.get("total_price")),
            total_price_formatted=str(data.get("total_price_formatted") or ""),
            quotes=[Quote.from_json(q) for q in as_list(data.get("quotes")) if isinstance(q, dict)],
            errors=data.get("errors") or {},
            pds_url=data.get("pds_url"),
            coi_url=coi.get("url"),
            coi_pdf_url=coi.get("pdf"),
            account_url=data.get("account_url"),
            policyholder=dict(data.get("policyholder") or {}),
            raw=data,
            total_price_diff=money(diff) if diff is not None else None,
        )


@dataclass(frozen=True)
class BookingPage:
    """One page of list_bookings (DRF-style pagination)."""

    count: int
    results: list[Booking]
    next: str | None
    previous: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BookingPage:
        """Build from a list-bookings response."""
        return cls(
            count=int(data.get("count") or 0),
            results=[Booking.from_json(b) for b in data.get("results") or []],
            next=data.get("next"),
            previous=data.get("previous"),
        )


@dataclass(frozen=True)
class UpdateQuote:
    """The price preview of a booking modification; confirm it with its update_id."""

    update_id: str
    total_price_diff: Decimal
    quotes: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UpdateQuote:
        """Build from a quote_for_update response."""
        return cls(
            update_id=str(data.get("update_id") or ""),
            total_price_diff=money(data.get("total_price_diff")),
            quotes=as_list(data.get("quotes")),
            raw=data,
        )


@dataclass(frozen=True)
class Cancellation:
    """A cancellation: a preview (with cancellation_id and confirm_before) or a done one."""

    package_id: str
    cancellation_id: str | None
    confirm_before: str | None
    total_refund: Decimal
    total_refund_formatted: str
    status: str
    quotes: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cancellation:
        """Build from a cancel or confirm-cancellation response."""
        return cls(
            package_id=str(data.get("id") or ""),
            cancellation_id=data.get("cancellation_id"),
            confirm_before=data.get("confirm_before"),
            total_refund=money(data.get("total_refund")),
            total_refund_formatted=str(data.get("total_refund_formatted") or ""),
            status=str(data.get("status") or ""),
            quotes=as_list(data.get("quotes")),
            raw=data,
        )
