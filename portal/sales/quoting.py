"""Drafting and quoting: the customer and products typed at the counter, and XCover's options for them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..i18n import N_, Message
from ..intl import currencies, primary_language
from ..models import Cover, Sale, SaleItem, Store, User
from ..phones import InvalidPhone, calling_code, to_e164
from ..sensitive import mask_email, mask_phone, new_key
from ..vocab import AuditAction, AuditResult, CoverStatus, SaleStatus
from ..xcover.errors import XCoverError, XCoverValidationError
from ..xcover.html import plain
from . import catalogue
from .content import cover_content
from .lookup import store_today
from .machine import (
    InvalidTransition,
    SaleError,
    XCoverClientLike,
    XCoverDown,
    XCoverRejected,
    audit,
    compare_and_set,
    new_booking_body,
    transition,
)

CUSTOMER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address1",
    "city",
    "region",
    "postcode",
    "country",
    "language",
)
PRODUCT_FIELDS = (
    "product_name",
    "category",
    "price",
    "quantity",
    "brand",
    "model",
    "sku",
    "serial_number",
    "purchase_date",
)

# Limits of one sale; the form says each beside its field, and save_draft holds to them too.
MAX_PRODUCTS = 10
MAX_QUANTITY = 99
MAX_PRICE = Decimal("1000000")
# A purchase date before this many years ago is a typo (2016 for 2026), not a product anyone covers now.
MAX_PURCHASE_AGE_YEARS = 5
TOO_MANY_PRODUCTS = Message(
    N_(
        "A sale holds at most %(most)s products: the first %(most)s are below and the rest were not kept. "
        "Start another sale for the others."
    ),
    most=MAX_PRODUCTS,
)
QUANTITY_MESSAGE = Message(N_("Enter a quantity from 1 to %(most)s."), most=MAX_QUANTITY)
PRICE_MESSAGE = Message(N_("Enter a price from 0.01 to %(most)s each."), most=MAX_PRICE)
PURCHASE_AGE_MESSAGE = Message(
    N_("Enter a purchase date within the last %(years)s years."), years=MAX_PURCHASE_AGE_YEARS
)


class AlreadySubmitted(SaleError):
    """The new-sale form was sent before (a double tap, a resend): here is the sale it started."""

    def __init__(self, sale: Sale) -> None:
        super().__init__(N_("Already sent: this is the sale that form started."))
        self.sale = sale


# XCover's policyholder keys -> our customer fields. Only keys XCover documents and echoes: the customer's
# language is not one of them (XCover refuses unknown keys); it goes on the quote as customer_language.
POLICYHOLDER_KEYS = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "address1": "address1",
    "city": "city",
    "region": "region",
    "postcode": "postcode",
    "country": "country",
}


def policyholder_payload(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The booking's policyholder from our customer fields: documented keys only, empty ones left out."""
    return {theirs: customer.get(ours) for theirs, ours in POLICYHOLDER_KEYS.items() if customer.get(ours)}


def booking_body(quote_ids: list[str], customer: Mapping[str, Any]) -> dict[str, Any]:
    """The create-booking body: the chosen quote ids and the policyholder."""
    return {"quotes": [{"id": quote_id} for quote_id in quote_ids], "policyholder": policyholder_payload(customer)}


def defaults_for(store: Store) -> dict[str, Any]:
    """Return what the new-sale form starts with, from the store's settings."""
    return {
        "country": store.country,
        "language": primary_language(store.language),
        "currency": store.currency,
        "currency_name": currencies().get(store.currency, store.currency),
        "phone_prefix": calling_code(store.phone_country),
        "purchase_date": store_today(store),
    }


def _years_before(day: date, years: int) -> date:
    """Return the same calendar day some years earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def purchase_date_error(day: date, today: date) -> str | None:
    """Say what is wrong with a purchase date, given today's date in the store (None when it is fine)."""
    if day > today:
        return N_("The purchase date cannot be in the future.")
    if day < _years_before(today, MAX_PURCHASE_AGE_YEARS):
        return PURCHASE_AGE_MESSAGE
    return None


def product_errors(products: list[Mapping[str, Any]], today: date) -> dict[str, list[str]]:
    """Return what breaks the sale's limits, keyed by the form's field names (empty when nothing does)."""
    if len(products) > MAX_PRODUCTS:
        return {"__all__": [TOO_MANY_PRODUCTS]}
    errors: dict[str, list[str]] = {}
    for i, p in enumerate(products):
        quantity, price, day = p.get("quantity"), p.get("price"), p.get("purchase_date")
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            errors[f"items-{i}-quantity"] = [QUANTITY_MESSAGE]
        if not isinstance(price, Decimal) or not price.is_finite() or not Decimal("0.01") <= price <= MAX_PRICE:
            errors[f"items-{i}-price"] = [PRICE_MESSAGE]
        problem = purchase_date_error(day, today) if isinstance(day, date) else N_("Enter the purchase date.")
        if problem:
            errors[f"items-{i}-purchase_date"] = [problem]
    return errors


