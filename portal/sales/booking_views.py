"""The sale from payment on: the payment, the booking, Check again, the confirmation and its email."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from flask import current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..i18n import N_, gettext
from ..models import Sale
from ..security import role_required
from ..vocab import SaleStatus
from ..xcover import get_client
from . import booking, lookup
from .forms import PaymentForm, customer_labels
from .machine import InvalidTransition, SaleError
from .qr import qr_svg
from .views import SELLERS, acting_user, bp, load_sale, next_screen


@bp.route("/<int:sale_id>/payment", methods=["GET", "POST"])
@role_required(*SELLERS)
def payment(sale_id: int) -> Response | tuple[str, int] | str:
    """Screen 3: record the till payment, then book."""
    sale = load_sale(sale_id)
    if sale.status != SaleStatus.QUOTED or not lookup.chosen_covers(sale):
        return next_screen(sale)
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
            acting_user(),
            form.payment_method.data,
            form.receipt_number.data or "",
            form.amount_collected.data,
            form.card_last4.data or "",
        )
    except InvalidTransition:
        return next_screen(sale)
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
        title=N_("Payment"),
    ), status


def _book(sale: Sale) -> Response:
    """Send the booking and show where it stands."""
    try:
        result = booking.book(sale, acting_user(), get_client())
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
    sale = load_sale(sale_id)
    if sale.status != SaleStatus.QUOTED or sale.payment_recorded_at is None:
        return next_screen(sale)
    return _book(sale)


@bp.route("/<int:sale_id>/check", methods=["POST"])
@role_required(*SELLERS)
def check(sale_id: int) -> Response:
    """Check again on a booking whose outcome is unknown."""
    sale = load_sale(sale_id)
    result = booking.reconcile(sale, acting_user(), get_client(), booking.deadlines(current_app.config))
    if result.sale.status == SaleStatus.OUTCOME_UNKNOWN:
        flash(result.message, "warning")
    if result.sale.status == SaleStatus.QUOTED:  # nothing was booked: Retry waits on Payment
        return next_screen(sale)
    return redirect(url_for("sales.show", sale_id=sale.id))


@bp.route("/<int:sale_id>/email", methods=["POST"])
@role_required(*SELLERS)
def resend_email(sale_id: int) -> Response:
    """Send the customer's confirmation email again."""
    sale = load_sale(sale_id)
    try:
        booking.resend_email(sale, acting_user(), get_client(), request.form.get("csrf_token", ""))
        flash(gettext("Confirmation emailed again to %(email)s.", email=sale.email), "success")
    except SaleError as exc:
        flash(exc.message, "error")
    return redirect(url_for("sales.show", sale_id=sale.id))


@bp.route("/<int:sale_id>")
@role_required(*SELLERS)
def show(sale_id: int) -> Response | str:
    """The sale page: confirmation and proof of cover, or where the sale stands."""
    sale = load_sale(sale_id)
    if sale.status == SaleStatus.BOOKING:
        # A booking still in flight past the budget is checked; the page reloads every 3 s until it settles.
        booking.reconcile(sale, acting_user(), get_client(), booking.deadlines(current_app.config))
        if sale.status == SaleStatus.QUOTED:  # it never reached XCover: Retry waits on Payment
            return next_screen(sale)
    proof_url = sale.coi_url or sale.pds_url
    lookup.load_after_sale(sale)
    return render_template(
        "sales/show.html",
        sale=sale,
        covers=lookup.chosen_covers(sale),
        title=gettext("Sale %(id)s", id=sale.xcover_ref or sale.id),
        # Sandbox links are root-relative; a phone scanning the code needs the whole address.
        qr=qr_svg(urljoin(request.host_url, proof_url)) if sale.status == SaleStatus.BOOKED and proof_url else None,
        timeline=lookup.timeline(sale),
    )
