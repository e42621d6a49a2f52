"""People and stores: a manager runs their store's people and settings; head office runs every store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import db
from ..i18n import N_, gettext
from ..intl import countries
from ..models import Store, User
from ..phones import calling_code
from ..security import role_required
from ..stores import InvalidInput, create_store, set_store_active, update_store
from ..vocab import Role
from . import people
from .forms import NewStoreForm, PersonForm, ResetPasswordForm, StoreForm, StoreSettingsForm
from .stores import overview, visible_store

bp = Blueprint("admin", __name__, url_prefix="/admin")
RUNNERS = (Role.MANAGER, Role.ADMIN)


def _actor() -> User:
    """Return the signed-in person (not the proxy)."""
    return current_user._get_current_object()


def _store(store_id: int) -> Store:
    """Load a store the person may see, or 404 (a manager sees only their own)."""
    store = visible_store(_actor(), store_id)
    if store is None:
        abort(404)
    return store


def _person(user_id: int) -> User:
    """Load someone of a store the person may see, or 404 (head-office accounts are not managed here)."""
    user = db.session.get(User, user_id)
    if user is None or user.store_id is None or visible_store(_actor(), user.store_id) is None:
        abort(404)
    return user


def _head_office_only() -> None:
    """Refuse store staff an action that only head office takes (after the store scope has been checked)."""
    if _actor().role != Role.ADMIN:
        abort(403)


def _rendered(template: str, form: Any, **context: Any) -> tuple[str, int]:
    """Render a page with a form; 422 when the form has errors, so a refused post is never mistaken for success."""
    return render_template(template, form=form, **context), 422 if form.errors else 200


# --- people -------------------------------------------------------------------------------------------------------


@bp.route("/stores/<int:store_id>/people")
@role_required(*RUNNERS)
def people_list(store_id: int) -> str:
    """The People screen: a store's managers and associates, each with their state and last sign-in."""
    store = _store(store_id)
    return render_template(
        "admin/people.html",
        store=store,
        people=people.people_of(store),
        may_manage=lambda user: people.may_manage(_actor(), user),
        title=gettext("People · %(store)s", store=store.name),
    )


@bp.route("/stores/<int:store_id>/people/new", methods=["GET", "POST"])
@role_required(*RUNNERS)
def new_person(store_id: int) -> tuple[str, int] | Response:
    """Add someone to a store with a temporary password."""
    store = _store(store_id)
    form = PersonForm(roles=people.roles_to_add(_actor()))
    if form.validate_on_submit():
        try:
            user, made_up = people.add_person(
                _actor(),
                store,
                form.username.data or "",
                form.display_name.data or "",
                form.role.data or "",
                form.password.data or "",
            )
        except InvalidInput as exc:
            form.apply_errors(exc.errors)
        else:
            if made_up:
                return _shown_once(user, made_up, added=True)
            flash(
                gettext(
                    "%(name)s is added. They choose their own password at their first sign-in.", name=user.display_name
                ),
                "success",
            )
            return redirect(url_for(".person", user_id=user.id))
    return _rendered(
        "admin/person_new.html", form, store=store, title=gettext("Add a person · %(store)s", store=store.name)
    )


def _shown_once(user: User, password: str, added: bool) -> tuple[str, int]:
    """Show a made-up temporary password, this once (never stored, never logged, never flashed into the cookie)."""
    return render_template(
        "admin/temporary_password.html",
        person=user,
        password=password,
        added=added,
        title=N_("Temporary password"),
    ), 200


@bp.route("/people/<int:user_id>")
@role_required(*RUNNERS)
def person(user_id: int) -> tuple[str, int]:
    """One person: their state, and what the viewer may do about it."""
    return _person_page(_person(user_id), ResetPasswordForm())


def _person_page(user: User, reset_form: ResetPasswordForm) -> tuple[str, int]:
    """Render a person's page."""
    return _rendered(
        "admin/person.html",
        reset_form,
        person=people.person(user),
        pin_state=people.pin_state(user),
        store=user.store,
        may_manage=people.may_manage(_actor(), user),
        reset_form=reset_form,
        title=user.display_name,
    )


def _act(user_id: int, action: Callable[[User, User], Any], done: str, nothing: str = "") -> Response:
    """Take one action on a person the viewer manages, then go back to their page."""
    user = _person(user_id)
    if not people.may_manage(_actor(), user):
        abort(403)
    changed = action(_actor(), user)
    if changed is False:
        flash(gettext(nothing, name=user.display_name), "info")
    else:
        flash(gettext(done, name=user.display_name), "success")
    return redirect(url_for(".person", user_id=user.id))


@bp.route("/people/<int:user_id>/disable", methods=["POST"])
@role_required(*RUNNERS)
def disable_person(user_id: int) -> Response:
    """Take someone off the iPads: an open session ends at its next tap."""
    return _act(
        user_id,
        people.disable,
        N_("%(name)s is disabled and signed out everywhere."),
        N_("%(name)s was already disabled."),
    )


@bp.route("/people/<int:user_id>/enable", methods=["POST"])
@role_required(*RUNNERS)
def enable_person(user_id: int) -> Response:
    """Let a disabled person sign in again."""
    return _act(user_id, people.enable, N_("%(name)s can sign in again."), N_("%(name)s was not disabled."))


