"""The check with XCover: a sample product quoted for every line of a draft, as a store would, never booked."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..extensions import db
from ..i18n import N_, Message
from ..intl import primary_language
from ..models import CatalogueCategory, CatalogueLine, CatalogueVersion, Store, User, utcnow
from ..sales import catalogue as offers
from ..sales.lookup import store_today
from ..vocab import AuditAction, AuditResult, LineCheck
from ..xcover.errors import XCoverError, XCoverValidationError
from .catalogue import CatalogueError, CheckUnavailable, check_editable, record_event

# The price of the sample product each line is quoted for, unless head office picks another.
SAMPLE_PRICE = Decimal("499.00")
# Requests one check may send: a 422 about some lines says nothing of the others, which go again without them.
CHECK_ROUNDS = 3


def sample_stores() -> list[Store]:
    """Return the stores whose country and currency a check can quote in (open ones, by code)."""
    return list(db.session.scalars(sa.select(Store).where(Store.active.is_(True)).order_by(Store.code)))


def _sample_product(category: CatalogueCategory, price: Decimal, store: Store) -> dict[str, Any]:
    """Return the product a category's lines are quoted for: its category, a price, bought today."""
    return {
        "product_name": f"Sample {category.label}"[:200],
        "category": category.key,
        "price": price,
        "quantity": 1,
        "purchase_date": store_today(store),
    }


def _offer(line: CatalogueLine) -> offers.Offer:
    """Return a stored line as the quote request's offer."""
    return offers.Offer(line.policy_type, offers.version_value(line.policy_type_version), line.cover_term_months)


def _refusals(errors: Mapping[str, list[str]], count: int) -> tuple[dict[int, list[str]], list[str]]:
    """Split XCover's 422 into reasons per request[] element and reasons about the request as a whole."""
    per_element: dict[int, list[str]] = {}
    general: list[str] = []
    for key, messages in errors.items():
        parts = key.split(".")
        if parts[0] == "request" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < count:
            field = ".".join(parts[2:])
            per_element.setdefault(int(parts[1]), []).extend(f"{field}: {m}" if field else m for m in messages)
        else:
            general.extend(f"{key}: {m}" if key else m for m in messages)
    return per_element, general


def check(draft: CatalogueVersion, actor: User, client: Any, store: Store, price: Decimal) -> dict[str, int]:
    """Quote a sample product for every line of a draft, as the store would, and keep what XCover says (commits).

    One quote request for all the lines; when XCover refuses some of them with a 422, the rest go again without
    them. The quotes are never booked.
    """
    check_editable(draft)
    lines = draft.lines
    if not lines:
        raise CatalogueError(N_("Add a category with at least one line before checking."))
    mapping = offers.item_shape()
    results: dict[int, tuple[LineCheck, dict[str, Any]]] = {}
    todo = list(lines)
    for _ in range(CHECK_ROUNDS):
        elements = [
            offers.item_payload(_sample_product(line.category, price, store), _offer(line), mapping) for line in todo
        ]
        payload = offers.quote_payload(
            elements,
            currency=store.currency,
            country=store.country,
            region="",
            language=primary_language(store.language),
        )
        try:
            package = client.create_quote(payload)
        except XCoverValidationError as exc:
            refused, general = _refusals(exc.field_errors(), len(todo))
            if general or not refused:
                _check_failed(draft, actor, store, "validation", exc.status)
                reason = " ".join(general or [exc.message])
                raise CatalogueError(
                    Message(N_("XCover refused the sample request itself: %(reason)s"), reason=reason)
                ) from None
            for index, reasons in refused.items():
                results[todo[index].id] = (LineCheck.REFUSED, {"reasons": reasons})
            todo = [line for index, line in enumerate(todo) if index not in refused]
            if not todo:
                break
            continue
        except XCoverError as exc:
            _check_failed(draft, actor, store, type(exc).__name__, exc.status)
            raise CheckUnavailable(N_("XCover is not answering right now. Nothing was changed: try again.")) from None
        for index, line in enumerate(todo):
            quote = package.quote_for_item(index)
            if quote is None:
                reason = package.error_for_item(index) or N_("Not available for this product")
                results[line.id] = (LineCheck.REFUSED, {"reasons": [reason]})
            else:
                title = quote.content.title or quote.policy_name
                results[line.id] = (LineCheck.ACCEPTED, {"price": str(quote.price), "title": title})
        break
    sample = {
        "store": store.code,
        "country": store.country,
        "currency": store.currency,
        "language": primary_language(store.language),
        "price": str(price),
    }
    _keep(draft, {line.id: results.get(line.id, (LineCheck.UNCHECKED, None)) for line in lines})
    lines = draft.lines
    draft.checked_at = utcnow()
    draft.check_sample = sample
    counts = {result: sum(1 for line in lines if line.check_result == result) for result in LineCheck}
    record_event(
        AuditAction.CATALOGUE_CHECKED,
        actor,
        draft,
        **sample,
        accepted=counts[LineCheck.ACCEPTED],
        refused=counts[LineCheck.REFUSED],
        unanswered=counts[LineCheck.UNCHECKED],
    )
    db.session.commit()
    return {str(result): count for result, count in counts.items()}


def _keep(draft: CatalogueVersion, answers: Mapping[int, tuple[LineCheck, dict[str, Any] | None]]) -> None:
    """Write what XCover said of the lines still in the draft, read again and locked first (caller commits)."""
    # Head office may have changed a category, or published or discarded the draft, on another screen while XCover
    # answered: a changed or removed line is a row no longer there, and a version no longer a draft takes no check.
    db.session.expire_all()
    db.session.refresh(draft, with_for_update=True)
    check_editable(draft)
    for line_id, (result, detail) in answers.items():
        # By id, so a line deleted since is simply not matched (the ORM would call its row stale and fail).
        db.session.execute(
            sa.update(CatalogueLine)
            .where(CatalogueLine.id == line_id)
            .values(check_result=result, check_detail=detail)
            .execution_options(synchronize_session=False)
        )


def _check_failed(draft: CatalogueVersion, actor: User, store: Store, reason: str, status: int | None) -> None:
    """Record a check XCover could not answer; the lines keep what earlier checks learnt (commits)."""
    record_event(
        AuditAction.CATALOGUE_CHECKED,
        actor,
        draft,
        AuditResult.FAILURE,
        store=store.code,
        reason=reason,
        status=status,
    )
    db.session.commit()
