"""The sale at the counter: products and customer, options, payment, confirmation."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..models import Sale, Store
from ..security import role_required
from ..sensitive import find_card_number
from ..urls import MAX_INT32, bounded_int
from ..vocab import CoverStatus, Role, SaleStatus
from ..xcover import get_client
from . import booking, catalogue, lookup, quoting
from .forms import (
    CARD_MESSAGE,
    PaymentForm,
    SaleForm,
    customer_labels,
    new_submission_token,
    options_form_for,
    read_choices,
    refuse_card_numbers,
    sale_form_data,
    without_row,
)
from .machine import InvalidTransition, SaleError, XCoverDown, XCoverRejected
from .options import OPT_OUT_DOWN_MESSAGE, mark_options_shown, opt_out_pending, record_choices, send_opt_out
from .qr import qr_svg
from .quoting import AlreadySubmitted

bp = Blueprint("sales", __name__, url_prefix="/sales")
SELLERS = (Role.ASSOCIATE, Role.MANAGER)


@bp.app_template_filter("category_label")
def category_label(key: str) -> str:
    """Return a product category's label."""
    return catalogue.category_label(key)


def _user() -> Any:
    """Return the signed-in user object (not the proxy)."""
    return current_user._get_current_object()


def _load(sale_id: int) -> Sale:
    """Load a sale of the associate's own store, or 404."""
    sale = lookup.get_sale(_user(), sale_id)
    if sale is None:
        abort(404)
    return sale


def _next_screen(sale: Sale) -> Response:
    """Send the associate to where this sale stands."""
    if sale.status == SaleStatus.DRAFT:
        return redirect(url_for("sales.edit", sale_id=sale.id))
    if sale.status == SaleStatus.QUOTED:
        if lookup.chosen_covers(sale) and sale.acknowledged_at:
            return redirect(url_for("sales.payment", sale_id=sale.id))
        return redirect(url_for("sales.options", sale_id=sale.id))
    return redirect(url_for("sales.show", sale_id=sale.id))


def _blank_form() -> SaleForm:
    """Return screen 1 filled with the store's defaults, and a fresh one-time submission token."""
    defaults = quoting.defaults_for(current_user.store)
    form = SaleForm(
        store=current_user.store,
        data={
            "country": defaults["country"],
            "language": defaults["language"],
            "phone": defaults["phone_prefix"] + " ",
            "items": [{"purchase_date": defaults["purchase_date"], "quantity": 1}],
            "submission": new_submission_token(),
        },
    )
    return form


def _rows_changed(form: SaleForm, store: Store) -> SaleForm | None:
    """Handle "Add another product" and "Remove": the form to show again, or None for a real submit."""
    remove = request.form.get("remove_item")
    if "add_item" not in request.form and remove is None:
        return None
    if not refuse_card_numbers(form):
        return form
    if "add_item" in request.form:
        if len(form.items) < (form.items.max_entries or 0):
            form.items.append_entry({"purchase_date": quoting.defaults_for(store)["purchase_date"], "quantity": 1})
        return form
    position = int(remove) if remove and re.fullmatch(r"[0-9]{1,2}", remove, re.ASCII) else None
    if position is not None and position < len(form.items) and len(form.items) > 1:
        return SaleForm(formdata=without_row(request.form, form.items, position), store=store)
    return form


def _render_products(form: SaleForm, sale: Sale | None = None, status: int = 200) -> tuple[str, int]:
    """Render screen 1."""
    return render_template(
        "sales/products.html",
        form=form,
        sale=sale,
        title="New sale" if sale is None else "Sale",
        defaults=quoting.defaults_for(current_user.store),
    ), status


def _save_and_quote(form: SaleForm, sale: Sale | None) -> Response | tuple[str, int]:
    """Store what was typed, then ask XCover for the options."""
    submission = form.submission.data if sale is None else None
    try:
        sale = quoting.save_draft(_user(), form.customer(), form.products(), sale, submission=submission)
    except AlreadySubmitted as exc:
        flash(exc.message, "info")
        return _next_screen(exc.sale)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        flash(exc.message, "error")
        return _render_products(form, sale, 422)
    if sale.status != SaleStatus.DRAFT:
        return _next_screen(sale)
    return _quote(sale, form)


def _quote(sale: Sale, form: SaleForm | None = None) -> Response | tuple[str, int]:
    """Request the quote for a stored draft and go on to the options."""
    try:
        quoting.request_quote(sale, _user(), get_client())
    except XCoverRejected as exc:
        form = form or SaleForm(store=sale.store, data=sale_form_data(sale))
        form.apply_errors(exc.field_errors)
        flash(exc.message, "error")
        return _render_products(form, sale, 422)
    except XCoverDown as exc:
        quoting.note_error(sale, exc.message)
        return redirect(url_for("sales.edit", sale_id=sale.id))
    except SaleError as exc:
        flash(exc.message, "error")
        return redirect(url_for("sales.edit", sale_id=sale.id))
    return redirect(url_for("sales.options", sale_id=sale.id))


