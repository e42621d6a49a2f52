"""URL and query-string integers that always fit the database column they are looked up in."""

from __future__ import annotations

from collections.abc import Callable

from werkzeug.routing import IntegerConverter

# PostgreSQL INTEGER (every primary key but the audit event's) and BIGINT (audit sequence numbers).
MAX_INT32 = 2**31 - 1
MAX_INT64 = 2**63 - 1


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` that stops at the largest INTEGER id: a bigger one is a 404, not a database overflow."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_INT32)
        super().__init__(map, *args, **kwargs)


def bounded_int(limit: int) -> Callable[[str], int]:
    """Return a `type=` for request.args.get that refuses (ValueError, so the default) what exceeds limit."""

    def convert(text: str) -> int:
        value = int(text)
        if not 0 <= value <= limit:
            raise ValueError(f"{value} is out of range")
        return value

    return convert
