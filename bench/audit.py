"""Audit log benchmarks: cost per audited request, verify speed and viewer queries over a big chain.

`python -m bench.audit [--events N] [--backend sqlite|postgresql|all] [--out DIR]`; PostgreSQL runs
when TEST_DATABASE_URL names a server (scripts/pg-start.sh). Results go to bench/results/audit-<backend>.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from portal import create_app
from portal.audit import record
from portal.audit.browse import EventFilter, day_bounds, export_jsonl, page
from portal.audit.service import HASHED, canonical, canonical_reference, compute_hash, hashable_fields, safe_details
from portal.audit.verify import verify_chains
from portal.cli import init_db
from portal.extensions import db
from portal.models import AuditChainHead, AuditEvent, User
from portal.vocab import AuditAction

from .machine import add_backend_options, describe, run_backends

RESULTS = Path(__file__).resolve().parent / "results"
FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024}
PEOPLE = 20
SALE_EVENTS = 7  # what a sale writes, from saved to booked
REFERENCE_EVENTS = 100_000
BATCH = 10_000
SPAN_DAYS = 365
COLUMNS = (*HASHED, "hash")


def _timed(fn: Callable[[], Any], repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Run fn repeat times and return each run's milliseconds (and add each run's CPU milliseconds to cpu)."""
    runs = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.thread_time() - start_cpu) * 1000)
    return runs


def _p(values: list[float], pct: float) -> float:
    """Return a percentile of a list of timings."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


@contextmanager
def database(backend: str) -> Iterator[str]:
    """Yield the URL of a fresh, empty database, dropped afterwards."""
    if backend == "sqlite":
        workdir = tempfile.mkdtemp(prefix="bench-audit-")
        try:
            yield f"sqlite:///{workdir}/bench.db"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return
    import psycopg

    admin = os.environ["TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    name = f"bench_audit_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield "postgresql+psycopg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def synthetic_events(
    store_id: int, who: list[tuple[int, str, str]], count: int, seq: int, prev_hash: str, rng: random.Random
) -> Iterator[dict[str, Any]]:
    """Yield `count` plausible events continuing a chain by the given (id, username, role), with real hashes."""
    actions = sorted(a.value for a in AuditAction if a != AuditAction.STORE_CREATED)
    weights = [40 if a.startswith("auth.sign_in") else 5 for a in actions]
    start = datetime.now(UTC) - timedelta(days=SPAN_DAYS)
    step = timedelta(days=SPAN_DAYS) / max(count, 1)
    for i in range(count):
        actor_id, actor_name, actor_role = who[rng.randrange(len(who))]
        action = rng.choices(actions, weights)[0]
        reference = f"{rng.randrange(16**5):05X}-{rng.randrange(10**5):05d}-INS"
        event = SimpleNamespace(
            chain_key=store_id,
            seq=seq + i + 1,
            store_id=store_id,
            occurred_at=start + step * i,
            actor_id=actor_id,
            actor_name=actor_name,
            actor_role=actor_role,
            action=action,
            object_type="sale",
            object_id=reference,
            result="success" if rng.random() > 0.05 else "failure",
            request_id=uuid.UUID(int=rng.getrandbits(128)).hex,
            client_ip=f"10.0.{rng.randrange(256)}.{i % 256}",
            details=safe_details({"items": rng.randrange(1, 4), "premium": f"{rng.randrange(500, 20000) / 100:.2f}"}),
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(event)
        prev_hash = event.hash
        yield {c: getattr(event, c) for c in COLUMNS}


def bulk_load(store_id: int, people: list[User], count: int, rng: random.Random) -> float:
    """Append `count` synthetic events to a store's chain as fast as the database takes them; return seconds."""
    head = db.session.get(AuditChainHead, store_id)
    seq, prev_hash = head.seq, head.last_hash
    started = time.perf_counter()
    # Plain values: touching an expired ORM object would query the connection a COPY is using.
    who = [(p.id, p.username, p.role) for p in people]
    rows = synthetic_events(store_id, who, count, seq, prev_hash, rng)
    last: dict[str, Any] = {}
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY audit_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for last in rows:
                copy.write_row([canonical(v) if k == "details" else v for k, v in last.items()])
    else:
        table = AuditEvent.__table__
        batch: list[dict[str, Any]] = []
        for last in rows:
            batch.append(last)
            if len(batch) >= BATCH:
                conn.execute(table.insert(), batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
    db.session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.chain_key == store_id)
        .values(seq=last["seq"], last_hash=last["hash"])
    )
    db.session.commit()
    if conn.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE audit_event"))
        db.session.commit()
    return time.perf_counter() - started


