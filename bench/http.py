"""Load benchmark: each sale screen against a bare Flask app in the same run, then 20 associates selling at once.

`python -m bench.http [--seconds 8] [--connections 16] [--associates 20] [--sales 5] [--backend sqlite|postgresql|all]
[--out DIR]` starts the portal under gunicorn as the Procfile does (gunicorn.conf.py, app:app, the XCover sandbox
in-process) and bench/bare.py under the same settings, both on loopback. Each screen is loaded for `seconds` with
`connections` keep-alive connections (wrk when installed, else a Python client), between two runs of the bare app,
and its throughput is divided by theirs. Then `associates` people each sell `sales` two-product sales through every
step, and the database is checked for errors and double bookings. PostgreSQL runs when TEST_DATABASE_URL names a
server. Results go to bench/results/http-<backend>.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from portal import create_app
from portal.cli import init_db
from portal.extensions import db

from . import typical
from .audit import _p, database
from .machine import add_backend_options, describe, load, run_backends
from .signin import ROOT, Server

RESULTS = ROOT / "bench" / "results"
PASSWORD = "benchmark-password-2026"
# The people's passwords are hashed cheaply: sign-in cost is bench.signin's subject, not this one's.
FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024}
BROWSER = {"Accept-Encoding": "gzip, deflate, br"}  # as Safari on an iPad asks
TIMEOUT = 30.0
TARGET_RATIO = 0.3
TYPICAL = "typical signed-in page (bench/typical.py)"
STEPS = ("open form", "quote", "options", "choose", "payment", "pay and book", "sale page")
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p95": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


@dataclass
class Load:
    """One screen under load: throughput and latency."""

    label: str
    requests: int
    seconds: float
    p50: float
    p95: float
    errors: int
    size: int = 0

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


def _hammer_python(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    """Load a URL from `connections` threads with keep-alive connections (the fallback when wrk is missing)."""
    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    stop = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
            latencies[i].append((time.perf_counter() - started) * 1000)
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [ms for per in latencies for ms in per]
    return {
        "requests": len(every),
        "seconds": time.monotonic() - started,
        "p50": _p(every, 50),
        "p95": _p(every, 95),
        "errors": sum(errors),
    }


def hammer(label: str, url: str, headers: dict[str, str], seconds: float, connections: int, workdir: Path) -> Load:
    """Load one URL for `seconds` and return what it sustained."""
    first = requests.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    if first.status_code != 200:
        raise RuntimeError(f"{label}: {url} answered {first.status_code} before the run")
    wrk = shutil.which("wrk")
    if wrk:
        script = workdir / "report.lua"
        script.write_text(WRK_SCRIPT)
        command = [
            wrk,
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={int(TIMEOUT)}s",
        ]
        command += ["-s", str(script), *(x for k, v in headers.items() for x in ("-H", f"{k}: {v}")), url]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
        found = json.loads(output.strip().splitlines()[-1])
    else:
        found = _hammer_python(url, headers, seconds, connections)
    after = requests.get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    if after.status_code != 200:  # a session that ran out mid-run would have measured the sign-in redirect
        raise RuntimeError(f"{label}: {url} answered {after.status_code} after the run")
    wire = int(first.headers.get("Content-Length") or len(first.content))  # compressed size, when compressed
    return Load(label, found["requests"], found["seconds"], found["p50"], found["p95"], found["errors"], wire)


def _token(html: str) -> str:
    """Return the CSRF token of the page's form."""
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1)


