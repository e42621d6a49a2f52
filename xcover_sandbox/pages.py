"""The customer pages the sandbox's links point to: policy wording, certificate (page and PDF), account."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from . import catalogue as cat
from . import records
from .extensions import db
from .models import SandboxPackage
from .pdf import certificate_pdf
from .signature import same_text

# Paths are relative to wherever the sandbox is served, as the API's are.
bp = Blueprint("xcover_sandbox_pages", __name__)


def _package_or_404(package_id: str) -> SandboxPackage:
    """A package by INS id, for the public pages."""
    row = db.session.get(SandboxPackage, package_id)
    if row is None:
        abort(404)
    return row


def _with_token(package_id: str) -> SandboxPackage:
    """A package whose security token the link carries (404 otherwise, as for an unknown one)."""
    row = _package_or_404(package_id)
    if not same_text(request.args.get("security_token", ""), row.doc["security_token"]):
        abort(404)
    return row


@bp.get("/en/pds/<package_id>")
def pds(package_id: str) -> str:
    """The policy wording (PDS) for the package's policy types, naming the customer's products."""
    row = _with_token(package_id)
    wanted = request.args.get("policy_type", "").removesuffix("_v1")
    quotes = [q for q in row.doc["quotes"].values() if q and (not wanted or q["policy"]["policy_type"] == wanted)]
    return render_template(
        "document.html",
        kind="pds",
        doc=row.doc,
        quotes=quotes,
        words=cat.POLICY_TYPES,
        title=f"Policy wording {package_id}",
    )


def _checked(package_id: str) -> SandboxPackage:
    """A booked package whose security token the link carries."""
    row = _with_token(package_id)
    if row.status not in records.BOOKED:
        abort(404)
    return row


@bp.get("/en/coi/<package_id>.pdf")
def coi_pdf(package_id: str) -> Response:
    """The certificate of insurance as a PDF."""
    row = _checked(package_id)
    return Response(
        certificate_pdf(row.doc),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{package_id}.pdf"'},
    )


@bp.get("/en/coi/<package_id>")
def coi(package_id: str) -> str:
    """The certificate of insurance."""
    row = _checked(package_id)
    return render_template(
        "document.html",
        kind="coi",
        doc=row.doc,
        quotes=records.booked_quotes(row.doc),
        words=cat.POLICY_TYPES,
        title=f"Certificate of insurance {package_id}",
    )


@bp.get("/en/account")
def account() -> str:
    """The customer's account landing page (claims and documents live on xcover.com for real)."""
    return render_template("document.html", kind="account", doc=None, quotes=[], title="Your XCover account")
