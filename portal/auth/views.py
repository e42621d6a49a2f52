"""Sign-in and sign-out pages."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from ..i18n import N_, gettext, ngettext
from ..models import User
from ..sales.customer_views import LOCK as CUSTOMER_VIEW
from ..security import role_required
from ..vocab import Role
from . import device, pins, service, throttle
from .forms import ChangePasswordForm, PinForm, SignInForm, UnlockForm

bp = Blueprint("auth", __name__, url_prefix="/auth")
# Quick switch is for store staff; head office has no store's names screen.
STORE_STAFF = (Role.ASSOCIATE, Role.MANAGER)
# Session keys: the lock ({"store": id, "by": user id}) and where each person was when the iPad locked.
LOCKED = "locked"
RESUME = "resume"
RESUME_KEPT = 8


def _local(target: str | None) -> str | None:
    """Return the target when it is a local path (never another site nor anything a header cannot carry), else None."""
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
    return None


def _safe_next(target: str | None) -> str:
    """Return a local path to continue to, else the home screen."""
    return _local(target) or url_for("main.home")


def _signed_in_here(user: User, target: str) -> Response:
    """Go on after a password sign-in (or change) on this browser: remember it as a device the person signed in on."""
    device_id = device.device_for_sign_in()
    pins.note_full_sign_in(user, device_id)
    return device.remember(redirect(target), device_id)


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
            places = session.get(RESUME)  # where people who locked this iPad were: kept for their PIN's return
            session.clear()
            login_user(result.user)
            service.start_session(session)
            if isinstance(places, dict) and places:
                session[RESUME] = places
            return _signed_in_here(result.user, _safe_next(request.args.get("next")))
        form.password.errors.append(service.failed_message())
        form.password.data = ""
    return render_template("auth/sign_in.html", form=form, title=N_("Sign in"), quick_switch=_quick_switch_offered())


def _quick_switch_offered() -> bool:
    """Tell whether this browser is locked, or anyone could unlock it with a PIN (the sign-in page links the names)."""
    if session.get(LOCKED) is not None:
        return True
    device_id = device.current_device()
    return bool(device_id and pins.quick_switch_people(device_id, pins.device_store(device_id)))


@bp.errorhandler(TooManyRequests)
def throttled(error: TooManyRequests) -> tuple[str, int, dict[str, str]]:
    """Answer a throttled sign-in on the sign-in page itself, saying how long to wait."""
    refusal = error if isinstance(error, throttle.SignInThrottled) else g.get("sign_in_refusal")
    if refusal is None:
        refusal = throttle.SignInThrottled(throttle.throttled_message(60), 60)
    form = SignInForm()
    form.password.data = ""
    form.password.errors = [refusal.message]
    html = render_template("auth/sign_in.html", form=form, title=N_("Sign in"))
    return html, 429, {"Retry-After": str(refusal.retry_after)}


@bp.route("/sign-out", methods=["POST"])
@login_required
def sign_out() -> Response:
    """Sign out: this cookie, and any copy of it, stops working."""
    service.sign_out(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(N_("You are signed out."), "info")
    return redirect(url_for("auth.sign_in"))


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
                flash(N_("Too many wrong passwords: you are signed out. Sign in again, or ask your manager."), "error")
                return redirect(url_for("auth.sign_in"))
            form.apply_errors(exc.errors)
        else:
            service.start_session(session)  # this iPad stays signed in; every other session has ended
            flash(N_("Your new password is set. Any other device you were signed in on is signed out."), "success")
            return _signed_in_here(user, url_for("main.home"))
    temporary = user.must_change_password
    html = render_template(
        "auth/change_password.html",
        form=form,
        temporary=temporary,
        title=N_("Choose your password") if temporary else N_("Change password"),
    )
    return html, 422 if form.errors else 200


# --- Quick switch on a shared iPad (docs/quick-switch.md) -----------------------------------------------------------


def lock_if_idle() -> Response | None:
    """Lock a session left idle whose person can come back with a PIN (the screen gate's last check, gate.py)."""
    # The activity before this request: loading the user has already noted this one.
    if not pins.idle_too_long(g.get("seen_before", session.get("seen_at"))):
        return None
    user = current_user._get_current_object()
    device_id = device.current_device()
    if not pins.may_use_pin(user, device_id):
        return None  # without a PIN to come back with, the longer IDLE_TIMEOUT_MINUTES applies instead
    # The path only: a query string may hold what was typed into a search (never kept in the readable cookie).
    return _lock(user, device_id, "idle", request.path if request.method == "GET" else None)


def _lock(user: User, device_id: str | None, reason: str, resume: str | None) -> Response:
    """End the person's session on this browser and leave it on the names screen, remembering where they were."""
    pins.lock_device(user, device_id, reason)
    kept = session.get(RESUME)
    places = {k: v for k, v in kept.items() if isinstance(v, str)} if isinstance(kept, dict) else {}
    places.pop(str(user.id), None)
    if _local(resume):
        places[str(user.id)] = urlsplit(resume).path  # never a query: it may hold what was typed into a search
    logout_user()
    session.clear()
    session[LOCKED] = {"store": user.store_id, "by": user.id}
    session[RESUME] = dict(list(places.items())[-RESUME_KEPT:])
    return redirect(url_for("auth.locked"))


def _lock_state() -> dict[str, Any]:
    """The lock this session holds ({} when it holds none)."""
    state = session.get(LOCKED)
    return state if isinstance(state, dict) else {}


def _locked_store(device_id: str | None) -> int | None:
    """The store whose names a locked screen shows: the one locked here, else the device's latest."""
    store_id = _lock_state().get("store")
    return store_id if isinstance(store_id, int) else pins.device_store(device_id)


@bp.route("/lock", methods=["POST"])
@role_required(*STORE_STAFF)
def lock() -> Response:
    """Lock this iPad now: the session ends here and the names screen shows."""
    return _lock(current_user._get_current_object(), device.current_device(), "button", request.form.get("next"))


@bp.route("/locked")
def locked() -> Response | str:
    """The names screen: the store's people who can unlock this iPad with their PIN, and "Someone else"."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    device_id = device.current_device()
    people = pins.quick_switch_people(device_id, _locked_store(device_id))
    return render_template("auth/locked.html", people=people, title=N_("Locked"), hours=_hours())


def _hours() -> int:
    """The quick-switch window in hours, for the words on screen."""
    return int(current_app.config["QUICK_SWITCH_HOURS"])


@bp.route("/locked/<int:user_id>", methods=["GET", "POST"])
@throttle.sign_in_limit(deduct_when=throttle.refused_password)
def unlock(user_id: int) -> Response | tuple[str, int]:
    """The PIN pad for one person: the right PIN switches this iPad to them."""
    if current_user.is_authenticated:
        return redirect(url_for("main.home"))
    device_id = device.current_device()
    person = pins.switch_target(user_id, _locked_store(device_id))
    if person is None:
        abort(404)
    form = UnlockForm()
    if request.method != "POST":
        if not pins.may_use_pin(person, device_id):
            flash(
                gettext(
                    "%(name)s cannot use a PIN on this iPad now: sign in with the password.", name=person.display_name
                ),
                "info",
            )
            return redirect(url_for("auth.locked"))
        return _pin_pad(person, form)
    if not form.validate():
        return _pin_pad(person, form, 422)
    by = _lock_state().get("by")
    with throttle.password_slot(familiar=True):
        result = pins.switch_with_pin(person, form.pin.data or "", device_id, by if isinstance(by, int) else None)
    if result.ok and result.signed_in_at is not None:
        return _switched(person, result.signed_in_at)
    throttle.password_refused()
    if result.reason == "bad_pin":
        left = result.failures_left or 0
        form.pin.errors.append(
            ngettext(
                "That PIN is not right. %(num)d more try, then the password is needed.",
                "That PIN is not right. %(num)d more tries, then the password is needed.",
                left,
            )
        )
        form.pin.data = ""
        return _pin_pad(person, form, 422)
    flash(pins.pin_message(result.reason), "error")
    return redirect(url_for("auth.sign_in") if result.reason == "blocked" else url_for("auth.locked"))


def _pin_pad(person: User, form: UnlockForm, status: int = 200) -> tuple[str, int]:
    """Render the PIN pad."""
    return render_template("auth/unlock.html", person=person, form=form, title=person.display_name), status


def _switched(person: User, signed_in_at: datetime) -> Response:
    """Start the person's session on this iPad (a new session, a new CSRF token) and take them back where they were."""
    kept = session.get(RESUME)
    places = {k: v for k, v in kept.items() if isinstance(v, str)} if isinstance(kept, dict) else {}
    back = _local(places.pop(str(person.id), None))
    session.clear()
    login_user(person)
    pins.start_switched_session(session, signed_in_at)
    if places:
        session[RESUME] = places
    return redirect(back or url_for("main.home"))


@bp.route("/activity", methods=["POST"])
@login_required
def activity() -> tuple[str, int]:
    """Note a tap the page reported, so typing a long form never locks the iPad under the person's fingers."""
    pins.note_activity(session)
    return "", 204


@bp.route("/pin", methods=["GET", "POST"])
@role_required(*STORE_STAFF)
def set_pin() -> tuple[str, int] | Response:
    """Set or change one's own PIN: only in a session opened with the password."""
    user = current_user._get_current_object()
    full = pins.full_sign_in_session(session)
    if request.method == "POST" and not full:
        abort(403)
    form = PinForm()
    if form.validate_on_submit():
        try:
            pins.set_pin(user, form.pin.data or "")
        except pins.PinRefused as exc:
            form.pin.errors.append(exc.message)
        else:
            flash(N_("Your PIN is set. Lock this iPad and come back with a tap on your name and your PIN."), "success")
            return redirect(url_for("main.home"))
    form.pin.data = form.confirm.data = ""
    html = render_template(
        "auth/pin.html",
        form=form,
        full=full,
        has_pin=pins.has_pin(user),
        hours=_hours(),
        tries=current_app.config["PIN_MAX_FAILURES"],
        title=N_("Quick switch PIN"),
    )
    return html, 422 if form.errors else 200


@bp.route("/pin/clear", methods=["POST"])
@role_required(*STORE_STAFF)
def clear_pin() -> Response:
    """Remove one's own PIN: this person's name leaves every names screen."""
    if pins.clear_own_pin(current_user._get_current_object()):
        flash(N_("Your PIN is removed. Sign in with your password on a locked iPad."), "success")
    else:
        flash(N_("You had no PIN."), "info")
    return redirect(url_for("auth.set_pin"))


@bp.app_context_processor
def quick_switch_context() -> dict[str, Callable[[], int | None]]:
    """lock_after(): the idle seconds after which the page locks the iPad, or None when it would not lock."""

    def lock_after() -> int | None:
        if not current_user.is_authenticated or session.get(LOCKED) is not None or session.get(CUSTOMER_VIEW):
            return None
        if not pins.may_use_pin(current_user._get_current_object(), device.current_device()):
            return None
        return int(current_app.config["LOCK_IDLE_SECONDS"])

    return {"lock_after": lock_after}
