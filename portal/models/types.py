"""The column types and value helpers every model uses: UTC times, vocabularies, search keys."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime

import sqlalchemy as sa

from ..vocab import (
    RichStrEnum,
)


def utcnow() -> datetime:
    """Return the current UTC time, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Normalise to UTC before writing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Attach UTC to values SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Vocabulary(sa.types.TypeDecorator):
    """A closed vocabulary (portal/vocab.py) stored as its plain value and read back as its member."""

    impl = sa.String
    cache_ok = True

    def __init__(self, enum: type[RichStrEnum], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        """Write the plain value, refusing anything outside the vocabulary."""
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> RichStrEnum | None:
        """Read the member back."""
        return None if value is None else self.enum(value)


def member_of(enum: type[RichStrEnum], value: str | None) -> RichStrEnum | None:
    """Turn an assigned value into its member (None stays None), so templates can use .label at once."""
    return None if value is None else enum(value)


def name_key(text: str | None) -> str:
    """Normalise a name for indexed prefix search: no accents, lower case, words split by single spaces."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain.casefold())  # O'Brien is found as obrien
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def code_key(text: str | None) -> str:
    """Normalise a reference, receipt or serial number: letters and digits only, upper case."""
    return re.sub(r"[\W_]+", "", (text or "").upper())


def email_key(text: str | None) -> str:
    """Normalise an email address for exact search."""
    return (text or "").strip().casefold()


def key_column(length: int) -> sa.types.TypeEngine:
    """A search-key column type: on PostgreSQL it sorts byte by byte, so that a prefix is one range of its index."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def parse_day(text: str | None) -> date | None:
    """Read the date at the start of an ISO date or timestamp string (None when there is none)."""
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None
