"""The customer view's pages: show it from Options, the customer's acknowledgement, and the associate's unlock.

While `session[LOCK]` names a sale, every other page of the portal
redirects here (the screen gate, portal/auth/gate.py).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField

from ..auth import device
from ..i18n import N_, use_customer_locale
from ..models import Sale
from ..security import role_required
from ..vocab import Role
from . import customer_view, lookup
from .machine import InvalidTransition

bp = Blueprint("customer", __name__)
SELLERS = (Role.ASSOCIATE, Role.MANAGER)
LOCK = "customer_view"
FAILURES = "customer_view_failures"


class UnlockForm(FlaskForm):
    """The associate's password or PIN, to hand the portal back from the customer view."""

    secret = PasswordField(N_("Password or PIN"), render_kw={"autocomplete": "current-password", "maxlength": 128})


class AcknowledgeForm(FlaskForm):
    """The customer's one tap (the form carries only its CSRF token)."""


def _user() -> Any:
    """Return the signed-in user object (not the proxy)."""
    return current_user._get_current_object()


@bp.route("/sales/<int:sale_id>/customer-view", methods=["POST"])
@role_required(*SELLERS)
def show_customer(sale_id: int) -> Response:
    """Options' "Show the customer": lock this session to the customer view of the sale."""
    sale = lookup.get_sale(_user(), sale_id)
    if sale is None:
        abort(404)
    if not AcknowledgeForm().validate_on_submit():
        abort(400)
    try:
        customer_view.show(sale, _user())
    except InvalidTransition as exc:
        flash(exc.message, "error")
        return redirect(url_for("sales.options", sale_id=sale.id))
    session[LOCK] = sale.id
    session[FAILURES] = 0
    return redirect(url_for("customer.view"))


def _locked_sale() -> Sale | None:
    """The sale the customer view is showing (None when the session is not locked or the sale is gone)."""
    sale_id = session.get(LOCK)
    return lookup.get_sale(_user(), sale_id) if isinstance(sale_id, int) else None


def _render(unlock: UnlockForm | None = None, status: int = 200) -> tuple[str, int]:
    """Render the customer view in the customer's language."""
    sale = _locked_sale()
    showable = sale is not None and sale.status == "quoted" and bool(customer_view.offered(sale))
    if sale is not None:
        use_customer_locale(sale.language, sale.country)
    return render_template(
        "sales/customer.html",
        sale=sale,
        groups=[(item, [c for c in covers if c.quote_id]) for item, covers in lookup.options_by_item(sale)]
        if showable
        else [],
        acknowledged=customer_view.customer_acknowledgement(sale) if showable else None,
        ack_form=AcknowledgeForm(),
        unlock_form=unlock or UnlockForm(formdata=None),
        locked=LOCK in session,
        title=N_("Your cover options"),
    ), status


@bp.route("/customer-view")
@role_required(*SELLERS)
def view() -> tuple[str, int] | Response:
    """The customer's screen: large type, the options, the disclaimer, the acknowledgement; and the unlock."""
    if LOCK not in session:
        return redirect(url_for("main.home"))
    return _render()


@bp.route("/customer-view/acknowledge", methods=["POST"])
@role_required(*SELLERS)
def acknowledge() -> tuple[str, int] | Response:
    """The customer taps that they have read the key facts, price and disclaimer."""
    sale = _locked_sale()
    if sale is None:
        return redirect(url_for("customer.view"))
    if not AcknowledgeForm().validate_on_submit():
        abort(400)
    with suppress(InvalidTransition):  # the page then says there is nothing to acknowledge now
        customer_view.acknowledge(sale, _user())
    return redirect(url_for("customer.view"))


@bp.route("/customer-view/unlock", methods=["POST"])
@role_required(*SELLERS)
def unlock() -> tuple[str, int] | Response:
    """The associate's password or PIN ends the customer view and goes back to the sale's options."""
    if LOCK not in session:
        return redirect(url_for("main.home"))
    form = UnlockForm()
    if not form.validate_on_submit():
        abort(400)
    sale_id = session.get(LOCK)
    failures = session.get(FAILURES, 0) if isinstance(session.get(FAILURES), int) else 0
    ok, give_up = customer_view.unlock(
        sale_id if isinstance(sale_id, int) else None,
        _user(),
        form.secret.data or "",
        failures,
        device.current_device(),
    )
    if ok:
        session.pop(LOCK, None)
        session.pop(FAILURES, None)
        sale = lookup.get_sale(_user(), sale_id) if isinstance(sale_id, int) else None
        return redirect(url_for("sales.options", sale_id=sale.id) if sale else url_for("main.home"))
    if give_up:
        logout_user()
        session.clear()
        flash(N_("Too many wrong passwords on the customer view: you are signed out. Sign in again."), "error")
        return redirect(url_for("auth.sign_in"))
    session[FAILURES] = failures + 1
    form.secret.errors = [customer_view.WRONG_SECRET]
    form.secret.data = ""
    return _render(form, 422)
