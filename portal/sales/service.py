"""Rules of the sale: draft, quote, options, acknowledgement, payment, booking and reconciliation."""
from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Mapping, Optional, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ..audit.service import record
from ..extensions import db
from ..models import Cover, Sale, SaleItem, Store, User, utcnow
from ..sensitive import mask_email, mask_phone
from ..xcover.errors import (
    XCoverAuthError,
    XCoverConflict,
    XCoverError,
    XCoverOutcomeUnknown,
    XCoverRateLimited,
    XCoverUnavailable,
    XCoverValidationError,
)
from . import catalogue


CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone", "address1", "city", "region", "postcode",
                   "country", "language")
PRODUCT_FIELDS = ("product_name", "category", "price", "quantity", "brand", "model", "sku", "serial_number",
                  "purchase_date")

# Allowed moves of the sale's status machine (cancellations come with the returns issue).
TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"quoted"}),
    "quoted": frozenset({"draft", "quoted", "declined", "booking"}),
    "booking": frozenset({"booked", "outcome_unknown", "failed", "quoted"}),
    "outcome_unknown": frozenset({"booked", "failed", "quoted"}),
    "declined": frozenset(),
    "booked": frozenset(),
    "failed": frozenset(),
}

# What the associate sees for each status: words and badge colour.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "draft": ("Not quoted yet", "neutral"),
    "quoted": ("Options shown", "neutral"),
    "declined": ("Declined", "neutral"),
    "booking": ("Not yet confirmed, checking", "wait"),
    "outcome_unknown": ("Not yet confirmed, checking", "wait"),
    "booked": ("Covered", "ok"),
    "failed": ("Not covered", "bad"),
}

DECLINE_REASONS: list[tuple[str, str]] = [
    ("already_covered", "Already covered"),
    ("too_expensive", "Too expensive"),
    ("not_interested", "Not interested"),
    ("decide_later", "Will decide later"),
    ("other", "Other"),
]
PAYMENT_METHODS: list[tuple[str, str]] = [("card", "Card"), ("cash", "Cash"), ("other", "Other")]

# Telephone country codes for the stores we know; the store's country picks the default prefix.
CALLING_CODES = {"GB": "44", "AU": "61", "US": "1", "CA": "1", "IE": "353", "NZ": "64", "FR": "33",
                 "DE": "49", "ES": "34", "IT": "39", "NL": "31"}

# XCover's policyholder keys -> our customer fields (the booking payload uses the same names).
POLICYHOLDER_KEYS = {"first_name": "first_name", "last_name": "last_name", "email": "email", "phone": "phone",
                     "address1": "address1", "city": "city", "region": "region", "postcode": "postcode",
                     "country": "country", "language": "language"}


class XCoverClientLike(Protocol):
    """The part of the XCover client (see contract-xcover.md) the sale uses."""

    def create_quote(self, payload: dict) -> Any: ...
    def opt_out(self, package_id: str, *, idempotency_key: str, partner_metadata: dict | None = None) -> None: ...
    def create_booking(self, package_id: str, payload: dict, *, idempotency_key: str) -> Any: ...
    def get_booking(self, package_id: str) -> Any: ...
    def send_email(self, package_id: str, *, event: str | None = None, idempotency_key: str) -> None: ...


UNKNOWN_MESSAGE = "Not yet confirmed, checking: XCover's answer did not arrive. The customer is not covered until it does."
OPT_OUT_DOWN_MESSAGE = "XCover did not receive the opt-out. Tap Retry; the customer's answer is kept."
DOWN_MESSAGE = "XCover is not answering right now. Nothing was booked and everything is kept: tap Retry."


