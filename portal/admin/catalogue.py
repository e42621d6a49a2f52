"""The offer catalogue's rules: seeding it, drafts head office edits, publishing; the check is in catalogue_check.py.

A version is a draft until it is published; publishing retires the version in use, which stays readable (sales
keep the version that quoted them). One draft and one published version at most, held by the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..audit import record
from ..extensions import db
from ..i18n import N_, Message
from ..models import CatalogueCategory, CatalogueLine, CatalogueVersion, User, utcnow
from ..sales import catalogue as offers
from ..vocab import AuditAction, AuditResult, CatalogueStatus, LineCheck

_KEY = re.compile(r"^[a-z0-9_]{2,40}$")
_POLICY_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_POLICY_VERSION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_TERM_MONTHS = 120
MAX_LINES = 10


class CatalogueError(Exception):
    """A catalogue change that cannot be made: a message, and messages by form field."""

    def __init__(self, message: str, errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class CheckUnavailable(CatalogueError):
    """XCover could not be asked: nothing about the lines was learnt."""


@dataclass(frozen=True)
class LineValues:
    """One line as typed: what to quote for a category."""

    policy_type: str
    policy_type_version: str
    cover_term_months: int | None

    def describe(self) -> dict[str, Any]:
        """Return the line as the audit log keeps it."""
        return {
            "policy_type": self.policy_type,
            "policy_type_version": self.policy_type_version,
            "cover_term_months": self.cover_term_months,
        }


# --- reading ----------------------------------------------------------------------------------------------------


def versions() -> list[CatalogueVersion]:
    """Return every version, newest first."""
    return list(db.session.scalars(sa.select(CatalogueVersion).order_by(CatalogueVersion.number.desc())))


def current(status: CatalogueStatus) -> CatalogueVersion | None:
    """Return the draft, or the version in use."""
    return db.session.scalar(sa.select(CatalogueVersion).where(CatalogueVersion.status == status))


def get_version(version_id: int) -> CatalogueVersion | None:
    """Return one version."""
    return db.session.get(CatalogueVersion, version_id)


def record_event(
    action: AuditAction,
    actor: User | None,
    version: CatalogueVersion,
    result: AuditResult = AuditResult.SUCCESS,
    **details: Any,
) -> None:
    """Record something done to a catalogue version, in head office's chain."""
    record(
        action,
        actor=actor,
        store_id=None,
        object_type="catalogue",
        object_id=version.number,
        result=result,
        details={"version": version.number, **details},
    )


def _next_number() -> int:
    """Return the number the next version takes."""
    return (db.session.scalar(sa.select(sa.func.max(CatalogueVersion.number))) or 0) + 1


def _describe(category: CatalogueCategory | None) -> dict[str, Any] | None:
    """Return a category as the audit log keeps it."""
    if category is None:
        return None
    return {
        "label": category.label,
        "offers": [_values(line).describe() for line in category.lines],
    }


def _values(line: CatalogueLine) -> LineValues:
    """Return what a stored line quotes."""
    return LineValues(line.policy_type, line.policy_type_version, line.cover_term_months)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[str]]:
    """Say which categories a new version adds, removes and changes."""
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(key for key in set(before) & set(after) if before[key] != after[key]),
    }


# --- seeding and importing ---------------------------------------------------------------------------------------


def parse_catalogue(mapping: Any) -> list[tuple[str, str, list[LineValues]]]:
    """Read a catalogue in the OFFER_CATALOGUE shape; raise ValueError saying what is wrong (in English, for ops)."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError('The catalogue must be a JSON object: {"category": {"label": ..., "offers": [...]}}.')
    parsed = []
    for key, entry in mapping.items():
        if not isinstance(key, str) or not _KEY.match(key) or not isinstance(entry, Mapping):
            raise ValueError(f"Category {key!r}: a key of 2 to 40 lower-case letters, digits or _ and an object.")
        label = str(entry.get("label") or key.replace("_", " ").capitalize())
        raw_offers = entry.get("offers") or []
        if not isinstance(raw_offers, list):
            raise ValueError(f"Category {key!r}: offers must be a list.")
        lines = []
        for offer in raw_offers:
            term = offer.get("cover_term_months") if isinstance(offer, Mapping) else None
            values = LineValues(
                str(offer.get("policy_type") or "") if isinstance(offer, Mapping) else "",
                str(offer.get("policy_type_version", 1)) if isinstance(offer, Mapping) else "",
                int(term) if isinstance(term, int | str) and str(term).isdigit() else None,
            )
            problems = _line_problems(values, term)
            if problems:
                raise ValueError(f"Category {key!r}: {' '.join(m for ms in problems.values() for m in ms)}")
            lines.append(values)
        parsed.append((key, label[:80], lines))
    return parsed


def _build(version: CatalogueVersion, categories: Sequence[tuple[str, str, Sequence[LineValues]]]) -> None:
    """Give a new version its categories and lines, in order, none checked yet."""
    for position, (key, label, lines) in enumerate(categories):
        category = CatalogueCategory(key=key, label=label, position=position)
        category.lines = [
            CatalogueLine(position=i, check_result=LineCheck.UNCHECKED, **values.describe())
            for i, values in enumerate(lines)
        ]
        version.categories.append(category)


def seed() -> CatalogueVersion | None:
    """Publish version 1 from OFFER_CATALOGUE, or the built-in default, when no catalogue exists yet (commits)."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(CatalogueVersion)):
        return None
    configured = current_app.config.get("OFFER_CATALOGUE")
    try:
        categories = parse_catalogue(configured or offers.DEFAULT_CATALOGUE)
    except ValueError as exc:
        raise RuntimeError(f"OFFER_CATALOGUE cannot seed the catalogue: {exc}") from None
    version = import_catalogue(categories, None, "OFFER_CATALOGUE" if configured else "built-in")
    db.session.commit()
    return version