def sign_in(base: str, username: str) -> requests.Session:
    """Sign in through the real form; return the session."""
    session = requests.Session()
    session.headers.update(BROWSER)
    token = _token(session.get(base + "/auth/sign-in", timeout=TIMEOUT).text)
    response = session.post(
        base + "/auth/sign-in",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if response.status_code != 302:
        raise RuntimeError(f"{username} could not sign in ({response.status_code})")
    return session


def sale_form(token: str, n: int) -> dict[str, str]:
    """The products-and-customer form of a two-product sale."""
    today = time.strftime("%Y-%m-%d")
    return {
        "csrf_token": token,
        "items-0-product_name": "Laptop",
        "items-0-category": "electronics",
        "items-0-price": "1000.00",
        "items-0-quantity": "1",
        "items-0-serial_number": f"SN{n:08d}",
        "items-0-purchase_date": today,
        "items-1-product_name": "Phone",
        "items-1-category": "mobile_phones",
        "items-1-price": "500.00",
        "items-1-quantity": "1",
        "items-1-purchase_date": today,
        "first_name": "Jane",
        "last_name": f"Doe{n}",
        "email": f"jane{n}@example.com",
        "phone": "+44 7400 123456",
        "address1": "1 High Street",
        "city": "London",
        "region": "",
        "postcode": "SW1A 1AA",
        "country": "GB",
        "language": "en",
    }


def sell(session: requests.Session, base: str, n: int, upto: str = "sale page") -> tuple[int, dict[str, float]]:
    """Take one sale through its steps (up to and including `upto`); return its id and each step's ms."""
    times: dict[str, float] = {}

    def step(name: str, method: str, path: str, expect: int, **kw: Any) -> requests.Response:
        started = time.perf_counter()
        response = session.request(method, base + path, allow_redirects=False, timeout=TIMEOUT, **kw)
        times[name] = (time.perf_counter() - started) * 1000
        if response.status_code != expect:
            raise RuntimeError(f"{name}: {method} {path} answered {response.status_code}, not {expect}")
        return response

    form = step("open form", "GET", "/sales/new", 200)
    quoted = step("quote", "POST", "/sales/new", 302, data=sale_form(_token(form.text), n))
    sale_id = int(re.search(r"/sales/(\d+)/options", quoted.headers["Location"]).group(1))
    if upto == "quote":
        return sale_id, times
    options = step("options", "GET", f"/sales/{sale_id}/options", 200)
    picks = {}
    for name, value in re.findall(r'name="(choice_\d+)" id="[^"]+" value="(\d+)"', options.text):
        picks.setdefault(name, value)
    step(
        "choose",
        "POST",
        f"/sales/{sale_id}/options",
        302,
        data={"csrf_token": _token(options.text), "acknowledged": "y", **picks},
    )
    if upto == "choose":
        return sale_id, times
    payment = step("payment", "GET", f"/sales/{sale_id}/payment", 200)
    amount = re.search(r'id="amount_collected"[^>]*value="([0-9.]+)"', payment.text).group(1)
    step(
        "pay and book",
        "POST",
        f"/sales/{sale_id}/payment",
        302,
        data={
            "csrf_token": _token(payment.text),
            "payment_method": "card",
            "receipt_number": f"R{n:08d}",
            "amount_collected": amount,
        },
    )
    page = step("sale page", "GET", f"/sales/{sale_id}", 200)
    if "is covered" not in page.text:
        raise RuntimeError(f"sale {sale_id} was not booked")
    return sale_id, times


def _prepare(url: str, associates: int) -> None:
    """Migrate a fresh database and create a store with its associates."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING", **FAST_HASHING})
    with app.app_context():
        init_db()
        from portal.stores import create_store, create_user

        create_store("BENCH1", "Benchmark store", "GB", "GBP", "en", "Europe/London")
        for i in range(associates + 1):
            create_user(f"bench.a{i:02d}", f"Associate {i}", "associate", PASSWORD, "BENCH1")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _check(url: str) -> dict[str, int]:
    """Count what the run left in the database: sales by status, bookings, double bookings."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(sa.text("SELECT status, count(*) FROM sale GROUP BY status")).all())
        doubles = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT xcover_ref FROM sale WHERE status = 'booked' "
                "GROUP BY xcover_ref HAVING count(*) > 1) twice"
            )
        ).scalar()
        covers = conn.execute(sa.text("SELECT count(*) FROM cover WHERE status = 'booked'")).scalar()
        sent = conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE action = 'sale.booking_sent'")).scalar()
    engine.dispose()
    return {
        "booked": statuses.get("booked", 0),
        "other": sum(v for k, v in statuses.items() if k != "booked"),
        "double": doubles,
        "covers": covers,
        "sent": sent,
    }