class SaleError(Exception):
    """A rule of the sale refused the request; the message is for the associate."""

    def __init__(self, message: str, field_errors: Optional[dict[str, list[str]]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}


class InvalidTransition(SaleError):
    """The sale is not in a status that allows this step."""


class XCoverDown(SaleError):
    """XCover did not answer; nothing was applied and the same step can be retried."""


class XCoverRejected(SaleError):
    """XCover refused the data; field_errors name our fields."""


@dataclass
class BookingResult:
    """What came of a booking attempt, for the page."""

    sale: Sale
    sent: bool
    message: str = ""
    problems: list[str] = field(default_factory=list)


# --- status machine -------------------------------------------------------------------------------

def can_transition(current: str, new: str) -> bool:
    """Tell whether the status machine allows a move."""
    return new in TRANSITIONS.get(current, frozenset())


def transition(sale: Sale, new: str) -> None:
    """Move a sale to a new status or refuse."""
    if not can_transition(sale.status, new):
        raise InvalidTransition(f"This sale is {STATUS_LABELS[sale.status][0].lower()}; that step is not possible now.")
    sale.status = new


def _compare_and_set(sale: Sale, expected: str, new: str, **values: Any) -> bool:
    """Move a sale from one status to another in one conditional UPDATE; False if someone else moved it."""
    if not can_transition(expected, new):
        raise InvalidTransition(f"{expected} -> {new} is not allowed")
    sale_id = sa.inspect(sale).identity[0]
    result = db.session.execute(
        sa.update(Sale).where(Sale.id == sale_id, Sale.status == expected)
        .values(status=new, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# --- reading --------------------------------------------------------------------------------------

def status_label(status: str) -> tuple[str, str]:
    """Return the words and badge colour for a status."""
    return STATUS_LABELS.get(status, (status, "neutral"))


def get_sale(user: User, sale_id: int) -> Optional[Sale]:
    """Load a sale of the user's own store (None for any other store's sale or for admins)."""
    if user.store_id is None:
        return None
    return db.session.scalar(sa.select(Sale).where(Sale.id == sale_id, Sale.store_id == user.store_id))


def store_today(store: Store) -> date:
    """Return today's date in the store's time zone."""
    return datetime.now(ZoneInfo(store.timezone)).date()


def todays_sales(store: Store) -> list[Sale]:
    """Return the store's sales started today (store time), newest first."""
    zone = ZoneInfo(store.timezone)
    start = datetime.combine(store_today(store), time.min, tzinfo=zone)
    return list(db.session.scalars(
        sa.select(Sale).where(Sale.store_id == store.id, Sale.created_at >= start, Sale.created_at < start + timedelta(days=1))
        .order_by(Sale.created_at.desc())
    ))


def search_sales(store: Store, query: str, limit: int = 50) -> list[Sale]:
    """Find the store's sales by reference, name, email, phone, receipt or serial number."""
    q = query.strip()
    if not q:
        return todays_sales(store)
    like = f"%{q.lower()}%"
    serial_match = sa.select(SaleItem.sale_id).where(sa.func.lower(SaleItem.serial_number) == q.lower())
    stmt = sa.select(Sale).where(Sale.store_id == store.id, sa.or_(
        sa.func.lower(Sale.xcover_ref).like(like),
        sa.func.lower(Sale.first_name + " " + Sale.last_name).like(like),
        sa.func.lower(Sale.email) == q.lower(),
        Sale.phone.like(f"%{re.sub(r'[^0-9]', '', q) or q}%"),
        sa.func.lower(Sale.receipt_number) == q.lower(),
        Sale.id.in_(serial_match),
    )).order_by(Sale.created_at.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def defaults_for(store: Store) -> dict[str, Any]:
    """Return what the new-sale form starts with, from the store's settings."""
    return {"country": store.country, "language": store.language, "currency": store.currency,
            "phone_prefix": "+" + CALLING_CODES.get(store.country, ""), "purchase_date": store_today(store)}


def normalise_phone(raw: str, country: str) -> str:
    """Return a mobile number in +<country code><number> form."""
    text = raw.strip()
    digits = re.sub(r"\D", "", text)
    if text.startswith("+"):
        return "+" + digits
    if text.startswith("00"):
        return "+" + digits[2:]
    code = CALLING_CODES.get(country, "")
    return "+" + code + digits.lstrip("0")


def chosen_covers(sale: Sale) -> list[Cover]:
    """Return the covers the customer chose (or that were booked)."""
    return [c for c in sale.covers if c.status in ("chosen", "booked", "failed") and c.quote_id]


def cover_total(sale: Sale) -> Decimal:
    """Return what the chosen cover costs, tax included."""
    return sum((c.price for c in chosen_covers(sale)), Decimal("0.00"))


def options_by_item(sale: Sale) -> list[tuple[SaleItem, list[Cover]]]:
    """Return each product with the options XCover offered for it."""
    return [(item, [c for c in sale.covers if c.item_id == item.id]) for item in sale.items]


def _audit(action: str, user: Optional[User], sale: Sale, result: str = "success", **details: Any) -> None:
    """Record an event about a sale (the caller commits)."""
    record(action, actor=user, store_id=sale.store_id, object_type="sale", object_id=sale.id, result=result,
           details=details)


# --- drafting -------------------------------------------------------------------------------------

def _products_of(sale: Sale) -> list[dict[str, Any]]:
    """Return the sale's products as plain dicts (the shape the catalogue maps)."""
    return [{f: getattr(item, f) for f in PRODUCT_FIELDS} for item in sale.items]


def _same_products(sale: Sale, products: list[Mapping[str, Any]]) -> bool:
    """Tell whether the products differ from the stored ones in anything that changes the quote."""
    def norm(p: Mapping[str, Any]) -> tuple:
        return tuple((f, str(p.get(f) or "")) for f in PRODUCT_FIELDS)
    return [norm(p) for p in _products_of(sale)] == [norm(p) for p in products]


def save_draft(user: User, customer: Mapping[str, Any], products: list[Mapping[str, Any]],
               sale: Optional[Sale] = None) -> Sale:
    """Create or update a sale's customer and products; changed products need a new quote."""
    store = user.store
    if store is None:
        raise SaleError("Only store staff can sell.")
    if not products:
        raise SaleError("Add at least one product.")
    if sale is not None and sale.status not in ("draft", "quoted"):
        raise InvalidTransition("This sale can no longer be changed.")
    clean = {k: (customer.get(k) or "").strip() for k in CUSTOMER_FIELDS}
    clean["phone"] = normalise_phone(clean["phone"], clean["country"] or store.country)
    clean["email"] = clean["email"].lower()
    if sale is None:
        sale = Sale(store_id=store.id, associate_id=user.id, currency=store.currency, status="draft", **clean)
        db.session.add(sale)
        requote = True
    else:
        requote = sale.status == "draft" or not _same_products(sale, products) or sale.country != clean["country"] \
            or sale.language != clean["language"] or sale.region != clean["region"]
        for k, v in clean.items():
            setattr(sale, k, v)
        if not requote and sale.status == "quoted":
            _new_booking_body(sale)  # the policyholder in the booking may have changed
    if requote:
        sale.covers.clear()
        sale.items.clear()
        db.session.flush()
        for position, p in enumerate(products):
            sale.items.append(SaleItem(position=position, **{f: p.get(f) if p.get(f) is not None else "" for f in PRODUCT_FIELDS}))
        if sale.status == "quoted":
            transition(sale, "draft")
        sale.xcover_ref = None
        sale.quote_total = None
    sale.field_errors = None
    sale.last_error = None
    db.session.flush()
    _audit("sale.saved", user, sale, products=len(products), requote=requote, **customer_summary(sale))
    db.session.commit()
    return sale


# --- quoting --------------------------------------------------------------------------------------

def _map_field_errors(xcover_errors: Mapping[str, list[str]], lines: list[catalogue.QuoteLine]) -> dict[str, list[str]]:
    """Translate XCover's dotted error keys into our form field names (items-N-field, phone...)."""
    mapped: dict[str, list[str]] = {}
    for key, messages in xcover_errors.items():
        parts = key.split(".")
        target = "__all__"
        if parts[0] == "policyholder" and len(parts) > 1:
            target = POLICYHOLDER_KEYS.get(parts[1], "__all__")
        elif parts[0] == "request" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) < len(lines):
            ours = catalogue.our_field(parts[2])
            if ours in PRODUCT_FIELDS:
                target = f"items-{lines[int(parts[1])].item_position}-{ours}"
        elif parts[0] in ("customer_country", "customer_region", "customer_language"):
            target = parts[0].removeprefix("customer_")
        mapped.setdefault(target, []).extend(messages)
    return mapped


def request_quote(sale: Sale, user: User, client: XCoverClientLike) -> Sale:
    """Ask XCover for one package quote for the whole basket and store each option offered."""
    if sale.status != "draft":
        raise InvalidTransition("This sale already has a quote.")
    payload, lines = catalogue.build_quote_request(
        _products_of(sale), currency=sale.currency, country=sale.country, region=sale.region, language=sale.language)
    if not lines:
        raise SaleError("No cover is offered for these product categories.")
    try:
        package = client.create_quote(payload)
    except XCoverValidationError as exc:
        sale.field_errors = _map_field_errors(exc.field_errors(), lines)
        _audit("sale.quote_failed", user, sale, result="failure", reason="validation", fields=sorted(sale.field_errors))
        db.session.commit()
        raise XCoverRejected("XCover could not quote: please check the highlighted fields.", sale.field_errors) from None
    except XCoverError as exc:
        _audit("sale.quote_failed", user, sale, result="failure", reason=type(exc).__name__, status=exc.status)
        db.session.commit()
        raise XCoverDown("XCover is not answering right now. Everything you typed is kept: tap Retry.") from None
    for index, line in enumerate(lines):
        quote = package.quote_for_item(index)
        item = sale.items[line.item_position]
        if quote is None:
            sale.covers.append(Cover(item=item, quote_index=index, status="failed", policy_type=line.offer.policy_type,
                                     term_months=line.offer.cover_term_months,
                                     error=(package.error_for_item(index) or "Not available for this product")[:500]))
            continue
        content = quote.content
        sale.covers.append(Cover(
            item=item, quote_index=index, quote_id=quote.id, status="quoted", policy_type=quote.policy_type,
            policy_version=str(quote.policy_version or ""), title=content.title or quote.policy_name,
            term_months=quote.cover_term_months or line.offer.cover_term_months, price=quote.price,
            price_formatted=quote.price_formatted, tax=quote.tax_total, tax_formatted=quote.tax_formatted,
            start_date=quote.policy_start_date, end_date=quote.policy_end_date, pds_url=quote.pds_url or package.pds_url,
            content={
                "description": content.description,
                "inclusions": [_benefit(b) for b in content.inclusions],
                "exclusions": [_benefit(b) for b in content.exclusions],
                "disclaimer": content.disclaimer,
                "underwriter_name": content.underwriter_name,
                "underwriter_disclaimer": content.underwriter_disclaimer,
            },
        ))
    sale.xcover_ref = package.id
    sale.quote_total = package.total_price
    sale.pds_url = package.pds_url
    sale.field_errors = None
    sale.last_error = None
    # A booking key per quote package, stored before any booking can be sent and reused on every retry.
    sale.idempotency_key = str(uuid.uuid4())
    db.session.flush()
    if not _compare_and_set(sale, "draft", "quoted"):
        db.session.rollback()
        raise InvalidTransition("This sale was quoted at the same time on another screen.")
    db.session.refresh(sale)
    offered = [c for c in sale.covers if c.status == "quoted"]
    _audit("sale.quoted", user, sale, xcover_ref=package.id, options=len(offered),
           unavailable=len(sale.covers) - len(offered), total=str(package.total_price), currency=sale.currency)
    db.session.commit()
    return sale


def _benefit(b: Any) -> dict[str, str]:
    """Turn an inclusion/exclusion (dataclass or dict) into a plain dict."""
    if isinstance(b, Mapping):
        return {"title": str(b.get("title") or ""), "description": str(b.get("description") or "")}
    return {"title": str(getattr(b, "title", "") or ""), "description": str(getattr(b, "description", "") or "")}


def mark_options_shown(sale: Sale, user: User) -> None:
    """Record once per quote that the options (and their policy versions) were shown."""
    from ..models import AuditEvent
    seen = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.object_type == "sale", AuditEvent.object_id == str(sale.id),
        AuditEvent.action == "sale.options_shown", AuditEvent.details["xcover_ref"].as_string() == sale.xcover_ref))
    if seen:
        return
    _audit("sale.options_shown", user, sale, xcover_ref=sale.xcover_ref,
           policy_versions={c.quote_id: c.policy_version for c in sale.covers if c.quote_id})
    db.session.commit()


def disclaimer_hash(covers: list[Cover]) -> str:
    """Return the SHA-256 of the disclaimer text shown for the chosen covers, in order."""
    text = "\n\n".join(
        f"{c.content.get('disclaimer') or ''}\n{c.content.get('underwriter_disclaimer') or ''}" for c in covers)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_choices(sale: Sale, user: User, client: XCoverClientLike, choices: Mapping[int, Optional[int]],
                   reasons: Mapping[int, str], acknowledged: bool) -> Sale:
    """Store the customer's pick (or "No thanks" and why) per product; all declined sends XCover an opt-out."""
    if sale.status != "quoted":
        raise InvalidTransition("The options for this sale can no longer be changed.")
    errors: dict[str, list[str]] = {}
    chosen: list[Cover] = []
    for item, covers in options_by_item(sale):
        pick = choices.get(item.id)
        offered = {c.id: c for c in covers if c.quote_id}
        if pick is None and item.id not in choices:
            if offered:
                errors[f"choice_{item.id}"] = ["Choose an option or No thanks."]
            continue
        if pick is None:
            if reasons.get(item.id) not in dict(DECLINE_REASONS):
                errors[f"reason_{item.id}"] = ["Ask the customer why, and choose a reason."]
            continue
        if pick not in offered:
            errors[f"choice_{item.id}"] = ["That option is not on offer; choose again."]
            continue
        chosen.append(offered[pick])
    if chosen and not acknowledged:
        errors["acknowledged"] = ["The customer must confirm they have seen the key facts."]
    if errors:
        raise SaleError("Please check the highlighted choices.", errors)
    chosen_ids = {c.id for c in chosen}
    if chosen_ids != {c.id for c in chosen_covers(sale)}:
        # A payment recorded for other cover no longer holds: the amount must be collected again.
        sale.payment_recorded_at = None
        sale.amount_collected = None
        sale.last_error = None
        sale.field_errors = None
        _new_booking_body(sale)
    for item, covers in options_by_item(sale):
        pick = choices.get(item.id)
        item.decision = "add" if pick is not None else ("decline" if item.id in choices else None)
        item.decline_reason = reasons.get(item.id) if item.decision == "decline" else None
        for c in covers:
            if c.quote_id:
                c.status = "chosen" if c.id in chosen_ids else "not_taken"
    declined = [item for item in sale.items if item.decision == "decline"]
    for item in declined:
        _audit("sale.declined", user, sale, xcover_ref=sale.xcover_ref, product=item.position + 1,
               reason=item.decline_reason)
    if chosen:
        sale.acknowledged_at = utcnow()
        sale.ack_policy_versions = {c.quote_id: c.policy_version for c in chosen}
        sale.ack_disclaimer_hash = disclaimer_hash(chosen)
        sale.cover_total = cover_total(sale)
        _audit("sale.acknowledged", user, sale, xcover_ref=sale.xcover_ref, policy_versions=sale.ack_policy_versions,
               disclaimer_sha256=sale.ack_disclaimer_hash)
        db.session.commit()
        return sale
    # Nothing chosen: keep the choices, then tell XCover; a failed opt-out can be retried as is.
    sale.decline_reason = declined[0].decline_reason if declined else "other"
    sale.cover_total = Decimal("0.00")
    db.session.commit()
    send_opt_out(sale, user, client)
    return sale


def opt_out_pending(sale: Sale) -> bool:
    """Tell whether the customer declined everything but XCover has not yet taken the opt-out."""
    return sale.status == "quoted" and bool(sale.items) and all(i.decision == "decline" for i in sale.items)


def send_opt_out(sale: Sale, user: User, client: XCoverClientLike) -> None:
    """Tell XCover the customer declined everything, then close the sale as declined."""
    key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"opt-out:{sale.xcover_ref}"))
    reasons = sorted({i.decline_reason for i in sale.items if i.decline_reason})
    try:
        client.opt_out(sale.xcover_ref, idempotency_key=key,
                       partner_metadata={"decline_reason": ",".join(reasons) or "other", "sale_id": str(sale.id)})
    except XCoverError:
        raise XCoverDown(OPT_OUT_DOWN_MESSAGE) from None
    transition(sale, "declined")
    _audit("sale.opted_out", user, sale, xcover_ref=sale.xcover_ref, reasons=reasons)
    db.session.commit()


