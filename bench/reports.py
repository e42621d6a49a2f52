"""Reports benchmark: the Reports page for a store with 100,000 sales, on SQLite and PostgreSQL.

`python -m bench.reports [--sales N] [--runs N] [--backend sqlite|postgresql|all] [--out DIR]`; PostgreSQL runs
when TEST_DATABASE_URL names a server (scripts/pg-start.sh). Results go to bench/results/reports-<backend>.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from portal import create_app
from portal.cli import init_db
from portal.extensions import db
from portal.models import Cover, PolicyReturn, ReturnLine, Sale, SaleItem, Store, utcnow
from portal.reports import service
from portal.vocab import CoverStatus, Decision, DeclineReason, ReportPeriod, ReturnReason, ReturnStatus, SaleStatus

from .audit import FAST_HASHING, _p, database
from .machine import add_backend_options, describe, run_backends

RESULTS = Path(__file__).resolve().parent / "results"
SPAN_DAYS = 365
ASSOCIATES = 12
BATCH = 5_000
PASSWORD = "benchmark-password"
POLICY_TYPES = ("extended_warranty", "accidental_damage", "theft_and_loss")
REASONS = [r.value for r in DeclineReason]


def synthetic_sales(store_id: int, people: list[int], count: int, rng: random.Random) -> Iterator[dict[str, list]]:
    """Yield batches of plausible rows (sales, items, covers, returns and their lines) spread over a year."""
    now = utcnow()
    start = now - timedelta(days=SPAN_DAYS)
    step = timedelta(days=SPAN_DAYS) / count
    item_id = cover_id = return_id = 0
    batch: dict[str, list] = {"sale": [], "sale_item": [], "cover": [], "policy_return": [], "return_line": []}
    for i in range(1, count + 1):
        created = start + step * i + timedelta(seconds=rng.randrange(60))
        roll = rng.random()
        # About 45 % take cover, 40 % decline everything, the rest are left quoted, paid-not-covered or failed.
        status = (
            SaleStatus.BOOKED
            if roll < 0.45
            else SaleStatus.DECLINED
            if roll < 0.85
            else rng.choice([SaleStatus.QUOTED, SaleStatus.FAILED, SaleStatus.DRAFT])
        )
        sale = {
            "id": i,
            "store_id": store_id,
            "associate_id": rng.choice(people),
            "status": status.value,
            "currency": "GBP",
            "first_name": "Jane",
            "last_name": f"Customer{i}",
            "email": f"c{i}@example.com",
            "phone": "+447400123456",
            "address1": "1 High Street",
            "city": "London",
            "region": "",
            "postcode": "SW1A 1AA",
            "country": "GB",
            "language": "en",
            "xcover_ref": None if status == SaleStatus.DRAFT else f"{i:05X}-{rng.randrange(10**5):05d}-INS",
            "payment_recorded_at": created if status in (SaleStatus.BOOKED, SaleStatus.FAILED) else None,
            "booked_at": created if status == SaleStatus.BOOKED else None,
            # A failed booking's refund is recorded at the till, bar the odd one left for the exceptions list.
            "refunded_at": created if status == SaleStatus.FAILED and rng.random() < 0.98 else None,
            "created_at": created,
            "updated_at": created,
        }
        batch["sale"].append(sale)
        for position in range(rng.choice((1, 1, 1, 2))):
            item_id += 1
            declined = status == SaleStatus.DECLINED or (status == SaleStatus.BOOKED and position == 1)
            batch["sale_item"].append(
                {
                    "id": item_id,
                    "sale_id": i,
                    "position": position,
                    "product_name": "Television",
                    "category": "electronics",
                    "price": Decimal(rng.randrange(100, 2000)),
                    "quantity": 1,
                    "brand": "",
                    "model": "",
                    "sku": "",
                    "serial_number": "",
                    "purchase_date": created.date(),
                    "decision": Decision.DECLINE.value if declined else Decision.ADD.value,
                    "decline_reason": rng.choice(REASONS) if declined else None,
                }
            )
            if status == SaleStatus.DRAFT:
                continue
            taken = status == SaleStatus.BOOKED and not declined
            for option in range(2):
                cover_id += 1
                chosen = taken and option == 0
                cover_status = CoverStatus.BOOKED if chosen else CoverStatus.NOT_TAKEN
                if status == SaleStatus.FAILED and option == 0:
                    cover_status = CoverStatus.FAILED
                price = Decimal(rng.randrange(2000, 20000)) / 100
                batch["cover"].append(
                    {
                        "id": cover_id,
                        "sale_id": i,
                        "item_id": item_id,
                        "quote_index": position * 2 + option,
                        "quote_id": f"q{cover_id}",
                        "status": cover_status.value,
                        "policy_type": POLICY_TYPES[option + rng.randrange(2)],
                        "price": price,
                        "tax": (price / 6).quantize(Decimal("0.01")),
                        "content": {},
                    }
                )
                if chosen and rng.random() < 0.04:  # a few are returned within the month
                    return_id += 1
                    batch["cover"][-1]["status"] = CoverStatus.CANCELLED.value
                    done = min(created + timedelta(days=rng.randrange(1, 30)), now)
                    batch["policy_return"].append(
                        {
                            "id": return_id,
                            "sale_id": i,
                            "status": ReturnStatus.CONFIRMED.value,
                            "reason": ReturnReason.CHANGED_MIND.value,
                            "requested_by_id": people[0],
                            "cancellation_id": f"c{return_id}",
                            "currency": "GBP",
                            "total_refund": price,
                            "refunded_amount": price,
                            "idempotency_key": f"r{return_id}",
                            "confirmed_at": done,
                            "created_at": done,
                            "updated_at": done,
                        }
                    )
                    batch["return_line"].append(
                        {
                            "id": return_id,
                            "return_id": return_id,
                            "cover_id": cover_id,
                            "refund": price,
                            "adjustment_fee": Decimal(0),
                            "refund_type": "full",
                            "inside_cooling_off": rng.random() < 0.7,
                        }
                    )
        if len(batch["sale"]) >= BATCH:
            yield batch
            batch = {name: [] for name in batch}
    yield batch


def bulk_load(store_id: int, people: list[int], count: int, rng: random.Random) -> tuple[float, dict[str, int]]:
    """Insert the synthetic rows in batches; return seconds and rows per table."""
    tables = {
        "sale": Sale.__table__,
        "sale_item": SaleItem.__table__,
        "cover": Cover.__table__,
        "policy_return": PolicyReturn.__table__,
        "return_line": ReturnLine.__table__,
    }
    counts = dict.fromkeys(tables, 0)
    started = time.perf_counter()
    conn = db.session.connection()
    for batch in synthetic_sales(store_id, people, count, rng):
        for name, rows in batch.items():
            if rows:
                conn.execute(tables[name].insert(), rows)
                counts[name] += len(rows)
    db.session.commit()
    # The steady state autovacuum keeps a live database in: statistics, and (PostgreSQL) the visibility map that
    # lets index-only scans skip the table; a bulk load has neither yet.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as maintenance:
        maintenance.exec_driver_sql("VACUUM ANALYZE" if maintenance.dialect.name == "postgresql" else "ANALYZE")
    return time.perf_counter() - started, counts


def _signed_in(app: Any, username: str) -> Any:
    """A test client signed in through the real form."""
    client = app.test_client()
    page = client.get("/auth/sign-in")
    html = page.get_data(as_text=True)
    if page.status_code != 200:
        raise RuntimeError(f"the sign-in page answered {page.status_code}: {html[:300]}")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post("/auth/sign-in", data={"username": username, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"{username} could not sign in")
    return client


def _timed_pages(client: Any, url: str, runs: int) -> list[float]:
    """Fetch a page runs times after one warm-up; return each run's milliseconds."""
    first = client.get(url)
    if first.status_code != 200:
        raise RuntimeError(f"{url} answered {first.status_code}")
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return timings


