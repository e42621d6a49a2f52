"""Scale benchmark: search and the home page as a store's sales grow from ten to a hundred thousand.

`python -m bench.scale [--sizes 10,1000,10000,100000] [--requests 40] [--backend sqlite|postgresql|all] [--out DIR]`
fills one store with synthetic sales (2 % of them today, each with a serial-numbered item), then at each size times
full requests through the portal in-process (the test client, signed in): the home page, today's list, and a
search of each kind for a sale picked at random. PostgreSQL runs when TEST_DATABASE_URL names a server. Results go
to bench/results/scale-<backend>.md.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from portal import create_app
from portal.cli import init_db
from portal.extensions import db
from portal.models import Sale, SaleItem, code_key, email_key, name_key

from .audit import _p, database
from .http import FAST_HASHING, PASSWORD, _token
from .machine import add_backend_options, describe, load, run_backends

RESULTS = Path(__file__).resolve().parent / "results"
TODAY_SHARE = 0.02
BATCH = 5000
FIRST = ["Jane", "John", "Amira", "Chen", "Zoë", "Oliver", "Priya", "Mateo", "Aoife", "Kwame"] * 5
LAST = [f"{stem}{suffix}" for stem in ("Smith", "Jones", "Nguyen", "O'Brien", "García") for suffix in "abcdefghij"]
TARGET_P95_MS = {"search": 20.0, "home": 30.0}


def _sale_rows(store_id: int, user_id: int, start: int, count: int, zone: ZoneInfo, rng: random.Random) -> Any:
    """Yield (sale, item) rows for sales numbered start..start+count-1, their search keys included."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.astimezone(zone).date(), clock.min, tzinfo=zone).astimezone(UTC)
    for n in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        today = rng.random() < TODAY_SHARE
        created = midnight + (now - midnight) * rng.random() if today else now - timedelta(days=rng.uniform(1, 365))
        ref = f"{n:05X}-{rng.randrange(10**5):05d}-INS"
        sale = {
            "id": n,
            "store_id": store_id,
            "associate_id": user_id,
            "status": "booked",
            "currency": "GBP",
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}{n}@example.com".lower(),
            "phone": f"+4474{n:08d}",
            "address1": "1 High Street",
            "city": "London",
            "region": "",
            "postcode": "SW1A 1AA",
            "country": "GB",
            "language": "en",
            "xcover_ref": ref,
            "receipt_number": f"R-{n:08d}",
            "created_at": created,
            "updated_at": created,
            "ref_key": code_key(ref),
            "receipt_key": code_key(f"R-{n:08d}"),
            "email_key": email_key(f"{first}.{last}{n}@example.com"),
            "name_key": name_key(f"{first} {last}"),
            "surname_key": name_key(f"{last} {first}"),
        }
        item = {
            "sale_id": n,
            "position": 0,
            "product_name": "Laptop",
            "category": "electronics",
            "price": Decimal("999.00"),
            "quantity": 1,
            "brand": "",
            "model": "",
            "sku": "",
            "serial_number": f"SN{n:09d}",
            "serial_key": f"SN{n:09d}",
            "purchase_date": created.date(),
        }
        yield sale, item


def grow(store_id: int, user_id: int, have: int, want: int, zone: ZoneInfo, rng: random.Random) -> None:
    """Add synthetic sales until the store has `want` (ids from 1,000,001 up, clear of the real ones)."""
    sales, items = [], []
    conn = db.session.connection()
    for sale, item in _sale_rows(store_id, user_id, 1_000_001 + have, want - have, zone, rng):
        sales.append(sale)
        items.append(item)
        if len(sales) >= BATCH:
            conn.execute(Sale.__table__.insert(), sales)
            conn.execute(SaleItem.__table__.insert(), items)
            sales, items = [], []
    if sales:
        conn.execute(Sale.__table__.insert(), sales)
        conn.execute(SaleItem.__table__.insert(), items)
    db.session.commit()
    if conn.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE sale"))
        db.session.execute(sa.text("ANALYZE sale_item"))
    else:
        db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def _timed(client: Any, path: str, requests: int, expect: str | None = None) -> list[float]:
    """GET a path `requests` times; return each request's milliseconds (checking the page once)."""
    first = client.get(path)
    if first.status_code != 200 or (expect and expect not in first.get_data(as_text=True)):
        raise RuntimeError(f"{path} answered {first.status_code} without {expect!r}")
    runs = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path).close()
        runs.append((time.perf_counter() - started) * 1000)
    return runs