def _new_booking_body(sale: Sale) -> None:
    """Give a sale a fresh booking key when what it books changed after an attempt XCover did not apply.

    The key stands for one request body; XCover may replay a stored answer for it, so a changed body
    needs its own key. Only a sale still 'quoted' may change: one already on its way keeps its key.
    """
    if sale.booking_started_at is None:
        return
    if not _compare_and_set(sale, "quoted", "quoted", idempotency_key=str(uuid.uuid4()), booking_started_at=None):
        db.session.rollback()
        raise InvalidTransition("This booking is already on its way; it can no longer be changed.")
    db.session.refresh(sale)


# --- payment --------------------------------------------------------------------------------------

def amount_errors(sale: Sale, amount: Optional[Decimal]) -> dict[str, list[str]]:
    """Return the error for an amount collected that is not the cover total (none when it is, or is missing)."""
    total = cover_total(sale)
    if amount is None or amount == total:
        return {}
    return {"amount_collected": [f"Must be exactly {total:.2f} {sale.currency}, the cover total."]}


def record_payment(sale: Sale, user: User, method: str, receipt_number: str, amount: Decimal,
                   card_last4: str = "") -> Sale:
    """Store the till payment for the cover; the amount must equal the cover total."""
    if sale.status != "quoted" or not chosen_covers(sale):
        raise InvalidTransition("This sale is not waiting for payment.")
    wrong_amount = amount_errors(sale, amount)
    if wrong_amount:
        raise SaleError("The amount must equal the cover total.", wrong_amount)
    if method not in dict(PAYMENT_METHODS):
        raise SaleError("Choose a payment method.", {"payment_method": ["Choose card, cash or other."]})
    sale.payment_method = method
    sale.receipt_number = receipt_number.strip()
    sale.amount_collected = amount
    sale.card_last4 = card_last4 or None
    sale.payment_recorded_at = utcnow()
    _audit("sale.payment_recorded", user, sale, method=method, receipt=sale.receipt_number,
           amount=str(amount), currency=sale.currency)
    db.session.commit()
    return sale