def _sandbox_bookings(url: str) -> int:
    """Count the quote packages the XCover sandbox booked."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        booked = conn.execute(sa.text("SELECT count(*) FROM xcover_sandbox_package WHERE booked_at IS NOT NULL"))
        count = booked.scalar()
    engine.dispose()
    return count


@dataclass
class Crowd:
    """What the associates' run measured."""

    associates: int
    sales: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})


def crowd(base: str, associates: int, each: int, budget: float) -> Crowd:
    """`associates` people at once, each selling `each` sales (or until `budget` seconds are spent)."""
    result = Crowd(associates)
    sessions = [sign_in(base, f"bench.a{i:02d}") for i in range(1, associates + 1)]
    lock = threading.Lock()
    deadline = time.monotonic() + budget

    def associate(i: int) -> None:
        for k in range(each):
            if time.monotonic() > deadline:
                return
            try:
                _, times = sell(sessions[i], base, 10_000 + i * 1000 + k)
            except (RuntimeError, requests.RequestException, AttributeError) as exc:
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            with lock:
                result.sales += 1
                for name, ms in times.items():
                    result.steps[name].append(ms)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=associates) as pool:
        list(pool.map(associate, range(associates)))
    result.seconds = time.monotonic() - started
    for session in sessions:
        session.close()
    return result


def screens(base: str, bare: str, page: str, seconds: float, connections: int, workdir: Path) -> list[Load]:
    """Load the bare app, the typical signed-in page, each screen, and the bare app again."""
    seller = sign_in(base, "bench.a00")
    booked, _ = sell(seller, base, 1)
    chosen, _ = sell(seller, base, 2, upto="choose")
    quoted, _ = sell(seller, base, 3, upto="quote")
    for n in range(4, 34):  # a day's worth of sales for the lists
        sell(seller, base, n, upto="quote")
    reference = re.search(r'id="xcover-ref">([^<]+)<', seller.get(f"{base}/sales/{booked}").text).group(1)
    pages = [
        ("home", "/"),
        ("products form (new sale)", "/sales/new"),
        ("options (2 products)", f"/sales/{quoted}/options"),
        ("payment", f"/sales/{chosen}/payment"),
        ("booked sale page (2 policies, QR)", f"/sales/{booked}"),
        ("today's sales list", "/sales/"),
        ("search by reference", f"/sales/?q={reference}"),
    ]
    loads = [hammer("bare Flask (before)", bare + "/", BROWSER, seconds, connections, workdir)]
    with requests.Session() as someone:
        someone.get(page + "/start", timeout=TIMEOUT)
        cookie = "; ".join(f"{k}={v}" for k, v in someone.cookies.get_dict().items())
    loads.append(hammer(TYPICAL, page + "/", {**BROWSER, "Cookie": cookie}, seconds, connections, workdir))
    for label, path in pages:
        session = sign_in(base, "bench.a00")  # a fresh session for each screen: never idle past its limit
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.get_dict().items())
        loads.append(hammer(label, base + path, {**BROWSER, "Cookie": cookie}, seconds, connections, workdir))
        session.close()
    loads.append(hammer("bare Flask (after)", bare + "/", BROWSER, seconds, connections, workdir))
    seller.close()
    return loads


def _ms(values: list[float], pct: float) -> str:
    """A percentile in ms, or a dash."""
    return f"{_p(values, pct):.0f}" if values else "-"


