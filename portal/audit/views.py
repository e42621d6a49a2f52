"""Audit log pages: the filtered viewer and the streamed exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request, stream_with_context, url_for
from flask_login import current_user

from ..extensions import db
from ..i18n import N_
from ..models import Store
from ..security import role_required
from ..urls import MAX_INT32, MAX_INT64, bounded_int
from ..vocab import AuditAction, Role
from . import browse
from .forms import EventFilterForm
from .service import HEAD_OFFICE_CHAIN, record

bp = Blueprint("audit", __name__, url_prefix="/audit")

EXPORTS = {
    "csv": ("text/csv; charset=utf-8", browse.export_csv),
    "jsonl": ("application/x-ndjson; charset=utf-8", browse.export_jsonl),
}


def _chain_for_request() -> int:
    """Return the chain this person may read: a manager's own store, or the admin's pick."""
    asked = request.args.get("store", type=bounded_int(MAX_INT32))
    if asked is None and request.args.get("store"):
        abort(404)
    if current_user.role == Role.MANAGER:
        if asked is not None and asked != current_user.store_id:
            abort(403)
        return current_user.store_id
    if asked is None or asked == HEAD_OFFICE_CHAIN:
        return HEAD_OFFICE_CHAIN
    if db.session.get(Store, asked) is None:
        abort(404)
    return asked


def _form(key: int) -> EventFilterForm:
    """Bind the filter form to the query string, with the store choices an admin has."""
    form = EventFilterForm(formdata=request.args)
    form.store.choices = [(HEAD_OFFICE_CHAIN, "Head office")] + [
        (s.id, f"{s.code} · {s.name}") for s in db.session.scalars(sa.select(Store).order_by(Store.code))
    ]
    form.store.data = key
    return form


def _filter(form: EventFilterForm, key: int) -> browse.EventFilter | None:
    """Turn a valid form into a filter, or None when it has errors."""
    if request.args and not form.validate():
        return None
    start, end = browse.day_bounds(form.date_from.data, form.date_to.data, browse.chain_timezone(key))
    return browse.EventFilter(
        chain_key=key,
        start=start,
        end=end,
        actor=form.actor.data or None,
        action=form.action.data or None,
        object_id=form.object_id.data or None,
    )


def _query_args(form: EventFilterForm, key: int, **extra: Any) -> dict[str, Any]:
    """Return the filter as query-string arguments, for links that keep it."""
    args = {
        "store": key,
        "date_from": form.date_from.raw_data[0] if form.date_from.raw_data else None,
        "date_to": form.date_to.raw_data[0] if form.date_to.raw_data else None,
        "actor": form.actor.data,
        "action": form.action.data,
        "object_id": form.object_id.data,
        **extra,
    }
    return {k: v for k, v in args.items() if v not in (None, "")}


@bp.route("/")
@role_required(Role.MANAGER, Role.ADMIN)
def events() -> str:
    """Show the chain's events, newest first, filtered and paginated."""
    key = _chain_for_request()
    form = _form(key)
    event_filter = _filter(form, key)
    result = browse.Page()
    if event_filter is not None:
        record(
            AuditAction.AUDIT_VIEWED,
            actor=current_user,
            store_id=key or None,
            object_type="audit_log",
            details=event_filter.describe(),
        )
        db.session.commit()
        result = browse.page(
            event_filter,
            before=request.args.get("before", type=bounded_int(MAX_INT64)),
            after=request.args.get("after", type=bounded_int(MAX_INT64)),
        )
    store = db.session.get(Store, key) if key else None
    links = {
        "newer": url_for(".events", **_query_args(form, key, after=result.newer)) if result.newer else None,
        "older": url_for(".events", **_query_args(form, key, before=result.older)) if result.older else None,
        "csv": url_for(".export", fmt="csv", **_query_args(form, key)),
        "jsonl": url_for(".export", fmt="jsonl", **_query_args(form, key)),
    }
    return render_template(
        "audit/events.html",
        title=N_("Audit log"),
        form=form,
        page=result,
        links=links,
        chain_store=store,
        is_admin=current_user.role == Role.ADMIN,
    )


@bp.route("/export.<fmt>")
@role_required(Role.MANAGER, Role.ADMIN)
def export(fmt: str) -> Response:
    """Stream the filtered events as CSV or JSON Lines; the export itself is audited first."""
    if fmt not in EXPORTS:
        abort(404)
    key = _chain_for_request()
    event_filter = _filter(_form(key), key)
    if event_filter is None:
        abort(400)
    record(
        AuditAction.AUDIT_EXPORTED,
        actor=current_user,
        store_id=key or None,
        object_type="audit_log",
        details={"format": fmt, **event_filter.describe()},
    )
    db.session.commit()
    mimetype, writer = EXPORTS[fmt]
    body: Iterator[str] = stream_with_context(writer(event_filter))
    label = db.session.get(Store, key).code if key else "head-office"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="audit-{label}.{fmt}"'
    return response