# --- booking --------------------------------------------------------------------------------------

def booking_payload(sale: Sale) -> dict[str, Any]:
    """Build the create-booking body: the chosen quote ids and the policyholder."""
    holder = {theirs: getattr(sale, ours) for theirs, ours in POLICYHOLDER_KEYS.items() if getattr(sale, ours)}
    return {"quotes": [{"id": c.quote_id} for c in chosen_covers(sale)], "policyholder": holder}


def book(sale: Sale, user: Optional[User], client: XCoverClientLike) -> BookingResult:
    """Send the booking once: claim the sale with a compare-and-set, then call XCover with the stored key."""
    if sale.payment_recorded_at is None or sale.idempotency_key is None:
        raise InvalidTransition("Record the payment before booking.")
    if sale.amount_collected != cover_total(sale):
        raise InvalidTransition("The amount collected does not match the cover chosen: record the payment again.")
    db.session.commit()
    # Only the request whose conditional UPDATE wins may call XCover: a double tap never books twice.
    if not _compare_and_set(sale, "quoted", "booking", booking_started_at=utcnow()):
        db.session.rollback()
        return BookingResult(sale, sent=False, message="This booking is already on its way.")
    db.session.refresh(sale)
    _audit("sale.booking_sent", user, sale, xcover_ref=sale.xcover_ref, quotes=len(chosen_covers(sale)),
           amount=str(sale.cover_total))
    db.session.commit()
    return _send_booking(sale, user, client, expected="booking")