def import_catalogue(
    categories: Sequence[tuple[str, str, Sequence[LineValues]]], actor: User | None, source: str
) -> CatalogueVersion:
    """Publish categories as the next version, replacing the one in use, unchecked (caller commits)."""
    version = CatalogueVersion(
        number=_next_number(), status=CatalogueStatus.DRAFT, source=source, created_by_id=actor.id if actor else None
    )
    _build(version, categories)
    db.session.add(version)
    db.session.flush()
    _publish(version, actor)
    return version


# --- drafts -------------------------------------------------------------------------------------------------------


def start_draft(actor: User) -> CatalogueVersion:
    """Copy the version in use into a new draft, or return the draft already started (commits)."""
    draft = current(CatalogueStatus.DRAFT)
    if draft is not None:
        return draft
    base = current(CatalogueStatus.PUBLISHED)
    draft = CatalogueVersion(number=_next_number(), status=CatalogueStatus.DRAFT, created_by_id=actor.id)
    if base is not None:
        _build(draft, [(c.key, c.label, [_values(line) for line in c.lines]) for c in base.categories])
    db.session.add(draft)
    try:
        db.session.flush()
    except IntegrityError:  # another screen started one (or took the number) at the same moment
        db.session.rollback()
        found = current(CatalogueStatus.DRAFT)
        if found is None:
            raise
        return found
    record_event(AuditAction.CATALOGUE_DRAFTED, actor, draft, from_version=base.number if base else None)
    db.session.commit()
    return draft


def check_editable(version: CatalogueVersion) -> None:
    """Refuse to change anything but a draft."""
    if version.status != CatalogueStatus.DRAFT:
        raise CatalogueError(
            Message(
                N_("Version %(number)s can no longer change: %(status)s."),
                number=str(version.number),
                status=Message(version.status.label),
            )
        )


def _line_problems(values: LineValues, raw_term: Any = None, prefix: str = "") -> dict[str, list[str]]:
    """Return what is wrong with one line, by field."""
    problems: dict[str, list[str]] = {}
    if not _POLICY_TYPE.match(values.policy_type):
        problems[f"{prefix}policy_type"] = [N_("Enter XCover's policy type, e.g. product_warranty.")]
    if not _POLICY_VERSION.match(values.policy_type_version):
        problems[f"{prefix}policy_type_version"] = [N_("Enter the policy type version XCover gave, e.g. 1.")]
    term = values.cover_term_months
    if (raw_term not in (None, "") and term is None) or (term is not None and not 1 <= term <= MAX_TERM_MONTHS):
        problems[f"{prefix}cover_term_months"] = [
            Message(N_("A whole number of months from 1 to %(most)s, or empty."), most=MAX_TERM_MONTHS)
        ]
    return problems


