"""The sandbox's stored packages: XCover-style references and times, reading and locking a package, writing it back."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .extensions import db
from .models import SandboxPackage
from .validation import not_found

BOOKED = ("CONFIRMED", "PENDING_PAYMENT", "CANCELLED")
_ALNUM = string.ascii_uppercase + string.digits
_MIXED = string.ascii_letters + string.digits


def new_ref(suffix: str) -> str:
    """An XCover reference such as 7QK2M-PL9XD-INS."""

    def part() -> str:
        return "".join(secrets.choice(_ALNUM) for _ in range(5))

    return f"{part()}-{part()}-{suffix}"


def new_change_ref(suffix: str) -> str:
    """A cancellation or update id in XCover's form: three mixed-case groups, e.g. u7Thv-d6C5P-8FAQW-CCL."""
    return "-".join("".join(secrets.choice(_MIXED) for _ in range(5)) for _ in range(3)) + f"-{suffix}"


def new_token() -> str:
    """A security token like OYXZP-CgGUR-YI3Lz-RefU1."""
    alphabet = string.ascii_letters + string.digits
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def stamp(moment: datetime) -> str:
    """created_at/updated_at form: microseconds and Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def policy_time(moment: datetime) -> str:
    """Policy date form: +00:00 offset."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def add_months(moment: datetime, months: int) -> datetime:
    """Add calendar months, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def public(doc: Any) -> Any:
    """Drop the sandbox's own bookkeeping keys (those starting with "_") from a document."""
    if isinstance(doc, dict):
        return {k: public(v) for k, v in doc.items() if not str(k).startswith("_")}
    if isinstance(doc, list):
        return [public(v) for v in doc]
    return doc


def load(partner: str, package_id: str) -> SandboxPackage:
    """Read a package of this partner, or 404."""
    row = db.session.get(SandboxPackage, package_id)
    if row is None or row.partner != partner:
        raise not_found()
    return row


def lock(partner: str, package_id: str) -> SandboxPackage:
    """Take the package's row lock first (a write), then read it: concurrent writers queue, even on SQLite."""
    bumped = db.session.execute(
        sa.update(SandboxPackage)
        .where(SandboxPackage.id == package_id, SandboxPackage.partner == partner)
        .values(version=SandboxPackage.version + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:
        raise not_found()
    row = db.session.get(SandboxPackage, package_id, populate_existing=True)
    assert row is not None
    return row


def save(row: SandboxPackage, doc: dict[str, Any], now: datetime) -> None:
    """Write a changed document back (a new object, so the JSON column is marked dirty)."""
    doc["updated_at"] = stamp(now)
    row.doc = doc
    row.status = doc["status"]


def booked_quotes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The quotes that were booked, in package order."""
    chosen = set(doc.get("_booked") or [])
    return [q for q in doc["quotes"].values() if q and q["id"] in chosen]