class _Raced(Exception):
    """Another request settled the sale first."""


def _send_booking(sale: Sale, user: Optional[User], client: XCoverClientLike, expected: str) -> BookingResult:
    """Call create booking with the sale's key and settle the sale, unless another check settled it first."""
    try:
        return _call_and_settle(sale, user, client, expected)
    except _Raced:
        db.session.rollback()
        db.session.refresh(sale)
        return BookingResult(sale, sent=True, message="Settled by another check.")


def _call_and_settle(sale: Sale, user: Optional[User], client: XCoverClientLike, expected: str) -> BookingResult:
    """Call create booking with the sale's key and settle the sale from the answer."""
    try:
        booking = client.create_booking(sale.xcover_ref, booking_payload(sale), idempotency_key=sale.idempotency_key)
    except (XCoverOutcomeUnknown, XCoverConflict) as exc:
        # Maybe applied: never say covered, never say failed; the same key settles it later.
        if expected == "booking":
            _settle(sale, "outcome_unknown", last_error=None)
            _audit("sale.outcome_unknown", user, sale, result="pending", xcover_ref=sale.xcover_ref,
                   reason=type(exc).__name__)
            db.session.commit()
        return BookingResult(sale, sent=True, message=UNKNOWN_MESSAGE)
    except XCoverValidationError as exc:
        errors = _map_field_errors(exc.field_errors(), [])
        general = errors.pop("__all__", [])
        if errors:
            return _back_to_quoted(sale, user, "XCover refused the customer details: please correct them.",
                                   errors, reason="validation")
        # No field to correct: XCover declined the booking itself.
        reason = " ".join(general) or exc.message
        return _fail(sale, user, f"XCover declined the booking. {reason}"[:500], status=exc.status)
    except (XCoverUnavailable, XCoverRateLimited, XCoverAuthError) as exc:
        if expected == "outcome_unknown":
            # This retry did not get through; the first attempt may still have been applied.
            return BookingResult(sale, sent=True, message=UNKNOWN_MESSAGE)
        return _back_to_quoted(sale, user, DOWN_MESSAGE, None, reason=type(exc).__name__)
    except XCoverError as exc:
        return _fail(sale, user, f"XCover refused the booking: {exc.message}"[:500], status=exc.status)
    return _accept(sale, user, booking)