def record_cost(person: User, requests: int) -> dict[str, float]:
    """Time a request's transaction (one business write) with and without its audit event."""

    def business_only() -> None:
        person.failed_sign_ins = (person.failed_sign_ins + 1) % 5
        db.session.commit()

    def audited() -> None:
        person.failed_sign_ins = (person.failed_sign_ins + 1) % 5
        record(
            AuditAction.SIGN_IN, actor=person, object_type="user", object_id=person.id, details={"reason": "benchmark"}
        )
        db.session.commit()

    def sale_like() -> None:  # a booking's transaction: one business write and SALE_EVENTS events
        person.failed_sign_ins = (person.failed_sign_ins + 1) % 5
        for i in range(SALE_EVENTS):
            record(AuditAction.SIGN_IN, actor=person, object_type="user", object_id=i, details={"step": i})
        db.session.commit()

    _timed(audited, 20)  # warm up
    plain_cpu: list[float] = []
    audited_cpu: list[float] = []
    many_cpu: list[float] = []
    plain = _timed(business_only, requests, plain_cpu)
    with_audit = _timed(audited, requests, audited_cpu)
    with_many = _timed(sale_like, requests, many_cpu)
    return {
        # This thread's CPU time: all of SQLite's work (it runs in-process), a shared machine's waits left out.
        "cpu_plain_p50": _p(plain_cpu, 50),
        "cpu_overhead_p50": _p(audited_cpu, 50) - _p(plain_cpu, 50),
        "cpu_per_event_p50": (_p(many_cpu, 50) - _p(plain_cpu, 50)) / SALE_EVENTS,
        "plain_p50": _p(plain, 50),
        "plain_p95": _p(plain, 95),
        "audited_p50": _p(with_audit, 50),
        "audited_p95": _p(with_audit, 95),
        "overhead_p50": _p(with_audit, 50) - _p(plain, 50),
        "overhead_p95": _p(with_audit, 95) - _p(plain, 95),
        "many_p50": _p(with_many, 50),
        "per_event_p50": (_p(with_many, 50) - _p(plain, 50)) / SALE_EVENTS,
    }


def reference_rate(store_id: int, limit: int) -> float:
    """Verify-style hashing the old way (ORM rows, json.dumps canonical form) over `limit` events; events/s."""
    started = time.process_time()
    count = 0
    query = sa.select(AuditEvent).where(AuditEvent.chain_key == store_id).order_by(AuditEvent.seq).limit(limit)
    for event in db.session.scalars(query.execution_options(yield_per=5000)):
        hashlib.sha256(canonical_reference(hashable_fields(event)).encode("utf-8")).hexdigest()
        count += 1
    db.session.rollback()
    return count / (time.process_time() - started)


def viewer_queries(store_id: int, tz: str, people: list[User], rng: random.Random) -> list[tuple[str, float, int]]:
    """Time the viewer's page query under each filter; return (case, median ms, rows)."""
    middle = date.today() - timedelta(days=SPAN_DAYS // 2)
    week = day_bounds(middle, middle + timedelta(days=6), tz)
    reference = db.session.scalar(
        sa.select(AuditEvent.object_id).where(
            AuditEvent.chain_key == store_id, AuditEvent.seq == rng.randrange(1, 1000)
        )
    )
    deep = db.session.scalar(sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.chain_key == store_id)) // 2
    cases = [
        ("newest page, no filter", EventFilter(store_id), None),
        ("action = auth.locked (about 5 % of events)", EventFilter(store_id, action="auth.locked"), None),
        ("actor = one of 20 people", EventFilter(store_id, actor=people[3].username), None),
        ("object = one XCover reference", EventFilter(store_id, object_id=reference), None),
        ("date range: one week, six months ago", EventFilter(store_id, start=week[0], end=week[1]), None),
        (
            "week + action + actor",
            EventFilter(store_id, start=week[0], end=week[1], action="auth.sign_in", actor=people[5].username),
            None,
        ),
        ("page in the middle of the chain (cursor)", EventFilter(store_id), deep),
    ]
    results = []
    for label, event_filter, before in cases:
        rows = len(page(event_filter, before=before).events)
        runs = _timed(lambda f=event_filter, b=before: (page(f, before=b), db.session.rollback()), 7)
        results.append((label, statistics.median(runs), rows))
    return results


