"""Home screen per role."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from flask import Blueprint, current_app, render_template, url_for
from flask_login import current_user, login_required

from ..i18n import N_
from ..policies.exceptions import needs_attention
from ..sales.lookup import todays_sales
from ..vocab import Role

bp = Blueprint("main", __name__)


class Area(NamedTuple):
    """A tile on the home screen."""

    endpoint: str
    title: str
    summary: str
    roles: tuple[Role, ...]
    # The tile opens the person's own store's page of the area (the endpoint takes store_id).
    own_store: bool = False


# The tiles each role sees, in the order shown.
AREAS = (
    Area("sales.new", N_("New sale"), N_("Quote and book cover at the counter."), (Role.ASSOCIATE, Role.MANAGER)),
    Area(
        "sales.index",
        N_("Sales"),
        N_("Find a sale by reference, name, email, phone or receipt."),
        (Role.ASSOCIATE, Role.MANAGER),
    ),
    Area(
        "admin.people_list",
        N_("People"),
        N_("Add associates, unlock, reset passwords, disable."),
        (Role.MANAGER,),
        own_store=True,
    ),
    Area(
        "admin.store_settings",
        N_("Store settings"),
        N_("Name, time zone, language, phone country."),
        (Role.MANAGER,),
        own_store=True,
    ),
    Area("admin.stores", N_("Stores"), N_("Every store: today's sales, exceptions, people."), (Role.ADMIN,)),
    Area("catalogue.index", N_("Offer catalogue"), N_("What XCover is asked to quote, per category."), (Role.ADMIN,)),
    Area("policies.queue", N_("Returns"), N_("Approve or refuse returns and their refunds."), (Role.MANAGER,)),
    Area(
        "reports.index",
        N_("Reports"),
        N_("Attach rate, revenue, declines and returns, per store and associate."),
        (Role.MANAGER, Role.ADMIN),
    ),
    Area("audit.events", N_("Audit log"), N_("Every action, filtered and exported."), (Role.MANAGER, Role.ADMIN)),
)


@bp.route("/")
@login_required
def home() -> str:
    """Show the signed-in person's starting point."""
    role = current_user.role
    areas = [
        {
            "url": url_for(a.endpoint, **({"store_id": current_user.store_id} if a.own_store else {})),
            "title": a.title,
            "summary": a.summary,
            "endpoint": a.endpoint,
        }
        for a in AREAS
        if role in a.roles
    ]
    page = todays_sales(current_user.store) if role == Role.ASSOCIATE else None
    stale = timedelta(seconds=current_app.config["BOOKING_STALE_SECONDS"])
    exceptions = needs_attention(current_user.store, stale) if role == Role.MANAGER else None
    return render_template(
        "main/home.html",
        title=N_("Home"),
        user=current_user,
        areas=areas,
        todays_sales=page.sales if page else [],
        more_url=url_for("sales.index", before=page.next_before) if page and page.next_before else None,
        exceptions=exceptions,
    )


@bp.route("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """Tell a load balancer the process is up."""
    return {"status": "ok"}, 200
