"""The Reports screen and its CSV exports: a manager's own store, head office's any store or all side by side."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_login import current_user

from ..audit import record
from ..extensions import db
from ..i18n import N_, gettext
from ..models import Store
from ..security import role_required
from ..urls import MAX_INT32, bounded_int
from ..vocab import AuditAction, ReportPeriod, ReportTable, Role
from . import charts, service
from .export import to_csv
from .figures import Report
from .forms import ALL_STORES, ReportForm

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _stores() -> tuple[list[Store], int]:
    """Return the stores this person asked for and may see, and the store choice (0: every store, head office)."""
    asked = request.args.get("store", type=bounded_int(MAX_INT32))
    if asked is None and request.args.get("store"):
        abort(404)
    if current_user.role == Role.MANAGER:
        if asked is not None and asked != current_user.store_id:
            abort(403)
        return [current_user.store], current_user.store_id
    if not asked:
        return list(db.session.scalars(sa.select(Store).order_by(Store.code))), ALL_STORES
    store = db.session.get(Store, asked)
    if store is None:
        abort(404)
    return [store], store.id


def _form(choice: int) -> ReportForm:
    """Bind the form to the query string, with the store choices head office has."""
    form = ReportForm(formdata=request.args)
    if current_user.role == Role.ADMIN:
        form.store.choices = [(ALL_STORES, gettext("All stores, side by side"))] + [
            (s.id, f"{s.code} · {s.name}") for s in db.session.scalars(sa.select(Store).order_by(Store.code))
        ]
    else:
        form.store.choices = [(choice, current_user.store.name)]
    form.store.data = choice
    return form


def _report(form: ReportForm, stores: list[Store]) -> Report | None:
    """Compute the report the form asks for, or None when the form has errors."""
    if not form.validate():
        return None
    period = ReportPeriod(form.period.data)
    custom = period == ReportPeriod.CUSTOM
    return service.build(
        stores,
        period,
        form.date_from.data if custom else None,
        form.date_to.data if custom else None,
        stale_after=timedelta(seconds=current_app.config["BOOKING_STALE_SECONDS"]),
    )


def _args(form: ReportForm, choice: int, **extra: Any) -> dict[str, Any]:
    """The report's choices as query-string arguments, for links that keep them."""
    args: dict[str, Any] = {"store": choice or None, "period": form.period.data}
    if form.period.data == ReportPeriod.CUSTOM:
        args |= {"date_from": form.date_from.data.isoformat(), "date_to": form.date_to.data.isoformat()}
    if current_user.role == Role.MANAGER:
        args["store"] = None
    return {k: v for k, v in {**args, **extra}.items() if v is not None}


@bp.route("/")
@role_required(Role.MANAGER, Role.ADMIN)
def index() -> tuple[str, int]:
    """Show the figures, charts and tables of the chosen stores over the chosen period."""
    stores, choice = _stores()
    form = _form(choice)
    report = _report(form, stores)
    context: dict[str, Any] = {"form": form, "report": report, "choice": choice, "stores": stores}
    if report is not None:
        single = stores[0] if len(stores) == 1 and choice else None
        context |= {
            "single": single,
            "presets": [
                (p, url_for(".index", **_args(form, choice, period=p.value, date_from=None, date_to=None)))
                for p in ReportPeriod
                if p != ReportPeriod.CUSTOM
            ],
            "exports": {t.value: url_for(".export", **_args(form, choice, table=t.value)) for t in ReportTable},
            "charts": {
                "days": charts.attach_by_day(report.days, single),
                "declines": charts.declines_by_reason(report.declines, single),
                "people": charts.sales_per_associate(report.by_associate, single),
                "stores": charts.sales_per_store(report.by_store),
            },
        }
    return render_template("reports/index.html", title=N_("Reports"), **context), 200 if report is not None else 422


@bp.route("/export.csv")
@role_required(Role.MANAGER, Role.ADMIN)
def export() -> Response:
    """Download one table of the report as CSV; the export is audited first."""
    table = ReportTable.get(request.args.get("table"))
    if table is None:
        abort(404)
    stores, choice = _stores()
    form = _form(choice)
    report = _report(form, stores)
    if report is None:
        abort(400)
    label = stores[0].code if choice else "all-stores"
    record(
        AuditAction.REPORT_EXPORTED,
        actor=current_user,
        store_id=choice or None,
        object_type="report",
        object_id=table.value,
        details={
            "table": table.value,
            "period": report.period.value,
            "first": report.first.isoformat(),
            "last": report.last.isoformat(),
            "stores": [s.code for s in stores] if choice else "all",
        },
    )
    db.session.commit()
    response = Response(to_csv(report, table), mimetype="text/csv; charset=utf-8")
    name = f"report-{label}-{table.value}-{report.first.isoformat()}-{report.last.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
