"""Sign-in flood benchmark: an associate's page p95 while bogus sign-ins arrive at a real gunicorn.

`python -m bench.signin [--rate 20] [--seconds 30] [--backend sqlite|postgresql] [--out DIR]` starts gunicorn on
loopback (the portal's own gunicorn.conf.py, 2 workers, production argon2 cost), signs an associate in, then for
each scenario sends `rate` bogus sign-ins per second, each from its own address (X-Forwarded-For, PROXY_COUNT=1:
a botnet the per-address throttle does not slow), while the associate opens the home page every 100 ms and a
counter sign-in from the store's address is tried every 2 s. Results go to bench/results/signin-<backend>.md.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from portal import create_app
from portal.cli import init_db
from portal.extensions import db

from .audit import _p, database
from .machine import describe

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PASSWORD = "benchmark-password-2026"
PAGE = "/"
PAGE_EVERY = 0.1
COUNTER_EVERY = 2.0
TIMEOUT = 15.0
# Password checks a worker may run at once: none asked for, the portal's default, and a bound that never binds.
SCENARIOS = (
    ("no sign-in flood", None),
    ("flood, default bound (SIGN_IN_CONCURRENCY=1)", 1),
    ("flood, no bound (SIGN_IN_CONCURRENCY=64)", 64),
)


@dataclass
class Run:
    """What one scenario measured."""

    label: str
    page_ms: list[float] = field(default_factory=list)
    page_errors: int = 0
    bogus: Counter[str] = field(default_factory=Counter)
    bogus_ms: list[float] = field(default_factory=list)
    counter: Counter[str] = field(default_factory=Counter)
    counter_ms: list[float] = field(default_factory=list)


def _free_port() -> int:
    """Ask the OS for a free TCP port on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str) -> None:
    """Migrate a fresh database and create a store with an associate (production password cost)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        init_db()
        from portal.stores import create_store, create_user

        create_store("BENCH1", "Benchmark store", "GB", "GBP", "en", "Europe/London")
        create_user("bench.alex", "Alex", "associate", PASSWORD, "BENCH1")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


class Server:
    """gunicorn serving the portal (or another WSGI target) on loopback with the given settings."""

    def __init__(
        self,
        url: str,
        workdir: Path,
        concurrency: int | None,
        target: str = "app:app",
        env: dict[str, str] | None = None,
        health: str = "/healthz",
    ) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-secret-key",
            "PORTAL_ENV": "development",
            "SESSION_COOKIE_SECURE": "0",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
            "PROXY_COUNT": "1",
            "LOG_LEVEL": "WARNING",
            "SIGN_IN_CONCURRENCY": str(concurrency or 1),
        }
        for name in ("XCOVER_BASE_URL", "FORWARDED_ALLOW_IPS", "ARGON2_TIME_COST", "ARGON2_MEMORY_KIB"):
            self.env.pop(name, None)
        self.env.update(env or {})
        self.target, self.health = target, health
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.log = open(self.log_path, "wb")
        # Its own process group, so that the workers go too when a flooded master has to be killed.
        self.proc = subprocess.Popen(
            [gunicorn, "--config", "gunicorn.conf.py", self.target],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log_path.read_text())
            try:
                if requests.get(self.base + self.health, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start:\n" + self.log_path.read_text())

    def __exit__(self, *exc: Any) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def _form(session: requests.Session, base: str) -> str:
    """Open the sign-in page and return its CSRF token."""
    html = session.get(base + "/auth/sign-in", timeout=TIMEOUT).text
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the sign-in page"
    return match.group(1)


def _sign_in(base: str, username: str, password: str, forwarded_for: str | None = None) -> tuple[str, float]:
    """Sign in through the real form with a fresh session; return the outcome and the POST's milliseconds."""
    with requests.Session() as session:
        token = _form(session, base)
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        started = time.perf_counter()
        response = session.post(
            base + "/auth/sign-in",
            data={"username": username, "password": password, "csrf_token": token},
            headers=headers,
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        ms = (time.perf_counter() - started) * 1000
    outcome = {302: "signed in", 200: "refused (checked)", 429: "429 busy/throttled"}.get(
        response.status_code, str(response.status_code)
    )
    return outcome, ms


def _flood(base: str, rate: float, seconds: float, run: Run, stop: threading.Event) -> None:
    """Send `rate` bogus sign-ins per second (open loop), each from its own address, half at the associate."""
    with requests.Session() as attacker:
        token = _form(attacker, base)
        cookies = attacker.cookies.get_dict()
    lock = threading.Lock()

    def one(i: int) -> None:
        username = "bench.alex" if i % 2 else f"nobody{i}"
        started = time.perf_counter()
        try:
            response = requests.post(
                base + "/auth/sign-in",
                timeout=TIMEOUT,
                allow_redirects=False,
                cookies=cookies,
                data={"username": username, "password": f"guess-{i}", "csrf_token": token},
                headers={"X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
            )
            outcome = {200: "refused (checked)", 429: "429 busy/throttled"}.get(
                response.status_code, str(response.status_code)
            )
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        with lock:
            run.bogus[outcome] += 1
            run.bogus_ms.append((time.perf_counter() - started) * 1000)

    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if stop.is_set():
                break
            pool.submit(one, i)


def _counter_sign_ins(base: str, run: Run, stop: threading.Event) -> None:
    """Every COUNTER_EVERY seconds, a real person at the store signs in (the store's address is familiar)."""
    while not stop.wait(COUNTER_EVERY):
        try:
            outcome, ms = _sign_in(base, "bench.alex", PASSWORD)
        except requests.RequestException as exc:
            outcome, ms = type(exc).__name__, TIMEOUT * 1000
        run.counter[outcome] += 1
        run.counter_ms.append(ms)


def scenario(url: str, workdir: Path, label: str, concurrency: int | None, rate: float, seconds: float) -> Run:
    """Serve the portal, sign the associate in, and measure their page while the scenario runs."""
    run = Run(label)
    with Server(url, workdir, concurrency) as server:
        associate = requests.Session()
        token = _form(associate, server.base)
        signed = associate.post(
            server.base + "/auth/sign-in",
            data={"username": "bench.alex", "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if signed.status_code != 302:
            raise RuntimeError(f"the associate could not sign in: {signed.status_code}")
        for _ in range(20):  # warm up both workers
            associate.get(server.base + PAGE, timeout=TIMEOUT)
        stop = threading.Event()
        helpers = [threading.Thread(target=_counter_sign_ins, args=(server.base, run, stop))]
        if concurrency is not None:
            helpers.append(threading.Thread(target=_flood, args=(server.base, rate, seconds, run, stop)))
        for helper in helpers:
            helper.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            try:
                response = associate.get(server.base + PAGE, timeout=TIMEOUT, allow_redirects=False)
                if response.status_code != 200:
                    run.page_errors += 1
            except requests.RequestException:
                run.page_errors += 1
            run.page_ms.append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, PAGE_EVERY - (time.perf_counter() - started)))
        stop.set()
        for helper in helpers:
            helper.join()
        associate.close()
    return run


def _row(values: list[float]) -> str:
    """Format p50, p95 and max of a list of milliseconds as table cells."""
    if not values:
        return "- | - | -"
    return f"{_p(values, 50):.0f} | {_p(values, 95):.0f} | {max(values):.0f}"


def _counts(counter: Counter[str]) -> str:
    """Spell outcome counts as 'n outcome' pairs."""
    return ", ".join(f"{n} {outcome}" for outcome, n in counter.most_common()) or "-"


def run(backend: str, rate: float, seconds: float, out: Path) -> Path:
    """Run every scenario on one backend and write the results file; return its path."""
    runs = []
    load_before = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="bench-signin-") as workdir:
        for label, concurrency in SCENARIOS:
            with database(backend) as url:
                _prepare(url)
                runs.append(scenario(url, Path(workdir), label, concurrency, rate, seconds))
    lines = [
        f"# Sign-in flood benchmark: {backend}",
        "",
        f"`python -m bench.signin --backend {backend} --rate {rate:g} --seconds {seconds:g}`",
        "",
        "## Machine",
        "",
    ]
    lines += [
        f"- {k}: {v}"
        for k, v in describe(
            {
                "gunicorn": "2 gthread workers x 8 threads, loopback",
                "argon2id": "t=3, 64 MiB (the portal's default)",
                "load average (1, 5, 15 min) before / after": f"{load_before} / "
                + "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
            }
        ).items()
    ]
    lines += [
        "",
        "## Method",
        "",
        f"Each scenario starts a fresh gunicorn. An associate, signed in, opens `{PAGE}` every "
        f"{PAGE_EVERY * 1000:.0f} ms for {seconds:g} s. In the flood scenarios {rate:g} bogus sign-ins per "
        "second arrive (open loop), each from its own address, half at the associate's account and half at "
        f"unknown names. Every {COUNTER_EVERY:g} s a person at the store signs in with the right password.",
        "",
        "## Associate's page",
        "",
        "| Scenario | requests | errors | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r.label} | {len(r.page_ms)} | {r.page_errors} | {_row(r.page_ms)} |" for r in runs]
    lines += [
        "",
        "## Bogus sign-ins",
        "",
        "| Scenario | outcomes | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.label} | {_counts(r.bogus)} | {_row(r.bogus_ms)} |" for r in runs if r.bogus]
    lines += [
        "",
        "## A person signing in at the store meanwhile",
        "",
        "| Scenario | outcomes | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.label} | {_counts(r.counter)} | {_row(r.counter_ms)} |" for r in runs]
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"signin-{backend}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark and print where the results went."""
    parser = argparse.ArgumentParser(prog="python -m bench.signin", description=__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="bogus sign-ins per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each scenario")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.backend == "postgresql" and not os.environ.get("TEST_DATABASE_URL"):
        parser.error("PostgreSQL needs TEST_DATABASE_URL (source scripts/pg-start.sh)")
    path = run(args.backend, args.rate, args.seconds, args.out)
    print(f"{args.backend}: results in {path}")
    print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