@bp.route("/people/<int:user_id>/unlock", methods=["POST"])
@role_required(*RUNNERS)
def unlock_person(user_id: int) -> Response:
    """Lift every sign-in lock on someone's account."""
    return _act(
        user_id, people.unlock, N_("%(name)s is unlocked and can sign in again."), N_("%(name)s was not locked.")
    )


@bp.route("/people/<int:user_id>/sign-out", methods=["POST"])
@role_required(*RUNNERS)
def sign_out_person(user_id: int) -> Response:
    """End every session someone holds."""
    return _act(user_id, people.sign_out_everywhere, N_("%(name)s is signed out everywhere."))


@bp.route("/people/<int:user_id>/pin/clear", methods=["POST"])
@role_required(*RUNNERS)
def clear_pin(user_id: int) -> Response:
    """Remove someone's quick-switch PIN: their name leaves every locked iPad until they set a new one."""
    return _act(user_id, people.clear_pin, N_("%(name)s's PIN is removed."), N_("%(name)s had no PIN."))


@bp.route("/people/<int:user_id>/password", methods=["POST"])
@role_required(*RUNNERS)
def reset_password(user_id: int) -> tuple[str, int] | Response:
    """Give someone a temporary password: they choose their own at the next sign-in."""
    user = _person(user_id)
    if not people.may_manage(_actor(), user):
        abort(403)
    form = ResetPasswordForm()
    if form.validate():
        try:
            made_up = people.reset_password(_actor(), user, form.password.data or "")
        except InvalidInput as exc:
            form.apply_errors(exc.errors)
        else:
            if made_up:
                return _shown_once(user, made_up, added=False)
            flash(
                gettext(
                    "%(name)s has the temporary password you typed: they choose theirs at sign-in.",
                    name=user.display_name,
                ),
                "info",
            )
            return redirect(url_for(".person", user_id=user.id))
    return _person_page(user, form)


# --- stores -------------------------------------------------------------------------------------------------------


@bp.route("/stores/")
@role_required(Role.ADMIN)
def stores() -> str:
    """The Stores screen: every store with today's sales and open exceptions."""
    return render_template("admin/stores.html", figures=overview(), title=N_("Stores"))


@bp.route("/stores/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_store() -> tuple[str, int] | Response:
    """Open a new store."""
    form = NewStoreForm()
    if form.validate_on_submit():
        values = form.values()
        try:
            store = create_store(
                values.pop("code"),
                values.pop("name"),
                values.pop("country"),
                values.pop("currency"),
                values.pop("language"),
                values.pop("timezone"),
                actor=_actor(),
                phone_country=values.pop("phone_country"),
            )
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            form.apply_errors(exc.errors)
        else:
            flash(gettext("%(name)s is open. Add its manager next.", name=store.name), "success")
            return redirect(url_for(".store", store_id=store.id))
    return _rendered("admin/store_form.html", form, store=None, title=N_("New store"))


@bp.route("/stores/<int:store_id>")
@role_required(*RUNNERS)
def store(store_id: int) -> str:
    """A store: its settings, and the way to its people, settings and audit log."""
    store = _store(store_id)
    return render_template(
        "admin/store.html", store=store, countries=countries(), calling_code=calling_code, title=store.name
    )


@bp.route("/stores/<int:store_id>/settings", methods=["GET", "POST"])
@role_required(*RUNNERS)
def store_settings(store_id: int) -> tuple[str, int] | Response:
    """Change a store's settings: its manager the everyday ones, head office all but the code."""
    store = _store(store_id)
    form_class = StoreForm if _actor().role == Role.ADMIN else StoreSettingsForm
    form = form_class(obj=store, store=store)
    if form.validate_on_submit():
        try:
            changes = update_store(store, _actor(), form.values())
            db.session.commit()
        except InvalidInput as exc:
            db.session.rollback()
            form.apply_errors(exc.errors)
        else:
            flash(N_("Settings saved.") if changes else N_("Nothing was changed."), "success" if changes else "info")
            return redirect(url_for(".store", store_id=store.id))
    return _rendered(
        "admin/store_form.html", form, store=store, title=gettext("Settings · %(store)s", store=store.name)
    )


def _set_active(store_id: int, active: bool) -> Response:
    """Open or close a store (head office only)."""
    store = _store(store_id)
    _head_office_only()
    changed = set_store_active(store, _actor(), active)
    db.session.commit()
    if active:
        flash(
            gettext("%(name)s is open again.", name=store.name)
            if changed
            else gettext("%(name)s was already open.", name=store.name),
            "success",
        )
    else:
        flash(
            gettext("%(name)s is deactivated: its people are signed out and cannot sign in.", name=store.name)
            if changed
            else gettext("%(name)s was already deactivated.", name=store.name),
            "success",
        )
    return redirect(url_for(".store", store_id=store.id))


@bp.route("/stores/<int:store_id>/deactivate", methods=["POST"])
@role_required(*RUNNERS)
def deactivate_store(store_id: int) -> Response:
    """Close a store: its people cannot sign in; its sales and audit log stay readable."""
    return _set_active(store_id, False)


@bp.route("/stores/<int:store_id>/reactivate", methods=["POST"])
@role_required(*RUNNERS)
def reactivate_store(store_id: int) -> Response:
    """Open a deactivated store again."""
    return _set_active(store_id, True)
