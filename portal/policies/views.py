"""After the sale: returns and their approval, corrections, refunds of failed bookings, the approval queue, webhooks."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from ..auth import service as auth_service
from ..auth import throttle
from ..extensions import csrf
from ..models import Cover, PolicyReturn, Sale, SaleItem
from ..sales import lookup
from ..sales.machine import InvalidTransition, SaleError, XCoverDown, XCoverRejected
from ..security import role_required
from ..vocab import ReturnStatus, Role
from ..xcover import get_client, verify_webhook
from . import corrections, refunds, returns, webhooks
from .forms import (
    ApprovalForm,
    ConfirmCorrectionForm,
    ConfirmReturnForm,
    CorrectionForm,
    DecisionForm,
    RefundForm,
    ReturnForm,
)

bp = Blueprint("policies", __name__)
hooks = Blueprint("webhooks", __name__)
log = logging.getLogger("portal.webhooks")

SELLERS = (Role.ASSOCIATE, Role.MANAGER)


@dataclass(frozen=True)
class AfterSale:
    """What the sale page offers after the sale."""

    returnable: list[Cover]
    correctable: list[SaleItem]
    refund_due: Decimal | None


@bp.app_context_processor
def after_sale_helpers() -> dict[str, Any]:
    """Give templates the after-sale summary of a sale."""

    def after_sale(sale: Sale) -> AfterSale:
        return AfterSale(
            returns.returnable_covers(sale),
            corrections.correctable_items(sale),
            refunds.refund_due(sale) if refunds.needs_refund(sale) else None,
        )

    return {"after_sale": after_sale}


def _user() -> Any:
    """Return the signed-in user object (not the proxy)."""
    return current_user._get_current_object()


def _sale(sale_id: int) -> Sale:
    """Load a sale of the user's own store, or 404."""
    sale = lookup.get_sale(_user(), sale_id)
    if sale is None:
        abort(404)
    return sale


def _return(sale_id: int, return_id: int) -> PolicyReturn:
    """Load a return of a sale of the user's own store, or 404."""
    ret = returns.get_return(_sale(sale_id), return_id)
    if ret is None:
        abort(404)
    return ret


def _to_return(ret: PolicyReturn) -> Response:
    """Go to a return's page."""
    return redirect(url_for("policies.show_return", sale_id=ret.sale_id, return_id=ret.id))


# ---- returns ------------------------------------------------------------------------------------


@bp.route("/sales/<int:sale_id>/returns/new", methods=["GET", "POST"])
@role_required(*SELLERS)
def new_return(sale_id: int) -> Response | tuple[str, int] | str:
    """Choose the policies the customer is returning; XCover previews the refund."""
    sale = _sale(sale_id)
    covers = returns.returnable_covers(sale)
    if not covers:
        flash("No policy of this sale can be returned now.", "info")
        return redirect(url_for("sales.show", sale_id=sale.id))
    if request.method != "POST":
        form = ReturnForm(covers=covers, data={"covers": [c.id for c in covers]} if len(covers) == 1 else None)
        return _render_new_return(sale, form)
    form = ReturnForm(covers=covers)
    if not form.validate():
        return _render_new_return(sale, form, 422)
    try:
        ret = returns.request_return(sale, _user(), get_client(), form.covers.data, form.reason.data)
    except XCoverDown as exc:
        return _render_new_return(sale, form, 503, retry=exc.message)
    except InvalidTransition as exc:
        flash(exc.message, "error")
        return redirect(url_for("sales.show", sale_id=sale.id))
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        if not exc.field_errors:
            form.form_errors.append(exc.message)
        return _render_new_return(sale, form, 422)
    return _to_return(ret)


def _render_new_return(sale: Sale, form: ReturnForm, status: int = 200, retry: str = "") -> tuple[str, int]:
    """Render the choice of policies to return."""
    return render_template("policies/return_new.html", sale=sale, form=form, retry=retry, title="Return cover"), status


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>")
@role_required(*SELLERS)
def show_return(sale_id: int, return_id: int) -> tuple[str, int]:
    """A return: XCover's refund per policy and in total, the cooling-off period, and the next step."""
    return _render_return(_return(sale_id, return_id))


