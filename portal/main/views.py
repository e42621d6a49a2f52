"""Home screen per role."""
from __future__ import annotations

from typing import NamedTuple

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user, login_required

bp = Blueprint("main", __name__)


class Area(NamedTuple):
    """A tile on the home screen."""

    endpoint: str
    title: str
    summary: str
    roles: tuple[str, ...]


# Areas light up as their blueprints are registered; the order is the order shown.
AREAS = (
    Area("sales.new", "New sale", "Quote and book cover at the counter.", ("associate", "manager")),
    Area("sales.index", "Sales", "Find a sale by reference, name, email, phone or receipt.", ("associate", "manager")),
    Area("audit.events", "Audit log", "Every action, filtered and exported.", ("manager", "admin")),
)


def _areas_for(role: str) -> list[dict[str, str]]:
    """Return the areas this role may open that exist in this build."""
    return [
        {"url": url_for(a.endpoint), "title": a.title, "summary": a.summary, "endpoint": a.endpoint}
        for a in AREAS
        if role in a.roles and a.endpoint in current_app.view_functions
    ]


@bp.route("/")
@login_required
def home() -> str:
    """Show the signed-in person's starting point."""
    areas = _areas_for(current_user.role)
    new_sale = next((a["url"] for a in areas if a["endpoint"] == "sales.new"), None)
    todays_sales = []
    if new_sale and current_user.store is not None:
        from ..sales.service import todays_sales as _todays
        todays_sales = _todays(current_user.store)
    return render_template("main/home.html", title="Home", user=current_user, areas=areas, new_sale_url=new_sale,
                           todays_sales=todays_sales)


@bp.route("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Tell a load balancer the process is up."""
    return {"status": "ok"}, 200
