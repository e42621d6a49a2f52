"""After the sale: returns and their approval, the queue, webhooks (corrections and refunds: correction_views.py)."""

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
from ..i18n import N_
from ..models import Cover, PolicyReturn, Sale, SaleItem
from ..sales import lookup
from ..sales.machine import InvalidTransition, SaleError, XCoverDown
from ..security import role_required
from ..vocab import ReturnStatus, Role
from ..xcover import get_client, verify_webhook
from . import corrections, refunds, return_confirmation, returns, webhooks
from .forms import (
    ApprovalForm,
    ConfirmReturnForm,
    DecisionForm,
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


def acting_user() -> Any:
    """Return the signed-in user object (not the proxy)."""
    return current_user._get_current_object()


def own_sale(sale_id: int) -> Sale:
    """Load a sale of the user's own store, or 404."""
    sale = lookup.get_sale(acting_user(), sale_id)
    if sale is None:
        abort(404)
    return sale


def _return(sale_id: int, return_id: int) -> PolicyReturn:
    """Load a return of a sale of the user's own store, or 404."""
    ret = returns.get_return(own_sale(sale_id), return_id)
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
    sale = own_sale(sale_id)
    covers = returns.returnable_covers(sale)
    if not covers:
        flash(N_("No policy of this sale can be returned now."), "info")
        return redirect(url_for("sales.show", sale_id=sale.id))
    if request.method != "POST":
        form = ReturnForm(covers=covers, data={"covers": [c.id for c in covers]} if len(covers) == 1 else None)
        return _render_new_return(sale, form)
    form = ReturnForm(covers=covers)
    if not form.validate():
        return _render_new_return(sale, form, 422)
    try:
        ret = returns.request_return(sale, acting_user(), get_client(), form.covers.data, form.reason.data)
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
    return render_template(
        "policies/return_new.html", sale=sale, form=form, retry=retry, title=N_("Return cover")
    ), status


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
    user = acting_user()
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
        title=N_("Return"),
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
    return _decide(ret, result.user, form.decision.data == "approve", form, on_session_of=acting_user())


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
    return _decide(ret, acting_user(), form.decision.data == "approve", None)


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
    flash(
        N_("Return approved: give the refund at the till, then confirm.") if approve else N_("Return refused."),
        "success",
    )
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
        message = return_confirmation.confirm(ret, acting_user(), get_client(), form.refund_reference.data or "")
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
    message = return_confirmation.check_again(ret, acting_user(), get_client())
    flash(message, "success" if ret.status == ReturnStatus.CONFIRMED else "warning")
    return _to_return(ret)


@bp.route("/sales/<int:sale_id>/returns/<int:return_id>/again", methods=["POST"])
@role_required(*SELLERS)
def preview_again(sale_id: int, return_id: int) -> Response:
    """Run the refund preview again for an expired or refused return."""
    ret = _return(sale_id, return_id)
    try:
        new = returns.preview_again(ret, acting_user(), get_client())
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
        returns.withdraw(ret, acting_user())
        flash(N_("Return withdrawn: the policies stay in force."), "info")
    except SaleError as exc:
        flash(exc.message, "error")
    return _to_return(ret)


@bp.errorhandler(TooManyRequests)
def throttled(error: TooManyRequests) -> tuple[str, int, dict[str, str]] | TooManyRequests:
    """Answer a throttled approval on the return's own page, saying how long to wait."""
    args = request.view_args or {}
    if request.endpoint != "policies.approve_here" or not current_user.is_authenticated:
        return error
    ret = returns.get_return(own_sale(args["sale_id"]), args["return_id"])
    if ret is None:
        abort(404)
    refusal = error if isinstance(error, throttle.SignInThrottled) else g.get("sign_in_refusal")
    if refusal is None:
        refusal = throttle.SignInThrottled(throttle.throttled_message(60), 60)
    form = ApprovalForm(formdata=None)
    form.password.errors = [refusal.message]
    html, _ = _render_return(ret, approval=form)
    return html, 429, {"Retry-After": str(refusal.retry_after)}


@bp.route("/returns/")
@role_required(Role.MANAGER)
def queue() -> str:
    """The manager's approval queue: this store's returns not yet finished."""
    user = acting_user()
    waiting = returns.open_returns(user.store_id)
    return render_template(
        "policies/queue.html",
        returns=waiting,
        mine={r.id for r in waiting if returns.may_approve(r, user) is not None},
        decision=DecisionForm(formdata=None),
        title=N_("Returns"),
    )


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