def _render_return(
    ret: PolicyReturn,
    status: int = 200,
    approval: ApprovalForm | None = None,
    confirm: ConfirmReturnForm | None = None,
    message: str = "",
) -> tuple[str, int]:
    """Render a return's page with its forms."""
    user = _user()
    return render_template(
        "policies/return_show.html",
        ret=ret,
        sale=ret.sale,
        approval=approval or ApprovalForm(formdata=None),
        decision=DecisionForm(formdata=None),
        confirm=confirm or ConfirmReturnForm(formdata=None),
        may_decide=returns.may_approve(ret, user) is None,
        expired=ret.status in (ReturnStatus.PREVIEWED, ReturnStatus.APPROVED) and ret.expired(),
        message=message,
        title="Return",
    ), status


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/approve-here", methods=["POST"])
@role_required(*SELLERS)
@throttle.sign_in_limit(throttle.refused_password)
def approve_here(sale_id: int, return_id: int) -> Response | tuple[str, int]:
    """A manager signs for this one decision on this iPad; whose iPad session it is does not change."""
    ret = _return(sale_id, return_id)
    form = ApprovalForm()
    if not form.validate():
        form.password.data = ""
        return _render_return(ret, 422, approval=form)
    username, client = form.username.data or "", throttle.client_address()
    with throttle.password_slot(familiar=auth_service.is_familiar(username, client)):
        result = auth_service.authenticate(username, form.password.data or "", client, purpose=auth_service.APPROVAL)
    form.password.data = ""
    if not result.ok or result.user is None:
        throttle.password_refused()
        form.password.errors.append(auth_service.failed_message())
        return _render_return(ret, 422, approval=form)
    return _decide(ret, result.user, form.decision.data == "approve", form, on_session_of=_user())


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/decide", methods=["POST"])
@role_required(*SELLERS)
def decide(sale_id: int, return_id: int) -> Response | tuple[str, int]:
    """A signed-in manager approves or refuses (from the return's page or the approval queue)."""
    ret = _return(sale_id, return_id)
    if current_user.role != Role.MANAGER:
        abort(403)
    form = DecisionForm()
    if not form.validate():
        return _render_return(ret, 422)
    return _decide(ret, _user(), form.decision.data == "approve", None)


def _decide(ret: PolicyReturn, approver: Any, approve: bool, form: ApprovalForm | None, **kw: Any) -> Any:
    """Record the decision and show where the return stands."""
    try:
        returns.decide(ret, approver, approve, **kw)
    except returns.ApprovalDenied as exc:
        if form is None:
            abort(403)
        form.username.errors.append(exc.message)
        return _render_return(ret, 422, approval=form)
    except SaleError as exc:
        flash(exc.message, "error")
        return _to_return(ret)
    flash("Return approved: give the refund at the till, then confirm." if approve else "Return refused.", "success")
    if request.form.get("from") == "queue":
        return redirect(url_for("policies.queue"))
    return _to_return(ret)


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/confirm", methods=["POST"])
@role_required(*SELLERS)
def confirm_return(sale_id: int, return_id: int) -> Response | tuple[str, int]:
    """Record the till's refund reference and confirm the cancellation with XCover."""
    ret = _return(sale_id, return_id)
    form = ConfirmReturnForm()
    if not form.validate():
        return _render_return(ret, 422, confirm=form)
    try:
        message = returns.confirm(ret, _user(), get_client(), form.refund_reference.data or "")
    except SaleError as exc:
        form.apply_errors(exc.field_errors)
        if exc.field_errors:
            return _render_return(ret, 422, confirm=form)
        flash(exc.message, "error")
        return _to_return(ret)
    flash(message, "success" if ret.status == ReturnStatus.CONFIRMED else "warning")
    return _to_return(ret)


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/check", methods=["POST"])
@role_required(*SELLERS)
def check_return(sale_id: int, return_id: int) -> Response:
    """Ask XCover again about a confirmation whose answer did not arrive."""
    ret = _return(sale_id, return_id)
    message = returns.check_again(ret, _user(), get_client())
    flash(message, "success" if ret.status == ReturnStatus.CONFIRMED else "warning")
    return _to_return(ret)


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/again", methods=["POST"])
@role_required(*SELLERS)
def preview_again(sale_id: int, return_id: int) -> Response:
    """Run the refund preview again for an expired or refused return."""
    ret = _return(sale_id, return_id)
    try:
        new = returns.preview_again(ret, _user(), get_client())
    except SaleError as exc:
        flash(exc.message, "error")
        return _to_return(ret)
    return _to_return(new)


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/withdraw", methods=["POST"])
@role_required(*SELLERS)
def withdraw_return(sale_id: int, return_id: int) -> Response:
    """Drop a return that was not confirmed; the policies stay in force."""
    ret = _return(sale_id, return_id)
    try:
        returns.withdraw(ret, _user())
        flash("Return withdrawn: the policies stay in force.", "info")
    except SaleError as exc:
        flash(exc.message, "error")
    return _to_return(ret)


@bp.errorhandler(TooManyRequests)
def throttled(error: TooManyRequests) -> tuple[str, int, dict[str, str]] | TooManyRequests:
    """Answer a throttled approval on the return's own page, saying how long to wait."""
    args = request.view_args or {}
    if request.endpoint != "policies.approve_here" or not current_user.is_authenticated:
        return error
    ret = returns.get_return(_sale(args["sale_id"]), args["return_id"])
    if ret is None:
        abort(404)
    refusal = error if isinstance(error, throttle.SignInThrottled) else g.get("sign_in_refusal")
    if refusal is None:
        refusal = throttle.SignInThrottled(throttle.THROTTLED_MESSAGE.format(wait="a minute"), 60)
    form = ApprovalForm(formdata=None)
    form.password.errors = [refusal.message]
    html, _ = _render_return(ret, approval=form)
    return html, 429, {"Retry-After": str(refusal.retry_after)}


