"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from . import service, throttle
from .forms import ChangePasswordForm, SignInForm

bp = Blueprint("auth", __name__, url_prefix="/auth")
# What a person signed in with a temporary password may still reach: everything else leads to choosing one.
TEMPORARY_ALLOWS = frozenset({"auth.change_password", "auth.sign_out", "auth.sign_in", "static", "main.healthz"})


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
        form.password.errors.append(service.failed_message())
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


@bp.before_app_request
def temporary_password_gate() -> Response | None:
    """Send a person whose password is temporary to choose their own before anything else."""
    if request.endpoint in TEMPORARY_ALLOWS:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password() -> tuple[str, int] | Response:
    """Change one's own password: the current one, the new one twice; every other session ends."""
    user = current_user._get_current_object()
    form = ChangePasswordForm(username=user.username)
    if form.validate_on_submit():
        try:
            with throttle.password_slot(familiar=True):
                service.change_password(
                    user, form.current_password.data or "", form.new_password.data or "", throttle.client_address()
                )
        except throttle.SignInThrottled as exc:
            form.current_password.errors.append(exc.message)
        except service.PasswordRefused as exc:
            if exc.signed_out:
                logout_user()
                session.clear()
                flash("Too many wrong passwords: you are signed out. Sign in again, or ask your manager.", "error")
                return redirect(url_for("auth.sign_in"))
            form.apply_errors(exc.errors)
        else:
            service.start_session(session)  # this iPad stays signed in; every other session has ended
            flash("Your new password is set. Any other device you were signed in on is signed out.", "success")
            return redirect(url_for("main.home"))
    temporary = user.must_change_password
    html = render_template(
        "auth/change_password.html",
        form=form,
        temporary=temporary,
        title="Choose your password" if temporary else "Change password",
    )
    return html, 422 if form.errors else 200