@bp.route("/")
@role_required(*SELLERS)
def index() -> str:
    """Today's sales of this store, or a search."""
    query = request.args.get("q", "")
    refused = find_card_number(query, phone_region=current_user.store.country)
    if refused:
        query = ""  # neither searched for nor echoed back into the page
    more_url = None
    if query:
        sales = lookup.search_sales(current_user.store, query)
    else:  # today's, 20 at a time
        page = lookup.todays_sales(current_user.store, before=request.args.get("before", type=bounded_int(MAX_INT32)))
        sales = page.sales
        more_url = url_for("sales.index", before=page.next_before) if page.next_before else None
    return render_template(
        "sales/index.html",
        sales=sales,
        more_url=more_url,
        query=query,
        refused=refused,
        card_message=CARD_MESSAGE,
        title="Sales",
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(*SELLERS)
def new() -> Response | tuple[str, int] | str:
    """Screen 1 of a new sale: products and customer."""
    if request.method != "POST":  # HEAD is a GET without the body, never a submission
        return _render_products(_blank_form())
    form = SaleForm(store=current_user.store)
    shaped = _rows_changed(form, current_user.store)
    if shaped is not None:
        return _render_products(shaped)
    if not form.validate():
        return _render_products(form, None, 422)
    return _save_and_quote(form, None)


@bp.route("/<int:sale_id>/edit", methods=["GET", "POST"])
@role_required(*SELLERS)
def edit(sale_id: int) -> Response | tuple[str, int] | str:
    """Screen 1 for a stored sale: fix what XCover refused, or retry the quote."""
    sale = _load(sale_id)
    if sale.status not in (SaleStatus.DRAFT, SaleStatus.QUOTED):
        return redirect(url_for("sales.show", sale_id=sale.id))
    if request.method != "POST":
        form = SaleForm(store=sale.store, data=sale_form_data(sale))
        form.apply_errors(sale.field_errors or {})
        return _render_products(form, sale)
    form = SaleForm(store=sale.store)
    shaped = _rows_changed(form, sale.store)
    if shaped is not None:
        return _render_products(shaped, sale)
    if not form.validate():
        return _render_products(form, sale, 422)
    return _save_and_quote(form, sale)


@bp.route("/<int:sale_id>/quote", methods=["POST"])
@role_required(*SELLERS)
def quote(sale_id: int) -> Response | tuple[str, int]:
    """Retry the quote from the stored draft."""
    sale = _load(sale_id)
    if sale.status != SaleStatus.DRAFT:
        return _next_screen(sale)
    return _quote(sale)


@bp.route("/<int:sale_id>/options", methods=["GET", "POST"])
@role_required(*SELLERS)
def options(sale_id: int) -> Response | tuple[str, int] | str:
    """Screen 2: each product's cover options, Add or No thanks, and the acknowledgement."""
    sale = _load(sale_id)
    if sale.status != SaleStatus.QUOTED:
        return _next_screen(sale)
    if request.method != "POST":
        mark_options_shown(sale, _user())
        form = options_form_for(sale)
        for item, covers in lookup.options_by_item(sale):
            chosen = next((c for c in covers if c.status == CoverStatus.CHOSEN), None)
            if item.decision:
                getattr(form, f"choice_{item.id}").data = str(chosen.id) if chosen else "none"
                getattr(form, f"reason_{item.id}").data = item.decline_reason or ""
        # After a failed opt-out the Retry stays on screen, through a reload too.
        return _render_options(sale, form, retry_opt_out=OPT_OUT_DOWN_MESSAGE if opt_out_pending(sale) else "")
    form = options_form_for(sale, request.form)
    if not form.validate():
        return _render_options(sale, form, 422)
    choices, reasons = read_choices(form, sale)
    try:
        record_choices(sale, _user(), get_client(), choices, reasons, bool(form.acknowledged.data))
    except XCoverDown as exc:
        return _render_options(sale, form, 503, retry_opt_out=exc.message)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        return _render_options(sale, form, 422)
    return _next_screen(sale)


def _render_options(sale: Sale, form: Any, status: int = 200, retry_opt_out: str = "") -> tuple[str, int]:
    """Render screen 2."""
    return render_template(
        "sales/options.html",
        sale=sale,
        form=form,
        groups=lookup.options_by_item(sale),
        retry_opt_out=retry_opt_out,
        title="Cover options",
    ), status


@bp.route("/<int:sale_id>/opt-out", methods=["POST"])
@role_required(*SELLERS)
def opt_out(sale_id: int) -> Response | tuple[str, int]:
    """Retry telling XCover that the customer declined."""
    sale = _load(sale_id)
    if opt_out_pending(sale):
        try:
            send_opt_out(sale, _user(), get_client())
        except XCoverDown as exc:
            flash(exc.message, "error")
            return redirect(url_for("sales.options", sale_id=sale.id))
    return _next_screen(sale)


@bp.route("/<int:sale_id>/payment", methods=["GET", "POST"])
@role_required(*SELLERS)
def payment(sale_id: int) -> Response | tuple[str, int] | str:
    """Screen 3: record the till payment, then book."""
    sale = _load(sale_id)
    if sale.status != SaleStatus.QUOTED or not lookup.chosen_covers(sale):
        return _next_screen(sale)
    total = lookup.cover_total(sale)
    if request.method != "POST":
        form = PaymentForm(
            data={
                "payment_method": sale.payment_method or "card",
                "receipt_number": sale.receipt_number,
                "amount_collected": sale.amount_collected if sale.amount_collected is not None else total,
                "card_last4": sale.card_last4,
            }
        )
        return _render_payment(sale, form, total)
    form = PaymentForm()
    if not form.validate():
        if not form.amount_collected.errors:  # every mistake in one go, the amount's too
            form.apply_errors(booking.amount_errors(sale, form.amount_collected.data))
        return _render_payment(sale, form, total, 422)
    try:
        booking.record_payment(
            sale,
            _user(),
            form.payment_method.data,
            form.receipt_number.data or "",
            form.amount_collected.data,
            form.card_last4.data or "",
        )
    except InvalidTransition:
        return _next_screen(sale)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        return _render_payment(sale, form, total, 422)
    return _book(sale)


def _render_payment(sale: Sale, form: PaymentForm, total: Any, status: int = 200) -> tuple[str, int]:
    """Render screen 3."""
    return render_template(
        "sales/payment.html",
        sale=sale,
        form=form,
        total=total,
        covers=lookup.chosen_covers(sale),
        labels=customer_labels(),
        title="Payment",
    ), status


def _book(sale: Sale) -> Response:
    """Send the booking and show where it stands."""
    try:
        result = booking.book(sale, _user(), get_client())
    except InvalidTransition as exc:
        flash(exc.message, "error")
        return redirect(url_for("sales.payment", sale_id=sale.id))
    if result.sale.status == SaleStatus.QUOTED:
        return redirect(url_for("sales.payment", sale_id=sale.id))
    return redirect(url_for("sales.show", sale_id=sale.id))


@bp.route("/<int:sale_id>/book", methods=["POST"])
@role_required(*SELLERS)
def book(sale_id: int) -> Response:
    """Retry the booking after XCover was down (same idempotency key)."""
    sale = _load(sale_id)
    if sale.status != SaleStatus.QUOTED or sale.payment_recorded_at is None:
        return _next_screen(sale)
    return _book(sale)


@bp.route("/<int:sale_id>/check", methods=["POST"])
@role_required(*SELLERS)
def check(sale_id: int) -> Response:
    """Check again on a booking whose outcome is unknown."""
    sale = _load(sale_id)
    result = booking.reconcile(sale, _user(), get_client(), booking.deadlines(current_app.config))
    if result.sale.status == SaleStatus.OUTCOME_UNKNOWN:
        flash(result.message, "warning")
    if result.sale.status == SaleStatus.QUOTED:  # nothing was booked: Retry waits on Payment
        return _next_screen(sale)
    return redirect(url_for("sales.show", sale_id=sale.id))


@bp.route("/<int:sale_id>/email", methods=["POST"])
@role_required(*SELLERS)
def resend_email(sale_id: int) -> Response:
    """Send the customer's confirmation email again."""
    sale = _load(sale_id)
    try:
        booking.resend_email(sale, _user(), get_client())
        flash(f"Confirmation emailed again to {sale.email}.", "success")
    except SaleError as exc:
        flash(exc.message, "error")
    return redirect(url_for("sales.show", sale_id=sale.id))


@bp.route("/<int:sale_id>")
@role_required(*SELLERS)
def show(sale_id: int) -> Response | str:
    """The sale page: confirmation and proof of cover, or where the sale stands."""
    sale = _load(sale_id)
    if sale.status == SaleStatus.BOOKING:
        # A booking still in flight past the budget is checked; the page reloads every 3 s until it settles.
        booking.reconcile(sale, _user(), get_client(), booking.deadlines(current_app.config))
        if sale.status == SaleStatus.QUOTED:  # it never reached XCover: Retry waits on Payment
            return _next_screen(sale)
    proof_url = sale.coi_url or sale.pds_url
    lookup.load_after_sale(sale)
    return render_template(
        "sales/show.html",
        sale=sale,
        covers=lookup.chosen_covers(sale),
        title=f"Sale {sale.xcover_ref or sale.id}",
        # Sandbox links are root-relative; a phone scanning the code needs the whole address.
        qr=qr_svg(urljoin(request.host_url, proof_url)) if sale.status == SaleStatus.BOOKED and proof_url else None,
        timeline=lookup.timeline(sale),
    )
