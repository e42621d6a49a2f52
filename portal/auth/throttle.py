"""Sign-in throttling: failures per client address (Flask-Limiter) and password checks at once per worker."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g, request
from flask.wrappers import Response
from flask_limiter import Limiter, RequestLimit
from werkzeug.exceptions import TooManyRequests

THROTTLED_MESSAGE = "Too many sign-in attempts from this device. Wait {wait}, then try again."
BUSY_MESSAGE = "The portal is busy signing people in. Try again in a moment."
_SLOTS = "sign_in_slots"


def address_key(address: str | None) -> str:
    """Return the key a client address is counted under: the IPv4 address, or the IPv6 /64 network."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One machine is usually given a whole /64 and can pick a new address per request.
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_address() -> str:
    """Return the current request's client address key (after ProxyFix, when PROXY_COUNT is set)."""
    return address_key(request.remote_addr)


limiter = Limiter(key_func=client_address)


class SignInThrottled(TooManyRequests):
    """A sign-in refused before its password was checked; the sign-in page says why."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(description=message)
        self.message = message
        self.retry_after = max(1, retry_after)


def _wait_words(seconds: int) -> str:
    """Say a wait in words a person reads at a glance."""
    minutes = max(1, round(seconds / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def failed_attempt(response: Response) -> bool:
    """Tell whether a sign-in POST counts against the address: the form came back (nobody got in)."""
    return response.status_code == 200


def refuse_breach(breach: RequestLimit) -> None:
    """Turn a breached per-address limit into the sign-in page's own message (raised by the limiter)."""
    wait = math.ceil(breach.reset_at - time.time())
    g.sign_in_refusal = SignInThrottled(THROTTLED_MESSAGE.format(wait=_wait_words(wait)), wait)


@contextmanager
def password_slot() -> Iterator[None]:
    """Hold one of this process's password-check slots, or refuse the sign-in quickly when all are busy."""
    slots: threading.BoundedSemaphore = current_app.extensions[_SLOTS]
    if not slots.acquire(timeout=current_app.config["SIGN_IN_WAIT_SECONDS"]):
        raise SignInThrottled(BUSY_MESSAGE, 1)
    try:
        yield
    finally:
        slots.release()


def init_app(app: Flask) -> None:
    """Bind the per-address limiter (storage: RATELIMIT_STORAGE_URI) and this process's password-check slots."""
    limiter.init_app(app)
    app.extensions[_SLOTS] = threading.BoundedSemaphore(app.config["SIGN_IN_CONCURRENCY"])