def export_rate(store_id: int) -> tuple[float, int, float]:
    """Stream the whole chain as JSON Lines; return seconds, bytes and the peak RSS growth in MiB."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    size = sum(len(chunk.encode()) for chunk in export_jsonl(EventFilter(store_id)))
    seconds = time.perf_counter() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return seconds, size, grown


def run(backend: str, events: int, out: Path, requests: int = 500, seed: int = 2026) -> Path:
    """Run every audit benchmark on one backend and write the results file; return its path."""
    rng = random.Random(seed)
    with database(backend) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "LOG_LEVEL": "WARNING", **FAST_HASHING})
        with app.app_context():
            init_db()
            from portal.stores import create_store, create_user

            store = create_store("BENCH1", "Benchmark store", "GB", "GBP", "en", "Europe/London")
            people = [
                create_user(
                    f"person{i:02d}",
                    f"Person {i}",
                    "manager" if i == 0 else "associate",
                    "benchmark-password",
                    "BENCH1",
                )
                for i in range(PEOPLE)
            ]
            db.session.commit()
            store_id, tz = store.id, store.timezone
            load_seconds = bulk_load(store_id, people, events, rng)
            cost = record_cost(people[1], requests)
            started, cpu = time.perf_counter(), time.process_time()
            (report,) = verify_chains([store_id])
            verify_seconds, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
            old_rate = reference_rate(store_id, REFERENCE_EVENTS)
            if not report.ok:
                raise RuntimeError(f"benchmark chain did not verify: {report.describe()}")
            viewer = viewer_queries(store_id, tz, people, rng)
            export_seconds, export_bytes, export_rss = export_rate(store_id)
            server = None
            if backend == "postgresql":
                settings = ", ".join(
                    f"{name}={db.session.execute(sa.text(f'SHOW {name}')).scalar()}"
                    for name in ("fsync", "synchronous_commit")
                )
                server = db.session.execute(sa.text("SELECT version()")).scalar().split(",")[0] + f" ({settings})"
            db.session.remove()
            db.engine.dispose()
    machine = describe({"database": server if server else f"SQLite {describe()['SQLite']} (WAL, synchronous=NORMAL)"})
    lines = [
        f"# Audit log benchmark: {backend}",
        "",
        f"`python -m bench.audit --backend {backend} --events {events}`",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [
        "",
        "## Cost per audited request",
        "",
        f"One request's transaction (one business UPDATE + commit) {requests} times, without and with one "
        f"`record()` call, on a store chain of {report.events:,} events.",
        "",
        "| | p50 ms | p95 ms |",
        "|---|---|---|",
        f"| business write only | {cost['plain_p50']:.3f} | {cost['plain_p95']:.3f} |",
        f"| business write + audit event | {cost['audited_p50']:.3f} | {cost['audited_p95']:.3f} |",
        f"| **audit overhead (one append)** | **{cost['overhead_p50']:.3f}** | **{cost['overhead_p95']:.3f}** |",
        "",
        f"A sale's transaction, one business write and {SALE_EVENTS} events (one chain-head lock and one head write "
        f"for all of them): p50 {cost['many_p50']:.3f} ms, **{cost['per_event_p50']:.3f} ms per event**.",
        "",
        f"CPU time of the benchmark's thread, p50 (SQLite works in-process, so this is all of its cost there, "
        f"without a busy machine's waits; on PostgreSQL the server's share is left out): business write only "
        f"{cost['cpu_plain_p50']:.3f} ms, **one append {cost['cpu_overhead_p50']:.3f} ms**, "
        f"{cost['cpu_per_event_p50']:.3f} ms per event of a sale's transaction.",
        "",
        "## Verify",
        "",
        f"`flask audit verify --store BENCH1` over {report.events:,} events: **{verify_seconds:.1f} s** "
        f"({report.events / verify_seconds:,.0f} events/s wall, **{report.events / verify_cpu:,.0f} events per "
        f"CPU-second** of the verifying process). The same hashing the old way (ORM rows, `json.dumps`) in this "
        f"run: {old_rate:,.0f} events per CPU-second. Synthetic load (real hashes): "
        f"{events:,} events in {load_seconds:.1f} s.",
        "",
        f"## Viewer queries with {report.events:,} events in the store",
        "",
        "One page (50 events, newest first) through `portal.audit.browse.page`; median of 7 runs.",
        "",
        "| Filter | median ms | rows |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {ms:.1f} | {rows} |" for label, ms, rows in viewer]
    lines += [
        "",
        "## Export",
        "",
        f"Whole chain as JSON Lines through the streamed export: {export_seconds:.1f} s, "
        f"{export_bytes / 1024 / 1024:.0f} MiB written, peak memory growth {export_rss:.0f} MiB "
        "(server-side cursor, batches of 1,000).",
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"audit-{backend}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmarks and print where the results went."""
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the benchmark store's chain")
    parser.add_argument("--requests", type=int, default=500, help="transactions timed for the cost per request")
    add_backend_options(parser, RESULTS)
    args = parser.parse_args(argv)
    return run_backends(parser, args.backend, lambda backend: run(backend, args.events, args.out, args.requests))


if __name__ == "__main__":
    raise SystemExit(main())