def _settle(sale: Sale, new: str, **values: Any) -> None:
    """Move a sale on from booking/outcome unknown, only if nobody else did meanwhile."""
    if not _compare_and_set(sale, sale.status, new, **values):
        raise _Raced()
    db.session.refresh(sale)


def _back_to_quoted(sale: Sale, user: Optional[User], message: str,
                    errors: Optional[dict[str, list[str]]], reason: str) -> BookingResult:
    """Nothing was applied at XCover: let the associate fix or retry with everything kept."""
    _settle(sale, "quoted", last_error=message, field_errors=errors)
    _audit("sale.booking_failed", user, sale, result="failure", xcover_ref=sale.xcover_ref, reason=reason,
           fields=sorted(errors or {}))
    db.session.commit()
    return BookingResult(sale, sent=True, message=message)


def _fail(sale: Sale, user: Optional[User], message: str, problems: Optional[list[str]] = None,
          **details: Any) -> BookingResult:
    """Close the booking as failed, saying why."""
    _settle(sale, "failed", last_error=message)
    _audit("sale.booking_failed", user, sale, result="failure", xcover_ref=sale.xcover_ref, **details)
    db.session.commit()
    return BookingResult(sale, sent=True, message=message, problems=problems or [])


def check_booking(booking: Any, covers: list[Cover]) -> list[str]:
    """Return what is wrong with a booking answer: status, prices and errors (empty when it is good)."""
    problems: list[str] = []
    if booking.status != "CONFIRMED":
        problems.append(f"XCover says the booking is {booking.status}, not confirmed.")
    if booking.errors:
        problems.append(f"XCover reported errors: {booking.errors}")
    booked = {q.id: q for q in booking.quotes}
    for cover in covers:
        quote = booked.get(cover.quote_id)
        if quote is None:
            problems.append(f"{cover.title or cover.policy_type} is missing from the booking.")
        elif quote.status != "CONFIRMED":
            problems.append(f"{cover.title or cover.policy_type} is {quote.status}.")
        elif quote.price != cover.price:
            problems.append(f"{cover.title or cover.policy_type} was booked at {quote.price}, quoted at {cover.price}.")
    return problems


