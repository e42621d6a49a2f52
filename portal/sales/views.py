"""The sale at the counter: products and customer, options, payment, confirmation."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..i18n import N_
from ..models import Sale, Store
from ..security import CAMERA_PERMISSIONS, role_required
from ..sensitive import find_card_number, new_key
from ..urls import MAX_INT32, bounded_int
from ..vocab import CoverStatus, Role, SaleStatus
from ..xcover import get_client
from . import catalogue, lookup, quoting
from .customer_view import customer_acknowledgement, offered
from .forms import (
    CARD_MESSAGE,
    SaleForm,
    options_form_for,
    read_choices,
    refuse_card_numbers,
    sale_form_data,
    without_row,
)
from .machine import InvalidTransition, SaleError, XCoverDown, XCoverRejected
from .options import OPT_OUT_DOWN_MESSAGE, mark_options_shown, opt_out_pending, record_choices, send_opt_out
from .quoting import AlreadySubmitted

bp = Blueprint("sales", __name__, url_prefix="/sales")
SELLERS = (Role.ASSOCIATE, Role.MANAGER)
# A rendered page: body and status, and the headers screen 1 adds (the camera allowed for Scan).
Page = tuple[str, int] | tuple[str, int, dict[str, str]]


@bp.app_template_filter("category_label")
def category_label(key: str) -> str:
    """Return a product category's label."""
    return catalogue.category_label(key)


def acting_user() -> Any:
    """Return the signed-in user object (not the proxy)."""
    return current_user._get_current_object()


def load_sale(sale_id: int) -> Sale:
    """Load a sale of the associate's own store, or 404."""
    sale = lookup.get_sale(acting_user(), sale_id)
    if sale is None:
        abort(404)
    return sale


def next_screen(sale: Sale) -> Response:
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
            "submission": new_key(),  # the one-time token of a new-sale form
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


def _render_products(form: SaleForm, sale: Sale | None = None, status: int = 200) -> tuple[str, int, dict[str, str]]:
    """Render screen 1 (the one screen allowed the camera, for Scan)."""
    html = render_template(
        "sales/products.html",
        form=form,
        sale=sale,
        title=N_("New sale") if sale is None else N_("Sale"),
        defaults=quoting.defaults_for(current_user.store),
    )
    return html, status, {"Permissions-Policy": CAMERA_PERMISSIONS}


def _save_and_quote(form: SaleForm, sale: Sale | None) -> Response | Page:
    """Store what was typed, then ask XCover for the options."""
    submission = form.submission.data if sale is None else None
    try:
        sale = quoting.save_draft(acting_user(), form.customer(), form.products(), sale, submission=submission)
    except AlreadySubmitted as exc:
        flash(exc.message, "info")
        return next_screen(exc.sale)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        flash(exc.message, "error")
        return _render_products(form, sale, 422)
    if sale.status != SaleStatus.DRAFT:
        return next_screen(sale)
    return _quote(sale, form)


def _quote(sale: Sale, form: SaleForm | None = None) -> Response | Page:
    """Request the quote for a stored draft and go on to the options."""
    try:
        quoting.request_quote(sale, acting_user(), get_client())
    except XCoverRejected as exc:
        form = form or SaleForm(store=sale.store, data=sale_form_data(sale))
        form.apply_errors(exc.field_errors)
        flash(exc.message, "error")
        return _render_products(form, sale, 422)
    except XCoverDown as exc:
        quoting.note_error(sale, exc.message)
        return redirect(url_for("sales.edit", sale_id=sale.id))
    except InvalidTransition:  # another tap quoted it meanwhile: go where the sale now stands
        return next_screen(sale)
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
        title=N_("Sales"),
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(*SELLERS)
def new() -> Response | Page | str:
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
def edit(sale_id: int) -> Response | Page | str:
    """Screen 1 for a stored sale: fix what XCover refused, or retry the quote."""
    sale = load_sale(sale_id)
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
def quote(sale_id: int) -> Response | Page:
    """Retry the quote from the stored draft."""
    sale = load_sale(sale_id)
    if sale.status != SaleStatus.DRAFT:
        return next_screen(sale)
    return _quote(sale)


@bp.route("/<int:sale_id>/options", methods=["GET", "POST"])
@role_required(*SELLERS)
def options(sale_id: int) -> Response | tuple[str, int] | str:
    """Screen 2: each product's cover options, Add or No thanks, and the acknowledgement."""
    sale = load_sale(sale_id)
    if sale.status != SaleStatus.QUOTED:
        return next_screen(sale)
    if request.method != "POST":
        mark_options_shown(sale, acting_user())
        form = options_form_for(sale)
        ack = customer_acknowledgement(sale)
        form.acknowledged.data = ack is not None
        for item, covers in lookup.options_by_item(sale):
            chosen = next((c for c in covers if c.status == CoverStatus.CHOSEN), None)
            if item.decision:
                getattr(form, f"choice_{item.id}").data = str(chosen.id) if chosen else "none"
                getattr(form, f"reason_{item.id}").data = item.decline_reason or ""
        # After a failed opt-out the Retry stays on screen, through a reload too.
        retry = OPT_OUT_DOWN_MESSAGE if opt_out_pending(sale) else ""
        return _render_options(sale, form, retry_opt_out=retry, customer_ack=ack)
    form = options_form_for(sale, request.form)
    if not form.validate():
        return _render_options(sale, form, 422)
    choices, reasons = read_choices(form, sale)
    try:
        by_customer = customer_acknowledgement(sale) is not None
        record_choices(sale, acting_user(), get_client(), choices, reasons, bool(form.acknowledged.data), by_customer)
    except XCoverDown as exc:
        return _render_options(sale, form, 503, retry_opt_out=exc.message)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        return _render_options(sale, form, 422)
    return next_screen(sale)


def _render_options(
    sale: Sale, form: Any, status: int = 200, retry_opt_out: str = "", customer_ack: Any = False
) -> tuple[str, int]:
    """Render screen 2 (customer_ack: the customer's acknowledgement when the caller has already looked it up)."""
    return render_template(
        "sales/options.html",
        sale=sale,
        form=form,
        groups=lookup.options_by_item(sale),
        retry_opt_out=retry_opt_out,
        customer_ack=customer_acknowledgement(sale) if customer_ack is False else customer_ack,
        can_show=bool(offered(sale)),
        title=N_("Cover options"),
    ), status


@bp.route("/<int:sale_id>/opt-out", methods=["POST"])
@role_required(*SELLERS)
def opt_out(sale_id: int) -> Response | tuple[str, int]:
    """Retry telling XCover that the customer declined."""
    sale = load_sale(sale_id)
    if opt_out_pending(sale):
        try:
            send_opt_out(sale, acting_user(), get_client())
        except XCoverDown as exc:
            flash(exc.message, "error")
            return redirect(url_for("sales.options", sale_id=sale.id))
    return next_screen(sale)
