"""The retry policy: which failures are retried, the back-off, the time budget, and the "may have been applied" rule.

A read and a write carrying an idempotency key are retried on a connection error, a time-out and the
RETRY_STATUSES; a write without a key only when the request certainly never left (no connection made).
Once an attempt of a keyed write may have been applied, the call's outcome stays unknown: a retry is sent
only with the same idempotency key, and a later "not applied" answer cannot clear it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from .errors import XCoverError, XCoverOutcomeUnknown, XCoverRateLimited, XCoverUnavailable, error_for_status
from .transport import attempt_timeout, response_body

RETRY_STATUSES = frozenset({423, 429, 502, 503, 504})
# A retry is not started unless at least this much of the budget is left for the attempt itself.
MIN_ATTEMPT_SECONDS = 0.05

READ, KEYED, UNKEYED = "read", "keyed", "unkeyed"

# One attempt: given its (connect, read) timeouts, send the request once.
Attempt = Callable[[tuple[float, float]], requests.Response]
# Told of each attempt: its number, when the call started (monotonic), the status or the error's name.
AttemptLog = Callable[[int, float, int | None, str | None], None]


def kind_of(method: str, idempotency_key: str | None) -> str:
    """Class a call: a read, a write with an idempotency key, or a write without one."""
    return READ if method == "GET" else (KEYED if idempotency_key else UNKEYED)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Read a Retry-After header: seconds (fractions accepted) or an HTTP date; None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff_delay(
    retry_number: int, base_delay: float, max_delay: float, rng: random.Random, retry_after: float | None = None
) -> float:
    """Seconds to wait before retry number n (1-based): exponential with jitter, at least Retry-After."""
    ceiling = min(max_delay, base_delay * (2 ** (retry_number - 1)))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return max(delay, retry_after) if retry_after is not None else delay


def never_sent(exc: requests.RequestException) -> bool:
    """Tell whether the request certainly never reached XCover (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ReadTimeout):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        return isinstance(reason, NewConnectionError)
    return False


def is_replay(body: Any) -> bool:
    """A 409 carrying a stored success body (not an error envelope) is our own request replayed."""
    if body is None:
        return True
    return not (isinstance(body, dict) and "id" not in body and ("type" in body or "message" in body))


def final_error(failure: XCoverError, maybe_applied: bool) -> XCoverError:
    """The error to raise: outcome unknown if an earlier attempt may have applied the write."""
    if maybe_applied and isinstance(failure, (XCoverRateLimited, XCoverUnavailable)):
        unknown = XCoverOutcomeUnknown(
            f"an earlier attempt may have been applied; last answer: {failure.message}",
            status=failure.status,
            body=failure.body,
        )
        unknown.__cause__ = failure
        return unknown
    return failure


def with_retries(
    attempt: Attempt,
    *,
    kind: str,
    idempotency_key: str | None,
    connect_timeout: float,
    read_timeout: float,
    total_budget: float,
    max_attempts: int,
    backoff: Callable[[int, float | None], float],
    sleep: Callable[[float], None],
    log_attempt: AttemptLog,
) -> Any:
    """Make one logical call with retries inside the budget; return the success body (None if empty)."""
    started = time.monotonic()
    deadline = started + total_budget
    number = 0
    # Once an attempt of a keyed write may have been applied, a later "not applied" answer (429, no
    # connection, the budget running out) cannot clear it: the call's outcome stays unknown.
    maybe_applied = False
    while True:
        number += 1
        timeout = attempt_timeout(connect_timeout, read_timeout, deadline - time.monotonic(), MIN_ATTEMPT_SECONDS)
        retry_after: float | None = None
        try:
            response = attempt(timeout)
        except requests.RequestException as exc:
            unsent = never_sent(exc)
            log_attempt(number, started, None, type(exc).__name__)
            retryable = unsent or kind != UNKEYED
            if unsent or kind != KEYED:
                failure: XCoverError = XCoverUnavailable(f"XCover could not be reached: {exc}")
            else:
                failure = XCoverOutcomeUnknown(f"XCover did not answer; the request may have been applied: {exc}")
        else:
            status = response.status_code
            body = response_body(response)
            log_attempt(number, started, status, None)
            if 200 <= status < 300 or (status == 409 and idempotency_key and is_replay(body)):
                return body
            failure = error_for_status(status, body, may_have_applied=kind == KEYED)
            retryable = status in RETRY_STATUSES and kind != UNKEYED
            # 429 and 503 (and 423 from some gateways) may say when to come back.
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if isinstance(failure, XCoverRateLimited):
                failure.retry_after = retry_after
        maybe_applied = maybe_applied or isinstance(failure, XCoverOutcomeUnknown)
        if not retryable or number >= max_attempts:
            raise final_error(failure, maybe_applied)
        delay = backoff(number, retry_after)
        if time.monotonic() + delay + MIN_ATTEMPT_SECONDS > deadline:
            raise final_error(failure, maybe_applied)
        sleep(delay)