@bp.route("/returns/")
@role_required(Role.MANAGER)
def queue() -> str:
    """The manager's approval queue: this store's returns not yet finished."""
    user = _user()
    waiting = returns.open_returns(user.store_id)
    return render_template(
        "policies/queue.html",
        returns=waiting,
        mine={r.id for r in waiting if returns.may_approve(r, user) is not None},
        decision=DecisionForm(formdata=None),
        title="Returns",
    )


# ---- corrections --------------------------------------------------------------------------------


@bp.route("/sales/<int:sale_id>/items/<int:item_id>/correct", methods=["GET", "POST"])
@role_required(*SELLERS)
def new_correction(sale_id: int, item_id: int) -> Response | tuple[str, int]:
    """Correct a booked product's serial number or other details; XCover prices the change first."""
    sale = _sale(sale_id)
    item = next((i for i in corrections.correctable_items(sale) if i.id == item_id), None)
    if item is None:
        abort(404)
    if request.method != "POST":
        return _render_new_correction(sale, item, CorrectionForm.for_item(item))
    form = CorrectionForm()
    if not form.validate():
        return _render_new_correction(sale, item, form, 422)
    try:
        correction = corrections.quote_correction(sale, item, _user(), get_client(), form.values())
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
        "policies/correction_new.html", sale=sale, item=item, form=form, retry=retry, title="Correct details"
    ), status


def _correction(sale_id: int, correction_id: int) -> Any:
    """Load a correction of a sale of the user's own store, or 404."""
    correction = corrections.get_correction(_sale(sale_id), correction_id)
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
        title="Correction",
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
        message = corrections.confirm_correction(correction, _user(), get_client(), form.till_reference.data or "")
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
    flash(corrections.check_again(correction, _user(), get_client()), "info")
    return _to_correction(correction)


@bp.route("/sales/<int:sale_id>/corrections/<int:correction_id>/discard", methods=["POST"])
@role_required(*SELLERS)
def discard_correction(sale_id: int, correction_id: int) -> Response:
    """Drop a priced correction that was not applied."""
    correction = _correction(sale_id, correction_id)
    try:
        corrections.discard(correction, _user())
        flash("Correction discarded: nothing was changed.", "info")
    except SaleError as exc:
        flash(exc.message, "error")
    return redirect(url_for("sales.show", sale_id=correction.sale_id))


# ---- refunds of failed bookings --------------------------------------------------------------------


@bp.route("/sales/<int:sale_id>/refund", methods=["GET", "POST"])
@role_required(*SELLERS)
def refund_failed(sale_id: int) -> Response | tuple[str, int]:
    """Record the till's refund of cover the customer paid for and XCover did not book."""
    sale = _sale(sale_id)
    if not refunds.needs_refund(sale):
        return redirect(url_for("sales.show", sale_id=sale.id))
    form = RefundForm() if request.method == "POST" else RefundForm(formdata=None)
    if request.method == "POST" and form.validate():
        try:
            refunds.record_refund(sale, _user(), form.refund_reference.data or "")
        except SaleError as exc:
            form.apply_errors(exc.field_errors)
            flash(exc.message, "error")
        else:
            flash("Refund recorded.", "success")
            return redirect(url_for("sales.show", sale_id=sale.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "policies/refund.html", sale=sale, form=form, due=refunds.refund_due(sale), title="Refund"
    ), status


# ---- XCover's webhooks ----------------------------------------------------------------------------


@hooks.route("/webhooks/xcover", methods=["POST"])
@csrf.exempt  # the portal's one form-less route: XCover signs it instead (reference section 11)
def xcover() -> tuple[dict[str, str], int]:
    """Take a signed webhook from XCover; 2xx for anything signed, so XCover does not retry what we cannot use."""
    config = current_app.config
    key, secret = config["XCOVER_WEBHOOK_KEY"], config["XCOVER_WEBHOOK_SECRET"]
    if not key or not secret:
        log.warning("xcover webhook refused: XCOVER_WEBHOOK_KEY and XCOVER_WEBHOOK_SECRET are not set")
        return {"error": "webhooks are not configured"}, 401
    if not verify_webhook(request.headers, key, secret, max_skew=config["XCOVER_WEBHOOK_MAX_SKEW"], path=request.path):
        reason = "no signature" if "Authorization" not in request.headers else "bad signature"
        log.warning("xcover webhook refused: %s", reason)
        return {"error": "signature missing or invalid"}, 401
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        log.warning("xcover webhook refused: the body is not an event")
        return {"error": "expected {event, payload}"}, 400
    outcome = webhooks.handle(body["event"], body.get("payload"))
    ref = body.get("payload", {}).get("id") if isinstance(body.get("payload"), dict) else None
    log.info(
        "xcover webhook %s %s: %s",
        body["event"][:40],
        str(ref)[:40],
        outcome.note,
        extra={"webhook": {"event": body["event"][:40], "xcover_ref": str(ref)[:40], "sale_id": outcome.sale_id}},
    )
    return {"status": outcome.note}, 200
