"""gunicorn settings: threaded workers, because calls to XCover block while they wait."""

import gc
import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# Above the XCover client's whole-call budget (18 s), so a slow XCover never gets a worker killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
# One JSON line per request (portal/logs.py), escaped so that no path a client sends can split or forge a line.
logger_class = "portal.logs.AccessLogger"
# X-Forwarded-Proto and friends count only when the portal is told it sits behind proxies (PROXY_COUNT, the same
# setting the app's ProxyFix reads), and then only from FORWARDED_ALLOW_IPS (default: a proxy on this host).
forwarded_allow_ips = (
    os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1") if int(os.environ.get("PROXY_COUNT", "0") or "0") > 0 else ""
)


def post_worker_init(worker: object) -> None:
    """Once a worker has loaded the app, keep its objects (about 140,000) out of every later garbage collection.

    They live as long as the worker; scanning them again on each full collection cost about a fifth of a page.
    """
    gc.collect()
    gc.freeze()
