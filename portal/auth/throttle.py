"""Sign-in throttling: failures per client address (Flask-Limiter) and password checks at once per worker."""

from __future__ import annotations

import ipaddress
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from flask import Flask, current_app, g, request
from flask.wrappers import Response
from flask_limiter import Limiter, RequestLimit
from werkzeug.exceptions import TooManyRequests

from ..i18n import N_, Message

BUSY_MESSAGE = N_("The portal is busy signing people in. Try again in a moment.")
_SLOTS = "sign_in_slots"
_CHECKERS = "password_checkers"
# Password checks run on threads of their own at a lower CPU priority (Linux gives each thread its own
# niceness), so that a flood of sign-ins gets the CPU the associates' pages leave over, not theirs.
CHECK_NICENESS = 10
T = TypeVar("T")


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


def throttled_message(seconds: int) -> Message:
    """Say why sign-in is refused, with the wait in words a person reads at a glance."""
    minutes = max(1, round(seconds / 60))
    if minutes == 1:
        return Message(N_("Too many failed sign-ins from this network. Wait a minute, then try again."))
    return Message(
        N_("Too many failed sign-ins from this network. Wait %(minutes)s minutes, then try again."), minutes=minutes
    )


def failed_attempt(response: Response) -> bool:
    """Tell whether a sign-in POST counts against the address: the form came back (nobody got in)."""
    return response.status_code == 200


def password_refused() -> None:
    """Note that this request's password check failed (a failed approval counts against the address)."""
    g.password_refused = True


def refused_password(response: Response) -> bool:
    """Tell whether an approval POST counts against the address: its password check failed."""
    return bool(g.get("password_refused"))


def sign_in_limit(deduct_when: Callable[[Response], bool] = failed_attempt) -> Callable[[T], T]:
    """The per-address limit on failed password checks, one budget shared by sign-in and in-person approvals."""
    return limiter.shared_limit(
        lambda: current_app.config["SIGN_IN_RATE_LIMIT"],
        scope="sign-in",
        methods=["POST"],
        deduct_when=deduct_when,
        on_breach=refuse_breach,
    )


def refuse_breach(breach: RequestLimit) -> None:
    """Turn a breached per-address limit into the sign-in page's own message (raised by the limiter)."""
    wait = math.ceil(breach.reset_at - time.time())
    g.sign_in_refusal = SignInThrottled(throttled_message(wait), wait)


@contextmanager
def password_slot(familiar: bool = False) -> Iterator[None]:
    """Hold one of this process's password-check slots, or refuse the sign-in quickly when all are busy.

    A sign-in from an address the account signed in from lately may also take a slot kept for such sign-ins,
    which a flood from elsewhere cannot fill: the store's own iPads keep signing in during an attack.
    """
    general, kept = current_app.extensions[_SLOTS]
    wait = current_app.config["SIGN_IN_WAIT_SECONDS"]
    if familiar and kept.acquire(blocking=False):
        slot = kept
    elif general.acquire(timeout=wait):
        slot = general
    elif familiar and kept.acquire(timeout=wait):
        slot = kept
    else:
        raise SignInThrottled(BUSY_MESSAGE, 1)
    try:
        yield
    finally:
        slot.release()


def _lower_priority() -> None:
    """Make the current (checking) thread yield the CPU to the worker's other threads."""
    if sys.platform.startswith("linux"):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


def run_check(check: Callable[[], T]) -> T:
    """Run a password check on this process's low-priority checking threads and wait for its answer."""
    return current_app.extensions[_CHECKERS].submit(check).result()


def init_app(app: Flask) -> None:
    """Bind the per-address limiter (storage: RATELIMIT_STORAGE_URI) and this process's password-check slots."""
    limiter.init_app(app)
    # Only the sign-in view has limits, and its decorator checks them itself: the limiter's before-request check
    # would find nothing to do on every other request, at a cost larger than a whole bare request.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    general, kept = app.config["SIGN_IN_CONCURRENCY"], app.config["SIGN_IN_FAMILIAR_CONCURRENCY"]
    app.extensions[_SLOTS] = (threading.BoundedSemaphore(general), threading.BoundedSemaphore(kept))
    app.extensions[_CHECKERS] = ThreadPoolExecutor(general + kept, "password-check", initializer=_lower_priority)