def _products_of(sale: Sale) -> list[dict[str, Any]]:
    """Return the sale's products as plain dicts (the shape the catalogue maps)."""
    return [{f: getattr(item, f) for f in PRODUCT_FIELDS} for item in sale.items]


def _same_products(sale: Sale, products: list[Mapping[str, Any]]) -> bool:
    """Tell whether the products differ from the stored ones in anything that changes the quote."""

    def norm(p: Mapping[str, Any]) -> tuple:
        return tuple((f, str(p.get(f) or "")) for f in PRODUCT_FIELDS)

    return [norm(p) for p in _products_of(sale)] == [norm(p) for p in products]


def submitted_sale(user: User, submission: str | None) -> Sale | None:
    """Return the sale a new-sale form with this token already started for this associate, if any."""
    if not submission:
        return None
    return db.session.scalar(
        sa.select(Sale).where(
            Sale.submission_token == submission, Sale.store_id == user.store_id, Sale.associate_id == user.id
        )
    )


def save_draft(
    user: User,
    customer: Mapping[str, Any],
    products: list[Mapping[str, Any]],
    sale: Sale | None = None,
    submission: str | None = None,
) -> Sale:
    """Create or update a sale's customer and products; changed products need a new quote.

    A new sale keeps its form's one-time submission token: the same form sent again (a triple tap) raises
    AlreadySubmitted with the sale the first one started, so one form never makes two sales.
    """
    store = user.store
    if store is None:
        raise SaleError(N_("Only store staff can sell."))
    if not products:
        raise SaleError(N_("Add at least one product."))
    if sale is not None:
        # One save of a sale at a time, each reading what the one before it wrote: three taps of Save at once
        # would otherwise each delete the same products (a 500 on PostgreSQL for the two that lost the race).
        db.session.refresh(sale, with_for_update=True)
    if sale is not None and sale.status not in (SaleStatus.DRAFT, SaleStatus.QUOTED):
        raise InvalidTransition(N_("This sale can no longer be changed."))
    if sale is None:
        earlier = submitted_sale(user, submission)
        if earlier is not None:
            raise AlreadySubmitted(earlier)
    limits = product_errors(products, store_today(store))
    if limits:
        raise SaleError(N_("Please check the highlighted fields."), limits)
    clean = {k: (customer.get(k) or "").strip() for k in CUSTOMER_FIELDS}
    try:
        clean["phone"] = to_e164(clean["phone"], store.phone_country)
    except InvalidPhone as exc:
        raise SaleError(N_("Please check the highlighted fields."), {"phone": [exc.message]}) from None
    clean["email"] = clean["email"].lower()
    if sale is None:
        sale = Sale(
            store_id=store.id,
            associate_id=user.id,
            currency=store.currency,
            status="draft",
            submission_token=submission or None,
            **clean,
        )
        db.session.add(sale)
        try:
            db.session.flush()
        except IntegrityError:
            # The same form's first send won the unique token a moment ago: land on its sale.
            db.session.rollback()
            earlier = submitted_sale(user, submission)
            if earlier is None:
                raise SaleError(N_("This form was already used. Tap New sale to start again.")) from None
            raise AlreadySubmitted(earlier) from None
        requote = True
    else:
        requote = (
            sale.status == SaleStatus.DRAFT
            or not _same_products(sale, products)
            or any(getattr(sale, k) != clean[k] for k in ("country", "language", "region"))
        )
        for k, v in clean.items():
            setattr(sale, k, v)
        if not requote and sale.status == SaleStatus.QUOTED:
            new_booking_body(sale)  # the policyholder in the booking may have changed
    if requote:
        sale.covers.clear()
        sale.items.clear()
        db.session.flush()
        for position, p in enumerate(products):
            values = {f: p.get(f) if p.get(f) is not None else "" for f in PRODUCT_FIELDS}
            sale.items.append(SaleItem(position=position, **values))
        if sale.status == SaleStatus.QUOTED:
            transition(sale, SaleStatus.DRAFT)
        sale.xcover_ref = None
        sale.catalogue_version_id = None
        sale.quote_total = None
    sale.field_errors = None
    sale.last_error = None
    db.session.flush()
    audit(AuditAction.SALE_SAVED, user, sale, products=len(products), requote=requote, **customer_summary(sale))
    db.session.commit()
    return sale


