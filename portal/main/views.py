"""Home screen per role."""

from __future__ import annotations

from typing import NamedTuple

from flask import Blueprint, render_template, url_for
from flask_login import current_user, login_required

from ..sales.lookup import todays_sales
from ..vocab import Role

bp = Blueprint("main", __name__)


class Area(NamedTuple):
    """A tile on the home screen."""

    endpoint: str
    title: str
    summary: str
    roles: tuple[Role, ...]


# The tiles each role sees, in the order shown.
AREAS = (
    Area("sales.new", "New sale", "Quote and book cover at the counter.", (Role.ASSOCIATE, Role.MANAGER)),
    Area(
        "sales.index",
        "Sales",
        "Find a sale by reference, name, email, phone or receipt.",
        (Role.ASSOCIATE, Role.MANAGER),
    ),
    Area("audit.events", "Audit log", "Every action, filtered and exported.", (Role.MANAGER, Role.ADMIN)),
)


@bp.route("/")
@login_required
def home() -> str:
    """Show the signed-in person's starting point."""
    role = current_user.role
    areas = [
        {"url": url_for(a.endpoint), "title": a.title, "summary": a.summary, "endpoint": a.endpoint}
        for a in AREAS
        if role in a.roles
    ]
    page = todays_sales(current_user.store) if role == Role.ASSOCIATE else None
    return render_template(
        "main/home.html",
        title="Home",
        user=current_user,
        areas=areas,
        todays_sales=page.sales if page else [],
        more_url=url_for("sales.index", before=page.next_before) if page and page.next_before else None,
    )


@bp.route("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Tell a load balancer the process is up."""
    return {"status": "ok"}, 200