def cases(rng: random.Random, have: int) -> list[tuple[str, str, str | None]]:
    """The pages timed at one size: (label, path, text the page must show)."""
    n = 1_000_001 + rng.randrange(have)
    sale = db.session.get(Sale, n)
    last = rng.choice(LAST)
    national = "0" + sale.phone[3:7] + " " + sale.phone[7:]
    return [
        ("home (today's latest 20)", "/", None),
        ("today's sales list", "/sales/", None),
        ("search: XCover reference", f"/sales/?q={quote(sale.xcover_ref)}", sale.xcover_ref),
        ("search: receipt", f"/sales/?q={quote(sale.receipt_number.lower())}", sale.xcover_ref),
        ("search: serial number", f"/sales/?q=SN{n:09d}", sale.xcover_ref),
        ("search: email", f"/sales/?q={quote(sale.email.upper())}", sale.xcover_ref),
        ("search: phone as said", f"/sales/?q={quote(national)}", sale.xcover_ref),
        ("search: name prefix", f"/sales/?q={quote(sale.first_name + ' ' + sale.last_name[:2])}", None),
        ("search: surname prefix", f"/sales/?q={quote(last[:4])}", None),
    ]


def run(backend: str, sizes: list[int], requests: int, out: Path, seed: int = 2026) -> Path:
    """Grow a store through the sizes, time the pages at each, and write the results file; return its path."""
    rng = random.Random(seed)
    machine = describe()
    results: dict[str, dict[int, list[float]]] = {}
    with database(backend) as url:
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", "SECRET_KEY": "bench", **FAST_HASHING}
        )
        with app.app_context():
            init_db()
            from portal.stores import create_store, create_user

            store = create_store("BENCH1", "Benchmark store", "GB", "GBP", "en", "Europe/London")
            create_store("BENCH2", "Another store", "GB", "GBP", "en", "Europe/London")
            user = create_user("bench.alex", "Alex", "associate", PASSWORD, "BENCH1")
            db.session.commit()
            store_id, user_id, zone = store.id, user.id, ZoneInfo(store.timezone)
        # Requests run outside the benchmark's app context, each in its own, as in a server.
        client = app.test_client()
        token = _token(client.get("/auth/sign-in").get_data(as_text=True))
        client.post("/auth/sign-in", data={"username": "bench.alex", "password": PASSWORD, "csrf_token": token})
        have = 0
        for size in sizes:
            with app.app_context():
                grow(store_id, user_id, have, size, zone, rng)
                have = size
                pages = cases(rng, have)
            for label, path, expect in pages:
                results.setdefault(label, {})[size] = _timed(client, path, requests, expect)
        with app.app_context():
            server = db.session.execute(sa.text("SELECT version()")).scalar() if backend == "postgresql" else None
            db.session.remove()
            db.engine.dispose()
    machine["database"] = server.split(",")[0] if server else f"SQLite {machine['SQLite']}"
    machine["load average at end (1/5/15 min)"] = load()
    head = " | ".join(f"{s:,}" for s in sizes)
    lines = [
        f"# Scale benchmark: {backend}",
        "",
        f"`python -m bench.scale --backend {backend} --sizes {','.join(map(str, sizes))} --requests {requests}`",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        "",
        "## p95 ms per request, by sales in the store",
        "",
        f"Whole requests through the portal in-process (signed in, template and all), {requests} per cell after one "
        f"to check the page; {TODAY_SHARE:.0%} of the sales are today's. Targets at 100,000 sales: search "
        f"p95 < {TARGET_P95_MS['search']:.0f} ms, home p95 < {TARGET_P95_MS['home']:.0f} ms.",
        "",
        f"| page | {head} |",
        "|---|" + "---|" * len(sizes),
    ]
    for label, by_size in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{_p(by_size[s], 95):.1f}" for s in sizes) + " |")
    lines += ["", "## p50 ms", "", f"| page | {head} |", "|---|" + "---|" * len(sizes)]
    for label, by_size in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{_p(by_size[s], 50):.1f}" for s in sizes) + " |")
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"scale-{backend}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print where the results went."""
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--sizes", default="10,1000,10000,100000", help="sales in the store at each step")
    parser.add_argument("--requests", type=int, default=40, help="requests timed per page and size")
    add_backend_options(parser, RESULTS)
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in re.split(r"[,\s]+", args.sizes) if s)
    return run_backends(parser, args.backend, lambda backend: run(backend, sizes, args.requests, args.out))


if __name__ == "__main__":
    raise SystemExit(main())
