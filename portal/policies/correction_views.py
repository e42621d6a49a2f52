"""After the sale, on the policies blueprint: corrections of a booked item's details, refunds of failed bookings."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from ..i18n import N_
from ..models import Sale, SaleItem
from ..sales.machine import SaleError, XCoverDown, XCoverRejected
from ..security import role_required
from ..xcover import get_client
from . import corrections, refunds
from .forms import ConfirmCorrectionForm, CorrectionForm, RefundForm
from .views import SELLERS, acting_user, bp, own_sale

# ---- corrections --------------------------------------------------------------------------------


@bp.route("/sales/<int:sale_id>/items/<int:item_id>/correct", methods=["GET", "POST"])
@role_required(*SELLERS)
def new_correction(sale_id: int, item_id: int) -> Response | tuple[str, int]:
    """Correct a booked product's serial number or other details; XCover prices the change first."""
    sale = own_sale(sale_id)
    item = next((i for i in corrections.correctable_items(sale) if i.id == item_id), None)
    if item is None:
        abort(404)
    if request.method != "POST":
        return _render_new_correction(sale, item, CorrectionForm.for_item(item))
    form = CorrectionForm()
    if not form.validate():
        return _render_new_correction(sale, item, form, 422)
    try:
        correction = corrections.quote_correction(sale, item, acting_user(), get_client(), form.values())
    except XCoverRejected as exc:
        form.apply_errors(exc.field_errors)
        form.form_errors.append(exc.message)
        return _render_new_correction(sale, item, form, 422)
    except XCoverDown as exc:
        return _render_new_correction(sale, item, form, 503, retry=exc.message)
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        form.form_errors.append(exc.message)
        return _render_new_correction(sale, item, form, 422)
    return redirect(url_for("policies.show_correction", sale_id=sale.id, correction_id=correction.id))


def _render_new_correction(
    sale: Sale, item: SaleItem, form: CorrectionForm, status: int = 200, retry: str = ""
) -> tuple[str, int]:
    """Render the correction form."""
    return render_template(
        "policies/correction_new.html", sale=sale, item=item, form=form, retry=retry, title=N_("Correct details")
    ), status


def _correction(sale_id: int, correction_id: int) -> Any:
    """Load a correction of a sale of the user's own store, or 404."""
    correction = corrections.get_correction(own_sale(sale_id), correction_id)
    if correction is None:
        abort(404)
    return correction


@bp.route("/sales/<int:sale_id>/corrections/<int:correction_id>")
@role_required(*SELLERS)
def show_correction(sale_id: int, correction_id: int) -> tuple[str, int]:
    """A correction: what changes, XCover's price difference, and Apply."""
    return _render_correction(_correction(sale_id, correction_id))


def _render_correction(
    correction: Any, status: int = 200, form: ConfirmCorrectionForm | None = None
) -> tuple[str, int]:
    """Render a correction's page."""
    return render_template(
        "policies/correction_show.html",
        correction=correction,
        sale=correction.sale,
        form=form or ConfirmCorrectionForm(formdata=None),
        labels={name: CorrectionForm.__dict__[name].args[0] for name in corrections.FIELDS},
        title=N_("Correction"),
    ), status


def _to_correction(correction: Any) -> Response:
    """Go to a correction's page."""
    return redirect(url_for("policies.show_correction", sale_id=correction.sale_id, correction_id=correction.id))


@bp.route("/sales/<int:sale_id>/corrections/<int:correction_id>/confirm", methods=["POST"])
@role_required(*SELLERS)
def confirm_correction(sale_id: int, correction_id: int) -> Response | tuple[str, int]:
    """Apply the priced correction at XCover."""
    correction = _correction(sale_id, correction_id)
    form = ConfirmCorrectionForm()
    if not form.validate():
        return _render_correction(correction, 422, form)
    try:
        message = corrections.confirm_correction(
            correction, acting_user(), get_client(), form.till_reference.data or ""
        )
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        if exc.field_errors:
            return _render_correction(correction, 422, form)
        flash(exc.message, "error")
        return _to_correction(correction)
    flash(message, "success" if correction.status == "confirmed" else "warning")
    return _to_correction(correction)


@bp.route("/sales/<int:sale_id>/corrections/<int:correction_id>/check", methods=["POST"])
@role_required(*SELLERS)
def check_correction(sale_id: int, correction_id: int) -> Response:
    """Ask XCover again about a correction whose answer did not arrive."""
    correction = _correction(sale_id, correction_id)
    flash(corrections.check_again(correction, acting_user(), get_client()), "info")
    return _to_correction(correction)


@bp.route("/sales/<int:sale_id>/corrections/<int:correction_id>/discard", methods=["POST"])
@role_required(*SELLERS)
def discard_correction(sale_id: int, correction_id: int) -> Response:
    """Drop a priced correction that was not applied."""
    correction = _correction(sale_id, correction_id)
    try:
        corrections.discard(correction, acting_user())
        flash(N_("Correction discarded: nothing was changed."), "info")
    except SaleError as exc:
        flash(exc.message, "error")
    return redirect(url_for("sales.show", sale_id=correction.sale_id))


# ---- refunds of failed bookings --------------------------------------------------------------------


@bp.route("/sales/<int:sale_id>/refund", methods=["GET", "POST"])
@role_required(*SELLERS)
def refund_failed(sale_id: int) -> Response | tuple[str, int]:
    """Record the till's refund of cover the customer paid for and XCover did not book."""
    sale = own_sale(sale_id)
    if not refunds.needs_refund(sale):
        return redirect(url_for("sales.show", sale_id=sale.id))
    form = RefundForm() if request.method == "POST" else RefundForm(formdata=None)
    if request.method == "POST" and form.validate():
        try:
            refunds.record_refund(sale, acting_user(), form.refund_reference.data or "")
        except SaleError as exc:
            form.apply_errors(exc.field_errors)
            flash(exc.message, "error")
        else:
            flash(N_("Refund recorded."), "success")
            return redirect(url_for("sales.show", sale_id=sale.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "policies/refund.html", sale=sale, form=form, due=refunds.refund_due(sale), title=N_("Refund")
    ), status