def save_category(
    draft: CatalogueVersion,
    actor: User,
    category: CatalogueCategory | None,
    key: str,
    label: str,
    lines: Sequence[LineValues],
) -> CatalogueCategory:
    """Add a category to a draft or change one (its key stays); lines not changed keep their check (commits)."""
    check_editable(draft)
    key, label = (category.key if category else key.strip().lower()), label.strip()
    errors: dict[str, list[str]] = {}
    if category is None:
        if not _KEY.match(key):
            errors["key"] = [N_("2 to 40 lower-case letters, digits or _, e.g. mobile_phones.")]
        elif any(c.key == key for c in draft.categories):
            errors["key"] = [Message(N_("This draft already has a category %(key)s."), key=key)]
    if not label or len(label) > 80:
        errors["label"] = [N_("Enter the name the counter shows, up to 80 characters.")]
    if len(lines) > MAX_LINES:
        errors["lines"] = [Message(N_("At most %(most)s lines per category."), most=MAX_LINES)]
    seen: set[LineValues] = set()
    for i, values in enumerate(lines):
        errors.update(_line_problems(values, prefix=f"lines-{i}-"))
        if values in seen:
            errors.setdefault(f"lines-{i}-policy_type", []).append(N_("The same line is already in this category."))
        seen.add(values)
    if errors:
        raise CatalogueError(N_("Please check the highlighted fields."), errors)
    before = _describe(category)
    if category is None:
        category = CatalogueCategory(key=key, label=label, position=len(draft.categories))
        draft.categories.append(category)
    checked = {_values(line): line for line in category.lines}
    category.label = label
    category.lines = [_kept_or_new(checked.get(values), values, position) for position, values in enumerate(lines)]
    db.session.flush()
    after = _describe(category)
    if after != before:
        record_event(AuditAction.CATALOGUE_EDITED, actor, draft, category=key, before=before, after=after)
    db.session.commit()
    return category


def _kept_or_new(line: CatalogueLine | None, values: LineValues, position: int) -> CatalogueLine:
    """Keep an unchanged line (and what the check learnt of it), or make a new, unchecked one."""
    if line is not None:
        line.position = position
        return line
    return CatalogueLine(position=position, check_result=LineCheck.UNCHECKED, **values.describe())


def delete_category(draft: CatalogueVersion, actor: User, category: CatalogueCategory) -> None:
    """Take a category out of a draft (commits)."""
    check_editable(draft)
    before = _describe(category)
    draft.categories.remove(category)
    for position, remaining in enumerate(draft.categories):
        remaining.position = position
    db.session.flush()
    record_event(AuditAction.CATALOGUE_EDITED, actor, draft, category=category.key, before=before, after=None)
    db.session.commit()


def discard(draft: CatalogueVersion, actor: User) -> None:
    """Give up a draft: it stays in the list, read-only (commits)."""
    check_editable(draft)
    if not _compare_and_set(draft, CatalogueStatus.DRAFT, CatalogueStatus.DISCARDED):
        raise CatalogueError(N_("This draft was published or discarded on another screen."))
    record_event(AuditAction.CATALOGUE_DISCARDED, actor, draft)
    db.session.commit()


def _compare_and_set(version: CatalogueVersion, old: CatalogueStatus, new: CatalogueStatus, **values: Any) -> bool:
    """Move a version from one status to another only if it is still in the first."""
    table = CatalogueVersion.__table__
    moved = db.session.execute(
        sa.update(table).where(table.c.id == version.id, table.c.status == old.value).values(status=new.value, **values)
    ).rowcount
    db.session.refresh(version)
    return bool(moved)


# --- publishing ----------------------------------------------------------------------------------------------------


def unaccepted(draft: CatalogueVersion) -> list[CatalogueLine]:
    """Return the lines XCover has not accepted in a check since they were last changed."""
    return [line for line in draft.lines if line.check_result != LineCheck.ACCEPTED]


def publish(draft: CatalogueVersion, actor: User) -> None:
    """Put a draft in use, once XCover has accepted every line; the version it replaces is kept (commits)."""
    check_editable(draft)
    if not draft.categories:
        raise CatalogueError(N_("Add at least one category before publishing."))
    waiting = unaccepted(draft)
    if waiting:
        raise CatalogueError(
            Message(
                N_(
                    "%(count)s line(s) not accepted by XCover yet: check with XCover, and change or remove the lines "
                    "it refuses, before publishing."
                ),
                count=len(waiting),
            )
        )
    _publish(draft, actor)
    db.session.commit()


def _publish(version: CatalogueVersion, actor: User | None) -> None:
    """Retire the version in use and put this one in use, recording what changed (caller commits)."""
    before = current(CatalogueStatus.PUBLISHED)
    old = offers.as_mapping(before) if before is not None else {}
    if before is not None:
        _compare_and_set(before, CatalogueStatus.PUBLISHED, CatalogueStatus.RETIRED)
    if not _compare_and_set(
        version,
        CatalogueStatus.DRAFT,
        CatalogueStatus.PUBLISHED,
        published_at=utcnow(),
        published_by_id=actor.id if actor else None,
    ):
        db.session.rollback()
        raise CatalogueError(N_("This draft was published or discarded on another screen."))
    offers.forget_in_use()
    new = offers.as_mapping(version)
    record_event(
        AuditAction.CATALOGUE_PUBLISHED,
        actor,
        version,
        replaces=before.number if before else None,
        source=version.source,
        categories=len(new),
        lines=sum(len(entry["offers"]) for entry in new.values()),
        **_diff(old, new),
    )