def map_field_errors(xcover_errors: Mapping[str, list[str]], lines: list[catalogue.QuoteLine]) -> dict[str, list[str]]:
    """Translate XCover's dotted error keys into our form field names (items-N-field, phone...)."""
    mapped: dict[str, list[str]] = {}
    for key, messages in xcover_errors.items():
        parts = key.split(".")
        target = "__all__"
        if parts[0] == "policyholder" and len(parts) > 1:
            target = POLICYHOLDER_KEYS.get(parts[1], "__all__")
        elif parts[0] == "request" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) < len(lines):
            ours = catalogue.our_field(".".join(parts[2:]))
            if ours in PRODUCT_FIELDS:
                target = f"items-{lines[int(parts[1])].item_position}-{ours}"
        elif parts[0] in ("customer_country", "customer_region", "customer_language"):
            target = parts[0].removeprefix("customer_")
        mapped.setdefault(target, []).extend(messages)
    return mapped


def request_quote(sale: Sale, user: User, client: XCoverClientLike) -> Sale:
    """Ask XCover for one package quote for the whole basket and store each option offered."""
    if sale.status != SaleStatus.DRAFT:
        raise InvalidTransition(N_("This sale already has a quote."))
    payload, lines = catalogue.build_quote_request(
        _products_of(sale), currency=sale.currency, country=sale.country, region=sale.region, language=sale.language
    )
    if not lines:
        raise SaleError(N_("No cover is offered for these product categories."))
    try:
        package = client.create_quote(payload)
    except XCoverValidationError as exc:
        sale.field_errors = map_field_errors(exc.field_errors(), lines)
        audit(
            AuditAction.SALE_QUOTE_FAILED,
            user,
            sale,
            result=AuditResult.FAILURE,
            reason="validation",
            fields=sorted(sale.field_errors),
        )
        db.session.commit()
        raise XCoverRejected(
            N_("XCover could not quote: please check the highlighted fields."), sale.field_errors
        ) from None
    except XCoverError as exc:
        audit(
            AuditAction.SALE_QUOTE_FAILED,
            user,
            sale,
            result=AuditResult.FAILURE,
            reason=type(exc).__name__,
            status=exc.status,
        )
        db.session.commit()
        raise XCoverDown(N_("XCover is not answering right now. Everything you typed is kept: tap Retry.")) from None
    # Only the request whose conditional UPDATE wins stores its options: taps of Retry at once quote the sale once
    # (the losers' packages stay unbooked at XCover, as any quote not taken does).
    if not compare_and_set(sale, SaleStatus.DRAFT, SaleStatus.QUOTED):
        db.session.rollback()
        raise InvalidTransition(N_("This sale was quoted at the same time on another screen."))
    db.session.refresh(sale)
    for index, line in enumerate(lines):
        quote = package.quote_for_item(index)
        item = sale.items[line.item_position]
        if quote is None:
            sale.covers.append(
                Cover(
                    item=item,
                    quote_index=index,
                    status=CoverStatus.FAILED,
                    policy_type=line.offer.policy_type,
                    term_months=line.offer.cover_term_months,
                    error=(package.error_for_item(index) or N_("Not available for this product"))[:500],
                )
            )
            continue
        sale.covers.append(
            Cover(
                item=item,
                quote_index=index,
                quote_id=quote.id,
                status="quoted",
                policy_type=quote.policy_type,
                policy_version=str(quote.policy_version or ""),
                title=(plain(quote.content.title) or quote.policy_name)[:200],
                # Our own catalogue's term: XCover echoes no item fields and may send no end date.
                term_months=line.offer.cover_term_months,
                price=quote.price,
                price_formatted=quote.price_formatted,
                tax=quote.tax_total,
                tax_formatted=quote.tax_formatted,
                start_date=quote.policy_start_date,
                end_date=quote.policy_end_date,
                pds_url=quote.pds_url or package.pds_url,
                content=cover_content(quote),
            )
        )
    sale.xcover_ref = package.id
    sale.catalogue_version_id = catalogue.in_use().version_id  # the version build_quote_request read
    sale.quote_total = package.total_price
    sale.pds_url = package.pds_url
    sale.field_errors = None
    sale.last_error = None
    # A booking key per quote package, stored before any booking can be sent and reused on every retry.
    sale.idempotency_key = new_key()
    db.session.flush()
    offered = [c for c in sale.covers if c.status == CoverStatus.QUOTED]
    audit(
        AuditAction.SALE_QUOTED,
        user,
        sale,
        xcover_ref=package.id,
        options=len(offered),
        unavailable=len(sale.covers) - len(offered),
        total=str(package.total_price),
        currency=sale.currency,
        catalogue_version=catalogue.in_use().number,
    )
    db.session.commit()
    return sale


def note_error(sale: Sale, message: str) -> None:
    """Keep the message of a failed XCover call on the sale, so a reload still shows it with Retry."""
    sale.last_error = message[:500]
    db.session.commit()


def customer_summary(sale: Sale) -> dict[str, str | None]:
    """Return the customer's contact details masked, for logs and audit details."""
    return {"email": mask_email(sale.email), "phone": mask_phone(sale.phone)}