def run(backend: str, sales: int, out: Path, runs: int = 30, seed: int = 2026) -> Path:
    """Seed a store with `sales` sales, time the Reports page over several periods and write the results file."""
    rng = random.Random(seed)
    with database(backend) as url:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "TESTING": True,
                "LOG_LEVEL": "WARNING",
                "SECRET_KEY": "bench",
                **FAST_HASHING,
            }
        )
        with app.app_context():
            init_db()
            from portal.stores import create_store, create_user

            store = create_store("BENCH1", "Benchmark store", "GB", "GBP", "en", "Europe/London")
            people = [
                create_user(f"seller{i:02d}", f"Seller {i}", "associate", PASSWORD, "BENCH1") for i in range(ASSOCIATES)
            ]
            create_user("manager", "Manager", "manager", PASSWORD, "BENCH1")
            create_user("office", "Head office", "admin", PASSWORD, None)
            db.session.commit()
            store_id = store.id
            seconds, counts = bulk_load(store_id, [p.id for p in people], sales, rng)
            today = datetime.now(UTC).date()
            cases = [
                ("this week", "period=this_week"),
                ("this month", "period=this_month"),
                ("last month", "period=last_month"),
                (
                    f"the whole year ({SPAN_DAYS + 1} days, every sale)",
                    f"period=custom&date_from={today - timedelta(days=SPAN_DAYS)}&date_to={today}",
                ),
            ]
            quoted = [_quoted_in(store_id, query) for _, query in cases]
            db.session.remove()
        machine = describe()  # the load average just before the timings
        # Requests outside the seeding context: each gets its own app context, as in a real server.
        manager = _signed_in(app, "manager")
        results = []
        for (label, query), count in zip(cases, quoted, strict=True):
            timings = _timed_pages(manager, f"/reports/?{query}", runs)
            results.append((label, count, _p(timings, 50), _p(timings, 95), max(timings)))
        office = _signed_in(app, "office")
        timings = _timed_pages(office, f"/reports/?{cases[-1][1]}", runs)
        results.append(
            ("head office, all stores, the whole year", quoted[-1], _p(timings, 50), _p(timings, 95), max(timings))
        )
        with app.app_context():
            store = db.session.get(Store, store_id)
            build_ms = [_timed_builds(store, _period(query), runs) for _, query in cases]
            server = None
            if backend == "postgresql":
                server = db.session.execute(sa.text("SELECT version()")).scalar().split(",")[0]
            db.session.remove()
            db.engine.dispose()
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    machine |= {
        "database": server if server else f"SQLite {machine['SQLite']} (WAL, synchronous=NORMAL)",
        "load average at the end (1, 5, 15 min; the cores are shared)": load,
    }
    lines = [
        f"# Reports benchmark: {backend}",
        "",
        f"`python -m bench.reports --backend {backend} --sales {sales} --runs {runs}`",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in machine.items()],
        "",
        "## Data",
        "",
        f"One store (Europe/London, GBP) with {counts['sale']:,} sales over the last {SPAN_DAYS} days by "
        f"{ASSOCIATES} associates: {counts['sale_item']:,} products, {counts['cover']:,} cover options, "
        f"{counts['policy_return']:,} confirmed returns. Loaded in {seconds:.1f} s (bulk inserts of {BATCH:,} sales).",
        "",
        "## The Reports page",
        "",
        f"`GET /reports/` through the app (figures, charts, tables, the whole HTML) for the store's manager, "
        f"{runs} runs after one warm-up; target p95 under 200 ms. `build p50`: `portal.reports.service.build` "
        "alone (every SQL query and the Python that adds up its rows), the same number of runs; the rest of the "
        "page's time is the request, the charts and the template.",
        "",
        "| Period | customers quoted | p50 ms | p95 ms | max ms | build p50 ms |",
        "|---|---|---|---|---|---|",
        *[
            f"| {label} | {quoted:,} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {_p(built, 50):.1f} |"
            for (label, quoted, p50, p95, worst), built in zip(results, [*build_ms, build_ms[-1]], strict=True)
        ],
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"reports-{backend}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _period(query: str) -> tuple[ReportPeriod, date | None, date | None]:
    """Read a Reports query string's period and custom dates."""
    args = dict(part.split("=") for part in query.split("&"))
    first = date.fromisoformat(args["date_from"]) if "date_from" in args else None
    last = date.fromisoformat(args["date_to"]) if "date_to" in args else None
    return ReportPeriod(args["period"]), first, last


def _timed_builds(store: Store, period: tuple[ReportPeriod, date | None, date | None], runs: int) -> list[float]:
    """Build a store's report runs times after one warm-up; return each run's milliseconds."""
    service.build([store], *period)
    db.session.rollback()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        service.build([store], *period)
        timings.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
    return timings


def _quoted_in(store_id: int, query: str) -> int:
    """Count the customers quoted in a period the way the report does (a check that the page had work to do)."""
    report = service.build([db.session.get(Store, store_id)], *_period(query))
    db.session.rollback()
    return report.quoted


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print where the results went."""
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--sales", type=int, default=100_000, help="sales in the benchmark store")
    parser.add_argument("--runs", type=int, default=30, help="timed page loads per period")
    add_backend_options(parser, RESULTS)
    args = parser.parse_args(argv)
    return run_backends(parser, args.backend, lambda backend: run(backend, args.sales, args.out, args.runs))


if __name__ == "__main__":
    raise SystemExit(main())
