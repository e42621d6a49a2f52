"""The offer catalogue on screen (head office): versions, the draft's categories and lines, check, publish."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from ..extensions import db
from ..i18n import N_, gettext, translate
from ..models import CatalogueCategory, CatalogueVersion, Store, User
from ..security import role_required
from ..vocab import CatalogueStatus, LineCheck, Role
from ..xcover import get_client
from . import catalogue, catalogue_check
from .catalogue import CatalogueError, LineValues
from .forms import CategoryForm, CheckForm

bp = Blueprint("catalogue", __name__, url_prefix="/admin/catalogue")
LINE_FIELDS = ("policy_type", "policy_type_version", "cover_term_months")


def _actor() -> User:
    """Return the signed-in person (not the proxy)."""
    return current_user._get_current_object()


def _version(version_id: int) -> CatalogueVersion:
    """Load a catalogue version, or 404."""
    version = catalogue.get_version(version_id)
    if version is None:
        abort(404)
    return version


def _category(version: CatalogueVersion, category_id: int) -> CatalogueCategory:
    """Load a category of this version, or 404."""
    category = db.session.get(CatalogueCategory, category_id)
    if category is None or category.catalogue_id != version.id:
        abort(404)
    return category


def _check_form(formdata: object = None) -> CheckForm:
    """The check form, offering the open stores (the first by code chosen)."""
    stores = catalogue_check.sample_stores()
    form = CheckForm(formdata=formdata) if formdata is not None else CheckForm(store=stores[0].id if stores else None)
    form.store.choices = [(s.id, f"{s.code} · {s.name} ({s.country}, {s.currency})") for s in stores]
    return form


def _back(version: CatalogueVersion, anchor: str | None = None) -> Response:
    """Go back to a version's page."""
    return redirect(url_for(".version", version_id=version.id, _anchor=anchor))


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> str:
    """The catalogue: the version in use, the draft if any, and every version before."""
    return render_template(
        "catalogue/index.html",
        published=catalogue.current(CatalogueStatus.PUBLISHED),
        draft=catalogue.current(CatalogueStatus.DRAFT),
        versions=catalogue.versions(),
        title=N_("Offer catalogue"),
    )


@bp.route("/<int:version_id>")
@role_required(Role.ADMIN)
def version(version_id: int) -> tuple[str, int]:
    """One version: its categories and lines; a draft's can be changed, checked with XCover and published."""
    return _version_page(_version(version_id), _check_form())


def _version_page(version: CatalogueVersion, check_form: CheckForm) -> tuple[str, int]:
    """Render a version's page."""
    sample = version.check_sample or {}
    html = render_template(
        "catalogue/version.html",
        version=version,
        check_form=check_form,
        checked_store=db.session.scalar(sa.select(Store).where(Store.code == sample.get("store"))) if sample else None,
        checked_currency=sample.get("currency"),
        waiting=catalogue.unaccepted(version) if version.status == CatalogueStatus.DRAFT else [],
        LineCheck=LineCheck,
        title=gettext("Catalogue version %(number)s", number=version.number),
    )
    return html, 422 if check_form.errors else 200


@bp.route("/draft", methods=["POST"])
@role_required(Role.ADMIN)
def start_draft() -> Response:
    """Start a draft from the version in use (or open the one already started)."""
    return _back(catalogue.start_draft(_actor()))


def _category_form(version: CatalogueVersion, category: CatalogueCategory | None) -> tuple[str, int] | Response:
    """Show, or save, a draft's category with its lines."""
    if version.status != CatalogueStatus.DRAFT:
        flash(
            gettext(
                "Version %(number)s is %(status)s: start a draft to change it.",
                number=version.number,
                status=gettext(version.status.label).lower(),
            ),
            "error",
        )
        return _back(version)
    if request.method != "POST":
        data = {"label": category.label, "key": category.key} if category else {}
        data["lines"] = (
            [{field: getattr(line, field) for field in LINE_FIELDS} for line in category.lines]
            if category
            else [{"policy_type_version": "1"}]
        )
        return _render_category(version, category, CategoryForm(data=data))
    form = CategoryForm()
    if _lines_changed(form):
        return _render_category(version, category, form)
    if form.validate():
        lines = [
            LineValues(
                (line["policy_type"] or "").strip(),
                (line["policy_type_version"] or "").strip(),
                line["cover_term_months"],
            )
            for line in form.line_values()
        ]
        try:
            catalogue.save_category(version, _actor(), category, form.key.data or "", form.label.data or "", lines)
        except CatalogueError as exc:
            form.apply_errors(exc.errors)
        else:
            flash(N_("Saved. Check the draft with XCover before publishing it."), "success")
            return _back(version)
    return _render_category(version, category, form)


