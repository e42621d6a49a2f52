"""No card data anywhere: every database a test used and every log line the portal wrote.

conftest.py calls scan_databases() before it disposes of each test app (the `app` fixture and tests/world.py), so
every table of the portal's and the sandbox's databases is read after the test that wrote them; the JSON log
formatter hands each line it writes to scan_log_line(). A hit fails the test that left it, at its teardown, naming
the table and column or the log line (tests/test_no_card_data.py adds the exports and pages). The detector is the
portal's own (portal/sensitive.py): a Luhn-valid run of 13 to 19 digits, through any separator and after NFKC.

Machine-made values are set aside first: ISO timestamps, UUIDs and hex digests are not typed by anyone, and
their digits, read through the separators, make a Luhn-valid run by chance (a SHA-256 about once in a hundred,
a timestamp with microseconds once in ten). What a person typed never has those shapes, whole.
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from flask import Flask

from portal.sensitive import _DIGIT_RUN, find_card_number, normalise

# Column types read as text: strings, text and JSON. Times and numbers are not typed by anyone.
TEXT_TYPES = (sa.String, sa.Text, sa.JSON)
_found: list[str] = []
_MACHINE_MADE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"  # ISO timestamps
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"  # UUIDs
    r"|\b[0-9a-f]{40}\b|\b[0-9a-f]{64}\b|\b[0-9a-f]{128}\b"  # SHA-1, SHA-256, SHA-512 hex digests
)


def machine_made_removed(text: str) -> str:
    """The text with timestamps, UUIDs and hex digests replaced by a space."""
    return _MACHINE_MADE.sub(" ", text)


def note(where: str, text: str | bytes | None, phone: bool = False) -> None:
    """Record a card-number-shaped value seen at `where` (only a masked hint of it is kept).

    A phone column is judged as the card-number guard judges the phone field: a valid phone number is not one.
    """
    if not text:
        return
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = machine_made_removed(text)
    if find_card_number(text, phone_region="" if phone else None):
        _found.append(f"{where}: {_hint(text)}")


def _hint(text: str) -> str:
    """The text around the first card-number-shaped run, digits masked, to find the place without copying it."""
    text = normalise(text)
    spans = [m.span() for m in _DIGIT_RUN.finditer(text) if find_card_number(m.group())]
    start, end = spans[0] if spans else (0, 0)
    around = text[max(0, start - 80) : end + 40]
    return repr("".join("#" if ch.isdigit() else ch for ch in around))


def take() -> list[str]:
    """The hits since the last call, emptied."""
    found = list(_found)
    _found.clear()
    return found


def scan_tables(engine: sa.Engine, metadata: sa.MetaData, label: str) -> None:
    """Read every text-like column of every table and note a card number in any of them."""
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
        for table in metadata.sorted_tables:
            if table.name not in existing:
                continue
            columns = [c for c in table.columns if isinstance(c.type, TEXT_TYPES)]
            if not columns:
                continue
            try:
                rows = conn.execute(sa.select(*[sa.cast(c, sa.Text) for c in columns])).all()
            except sa.exc.ProgrammingError:  # a table the app's own database role may not read (a grants test)
                conn.rollback()
                continue
            for row in rows:
                for column, value in zip(columns, row, strict=True):
                    note(f"{label} table {table.name}.{column.name}", value, phone=column.name == "phone")


def scan_databases(app: Flask) -> None:
    """Scan the portal's database and, when mounted, the sandbox's."""
    from portal.extensions import db
    from xcover_sandbox.extensions import db as sandbox_db

    with app.app_context():
        scan_tables(db.engine, db.metadata, "portal")
    sandbox = app.extensions.get("xcover_sandbox_app")
    if sandbox is not None:
        with sandbox.app_context():
            scan_tables(sandbox_db.engine, sandbox_db.metadata, "sandbox")


def scan_log_line(line: str) -> None:
    """Note a card number in one JSON log line (its own timestamp aside)."""
    try:
        record: Any = json.loads(line)
    except ValueError:
        note("log", line)
        return
    if isinstance(record, dict):
        record.pop("ts", None)
    note("log", json.dumps(record, ensure_ascii=False))
