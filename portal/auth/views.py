"""Sign-in and sign-out pages."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from . import service
from .forms import SignInForm

bp = Blueprint("auth", __name__, url_prefix="/auth")

FAILED_MESSAGE = "Those details did not match. After 10 failed tries an account is locked for 5 minutes."


def _safe_next(target: str | None) -> str:
    """Return a local path to continue to, never another site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("main.home")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> str | Response:
    """Show the sign-in form and sign a person in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    if form.validate_on_submit():
        result = service.authenticate(form.username.data or "", form.password.data or "")
        if result.ok and result.user is not None:
            session.clear()
            login_user(result.user)
            service.start_session(session)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(FAILED_MESSAGE)
        form.password.data = ""
    return render_template("auth/sign_in.html", form=form, title="Sign in")


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    """Sign out: this cookie, and any copy of it, stops working."""
    service.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