def run(
    backend: str, seconds: float, connections: int, associates: int, each: int, out: Path, budget: float = 300
) -> Path:
    """Run the screens and the crowd on one backend and write the results file; return its path."""
    machine = describe({"load generator": "wrk " + _wrk_version() if shutil.which("wrk") else "Python threads"})
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    sandbox_url = f"sqlite:///{workdir}/sandbox.db"
    typical_url = f"sqlite:///{workdir}/typical.db"
    typical.prepare(typical_url)
    try:
        with database(backend) as url:
            _prepare(url, associates)
            env = {"XCOVER_SANDBOX_DATABASE_URL": sandbox_url, "PROXY_COUNT": "0"}
            env |= {k: str(v) for k, v in FAST_HASHING.items()}
            with (
                Server(url, workdir, None, env=env) as portal,
                Server(url, workdir, None, target="bench.bare:app", health="/") as bare,
                Server(
                    url, workdir, None, target="bench.typical:app", env={"TYPICAL_DATABASE_URL": typical_url}
                ) as page,
            ):
                loads = screens(portal.base, bare.base, page.base, seconds, connections, workdir)
                people = crowd(portal.base, associates, each, budget)
            checked = _check(url)
            booked_upstream = _sandbox_bookings(sandbox_url)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    machine["load average at end (1/5/15 min)"] = load()
    baseline = statistics.mean([loads[0].rate, loads[-1].rate])
    lines = [
        f"# HTTP benchmark: {backend}",
        "",
        f"`python -m bench.http --backend {backend} --seconds {seconds:g} --connections {connections} "
        f"--associates {associates} --sales {each}`",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        "",
        "## Sale screens against bare Flask",
        "",
        f"gunicorn with the portal's gunicorn.conf.py (gthread, {os.environ.get('WEB_CONCURRENCY', '2')} workers) "
        f"for all three; {connections} keep-alive connections for {seconds:g} s per line, signed in, asking for "
        f"compression. Bare Flask answers `ok`; its mean over the two runs ({baseline:,.0f} req/s) is the yardstick. "
        "The typical signed-in page (bench/typical.py) is the least a screen on this stack does: the person from the "
        "session and the database (its own SQLite file), 20 rows of one query, a form with its CSRF token, 40 words "
        "through Flask-Babel, compressed.",
        "",
        "| screen | req/s | ÷ bare Flask | p50 ms | p95 ms | errors | bytes on the wire |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in loads:
        ratio = item.rate / baseline
        flag = "" if ratio >= TARGET_RATIO or item.label.startswith("bare") or item.label == TYPICAL else " (below 0.3)"
        lines.append(
            f"| {item.label} | {item.rate:,.0f} | {ratio:.2f}{flag} | {item.p50:.1f} | {item.p95:.1f} | "
            f"{item.errors} | {item.size:,} |"
        )
    lines += [
        "",
        f"## {associates} associates selling at once",
        "",
        f"Each signed-in associate sells up to {each} two-product sales through every step (the XCover sandbox "
        f"in-process answers quotes and bookings): **{people.sales} sales in {people.seconds:.1f} s, "
        f"{people.sales / people.seconds:.2f} sales/s**, {len(people.errors)} errors.",
        "",
        "| step | p50 ms | p95 ms |",
        "|---|---|---|",
        *(f"| {name} | {_ms(values, 50)} | {_ms(values, 95)} |" for name, values in people.steps.items()),
        "",
        "### Checked in the databases afterwards",
        "",
        f"- sales booked: {checked['booked']} (the {people.sales} of the crowd and the screens' one), "
        f"other sales: {checked['other']} (the screens' unbooked ones)",
        f"- booking requests sent (audit `sale.booking_sent`): {checked['sent']}; policies booked: {checked['covers']}",
        f"- packages booked by the XCover sandbox: {booked_upstream}",
        f"- XCover references booked on more than one sale (double bookings): **{checked['double']}**",
    ]
    if people.errors:
        lines += ["", "Errors:", "", *(f"- {e}" for e in people.errors[:20])]
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"http-{backend}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _wrk_version() -> str:
    """Return wrk's version."""
    found = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    return found[1] if len(found) > 1 else ""


def main(argv: list[str] | None = None, default_backend: str = "all") -> int:
    """Parse the arguments, run the benchmark and print where the results went."""
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of load per screen")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections per screen")
    parser.add_argument("--associates", type=int, default=20, help="people selling at once")
    parser.add_argument("--sales", type=int, default=5, help="sales each associate makes")
    add_backend_options(parser, RESULTS, default=default_backend)
    args = parser.parse_args(argv)
    return run_backends(
        parser,
        args.backend,
        lambda backend: run(backend, args.seconds, args.connections, args.associates, args.sales, args.out),
    )


if __name__ == "__main__":
    raise SystemExit(main())