def _accept(sale: Sale, user: Optional[User], booking: Any) -> BookingResult:
    """Accept a booking only when confirmed, at the quoted prices, with no errors."""
    covers = chosen_covers(sale)
    booked = {q.id: q for q in booking.quotes}
    for cover in covers:
        quote = booked.get(cover.quote_id)
        good = quote is not None and quote.status == "CONFIRMED" and quote.price == cover.price
        cover.status = "booked" if good else "failed"
        if quote is not None:
            cover.start_date = quote.policy_start_date or cover.start_date
            cover.end_date = quote.policy_end_date or cover.end_date
            cover.pds_url = quote.pds_url or cover.pds_url
    sale.coi_url = booking.coi_url or booking.coi_pdf_url
    sale.pds_url = booking.pds_url or sale.pds_url
    problems = check_booking(booking, covers)
    if problems:
        in_force = [c for c in covers if c.status == "booked"]
        message = "Booking partly failed." if in_force else "XCover did not confirm the booking."
        return _fail(sale, user, f"{message} {' '.join(problems)}"[:500], problems, issues=problems[:5],
                     xcover_status=booking.status)
    _settle(sale, "booked", booked_at=utcnow(), last_error=None, field_errors=None)
    _audit("sale.booked", user, sale, xcover_ref=booking.id, policies=len(covers), total=str(booking.total_price),
           currency=booking.currency)
    db.session.commit()
    return BookingResult(sale, sent=True, message="Covered.")