def _lines_changed(form: CategoryForm) -> bool:
    """Handle "Add a line" and "Remove"; True when the form only changed shape (nothing typed is lost)."""
    if "add_line" in request.form and len(form.lines) < form.lines.max_entries:
        form.lines.append_entry({"policy_type_version": "1"})
        return True
    remove = request.form.get("remove_line", "")
    if remove.isdigit() and int(remove) < len(form.lines):
        kept = [entry.data for i, entry in enumerate(form.lines) if i != int(remove)]
        while len(form.lines):
            form.lines.pop_entry()
        for data in kept:
            form.lines.append_entry(data)
        return True
    return False


def _render_category(
    version: CatalogueVersion, category: CatalogueCategory | None, form: CategoryForm
) -> tuple[str, int]:
    """Render the category form."""
    html = render_template(
        "catalogue/category.html",
        version=version,
        category=category,
        form=form,
        title=gettext(
            "%(category)s · version %(number)s",
            category=translate(category.label) if category else gettext("New category"),
            number=version.number,
        ),
    )
    return html, 422 if form.errors else 200


@bp.route("/<int:version_id>/categories/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_category(version_id: int) -> tuple[str, int] | Response:
    """Add a category to the draft."""
    return _category_form(_version(version_id), None)


@bp.route("/<int:version_id>/categories/<int:category_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_category(version_id: int, category_id: int) -> tuple[str, int] | Response:
    """Change a category of the draft: its name at the counter and its lines."""
    version = _version(version_id)
    return _category_form(version, _category(version, category_id))


@bp.route("/<int:version_id>/categories/<int:category_id>/delete", methods=["POST"])
@role_required(Role.ADMIN)
def delete_category(version_id: int, category_id: int) -> Response:
    """Take a category out of the draft."""
    version = _version(version_id)
    category = _category(version, category_id)
    try:
        catalogue.delete_category(version, _actor(), category)
        flash(gettext("%(category)s is no longer in the draft.", category=category.label), "success")
    except CatalogueError as exc:
        flash(exc.message, "error")
    return _back(version)


@bp.route("/<int:version_id>/check", methods=["POST"])
@role_required(Role.ADMIN)
def check(version_id: int) -> tuple[str, int] | Response:
    """Quote a sample product for every line with XCover and show which lines it accepts."""
    version = _version(version_id)
    form = _check_form(request.form)
    if not form.validate():
        return _version_page(version, form)
    store = db.session.get(Store, form.store.data)
    try:
        counts = catalogue_check.check(version, _actor(), get_client(), store, form.price.data)
    except CatalogueError as exc:
        flash(exc.message, "error")
        return _back(version, "check")
    refused, unanswered = counts[LineCheck.REFUSED], counts[LineCheck.UNCHECKED]
    message = gettext(
        "XCover accepts %(accepted)s of %(total)s lines.",
        accepted=counts[LineCheck.ACCEPTED],
        total=sum(counts.values()),
    )
    if refused:
        message += " " + gettext("It refused %(count)s: change or remove them before publishing.", count=refused)
    if unanswered:
        message += " " + gettext("%(count)s could not be checked: check again.", count=unanswered)
    flash(message, "error" if refused or unanswered else "success")
    return _back(version, "lines")


@bp.route("/<int:version_id>/publish", methods=["POST"])
@role_required(Role.ADMIN)
def publish(version_id: int) -> Response:
    """Put the draft in use for every store's next quote."""
    return _finish(version_id, catalogue.publish, N_("Version %(number)s is in use: every new quote now follows it."))


@bp.route("/<int:version_id>/discard", methods=["POST"])
@role_required(Role.ADMIN)
def discard(version_id: int) -> Response:
    """Give up the draft (it stays listed, read-only)."""
    return _finish(version_id, catalogue.discard, N_("Draft version %(number)s is discarded."))


def _finish(version_id: int, action: Callable[[CatalogueVersion, User], None], done: str) -> Response:
    """Publish or discard a draft, then go back to the catalogue (or, when refused, to the draft)."""
    version = _version(version_id)
    try:
        action(version, _actor())
    except CatalogueError as exc:
        flash(exc.message, "error")
        return _back(version)
    flash(gettext(done, number=version.number), "success")
    return redirect(url_for(".index"))
