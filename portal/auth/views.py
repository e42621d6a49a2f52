"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from . import service, throttle
from .forms import SignInForm

bp = Blueprint("auth", __name__, url_prefix="/auth")

FAILED_MESSAGE = "Those details did not match. After 10 failed tries an account is locked for 5 minutes."


def _safe_next(target: str | None) -> str:
    """Return a local path to continue to, never another site nor anything a header cannot carry."""
    if target and target.isprintable():
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("main.home")


@bp.route("/sign-in", methods=["GET", "POST"])
@throttle.sign_in_limit()
def sign_in() -> str | Response:
    """Show the sign-in form and sign a person in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    form = SignInForm()
    if form.validate_on_submit():
        username, client = form.username.data or "", throttle.client_address()
        with throttle.password_slot(familiar=service.is_familiar(username, client)):
            result = service.authenticate(username, form.password.data or "", client)
        if result.ok and result.user is not None:
            session.clear()
            login_user(result.user)
            service.start_session(session)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append(FAILED_MESSAGE)
        form.password.data = ""
    return render_template("auth/sign_in.html", form=form, title="Sign in")


@bp.errorhandler(TooManyRequests)
def throttled(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    """Answer a throttled sign-in on the sign-in page itself, saying how long to wait."""
    refusal = error if isinstance(error, throttle.SignInThrottled) else g.get("sign_in_refusal")
    if refusal is None:
        refusal = throttle.SignInThrottled(throttle.THROTTLED_MESSAGE.format(wait="a minute"), 60)
    form = SignInForm()
    form.password.data = ""
    form.password.errors = [refusal.message]
    html = render_template("auth/sign_in.html", form=form, title="Sign in")
    return html, 429, {"Retry-After": str(refusal.retry_after)}


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    """Sign out: this cookie, and any copy of it, stops working."""
    service.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