def reconcile(sale: Sale, user: Optional[User], client: XCoverClientLike, stale_after: timedelta) -> BookingResult:
    """Settle an unknown outcome: replay create booking with the same key (XCover answers 409 with the result)."""
    if sale.status == "booking":
        started = sale.booking_started_at or sale.updated_at
        if utcnow() - started < stale_after:
            return BookingResult(sale, sent=False, message="The booking is still on its way.")
        if not _compare_and_set(sale, "booking", "outcome_unknown"):
            db.session.rollback()
            return BookingResult(sale, sent=False, message="Already settled.")
        db.session.refresh(sale)
        _audit("sale.outcome_unknown", user, sale, result="pending", xcover_ref=sale.xcover_ref, stale=True)
        db.session.commit()
    if sale.status != "outcome_unknown":
        return BookingResult(sale, sent=False, message="Nothing to check.")
    result = _send_booking(sale, user, client, expected="outcome_unknown")
    if result.sale.status == "outcome_unknown":
        return result
    _audit("sale.reconciled", user, sale, xcover_ref=sale.xcover_ref, status=sale.status)
    db.session.commit()
    return result


def sales_to_reconcile(stale_after: timedelta) -> list[Sale]:
    """Return every sale whose booking outcome is unknown or whose booking has been in flight too long."""
    cutoff = utcnow() - stale_after
    return list(db.session.scalars(sa.select(Sale).where(sa.or_(
        Sale.status == "outcome_unknown",
        sa.and_(Sale.status == "booking", Sale.booking_started_at < cutoff),
    )).order_by(Sale.id)))


def resend_email(sale: Sale, user: User, client: XCoverClientLike) -> None:
    """Ask XCover to email the customer their policy confirmation again."""
    if sale.status != "booked":
        raise InvalidTransition("Only a booked sale has a confirmation to send.")
    try:
        client.send_email(sale.xcover_ref, idempotency_key=str(uuid.uuid4()))
    except XCoverError:
        raise XCoverDown("XCover is not answering right now; try sending the email again in a moment.") from None
    _audit("sale.email_resent", user, sale, xcover_ref=sale.xcover_ref, to=mask_email(sale.email))
    db.session.commit()


def note_error(sale: Sale, message: str) -> None:
    """Keep the message of a failed XCover call on the sale, so a reload still shows it with Retry."""
    sale.last_error = message[:500]
    db.session.commit()


def timeline(sale: Sale) -> list[Any]:
    """Return the sale's audit events, oldest first (only its own store's chain)."""
    try:  # the audit area's shared query, once that area is part of the build
        from ..audit.browse import timeline_for
    except ImportError:
        timeline_for = None
    if timeline_for is not None:
        return list(timeline_for("sale", str(sale.id), sale.store_id))
    from ..models import AuditEvent
    return list(db.session.scalars(sa.select(AuditEvent).where(
        AuditEvent.store_id == sale.store_id, AuditEvent.object_type == "sale",
        AuditEvent.object_id == str(sale.id)).order_by(AuditEvent.seq)))


def customer_summary(sale: Sale) -> dict[str, Optional[str]]:
    """Return the customer's contact details masked, for logs and audit details."""
    return {"email": mask_email(sale.email), "phone": mask_phone(sale.phone)}
