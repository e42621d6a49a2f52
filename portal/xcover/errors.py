"""The XCoverError family: every failure of a call to XCover, with its status and body; an answer mapped to it."""

from __future__ import annotations

from typing import Any


class XCoverError(Exception):
    """A call to XCover failed."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = body if isinstance(body, dict) else ({"errors": body} if body is not None else None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} status={self.status} {self.message!r}>"


class XCoverValidationError(XCoverError):
    """XCover refused the request's content (422, or a 400 that is not about authentication)."""

    @property
    def errors(self) -> Any:
        """XCover's `errors` object or list, as sent."""
        return (self.body or {}).get("errors") or {}

    def field_errors(self) -> dict[str, list[str]]:
        """Flatten the errors into dotted keys: {"policyholder.phone": [...], "request.0.product_price": [...]}."""
        flat: dict[str, list[str]] = {}
        _flatten(self.errors, "", flat)
        return flat


def _flatten(node: Any, prefix: str, out: dict[str, list[str]]) -> None:
    """Walk XCover's nested errors; messages collect under their dotted path ("" for top-level rules)."""
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, (dict, list)):
                _flatten(value, f"{prefix}.{index}" if prefix else str(index), out)
            else:
                out.setdefault(prefix, []).append(str(value))
    elif node is not None and node != "":
        out.setdefault(prefix, []).append(str(node))


class XCoverNotFound(XCoverError):
    """XCover does not know that quote package or booking (404)."""


class XCoverAuthError(XCoverError):
    """XCover refused our credentials or signature (400/401/403)."""


class XCoverConflict(XCoverError):
    """A 409 that is not a replay of our own idempotent request (e.g. a key reused with another body)."""


class XCoverRateLimited(XCoverError):
    """XCover kept answering 429 until the retries or the time budget ran out."""

    def __init__(
        self, message: str, *, status: int | None = None, body: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class XCoverUnavailable(XCoverError):
    """XCover could not be reached or failed, and the request was not applied (or was not idempotent)."""


class XCoverOutcomeUnknown(XCoverError):
    """The request may have been applied: reconcile with the same idempotency key or get_booking."""


def message_of(body: Any, fallback: str) -> str:
    """Pick XCover's message out of an error body (`message`, then `error`, then `detail`)."""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if body.get(key):
                return str(body[key])
    return fallback


def error_for_status(status: int, body: Any, *, may_have_applied: bool) -> XCoverError:
    """Map a final non-success answer to the family; a 423 or 5xx is outcome unknown if the write may have applied."""
    message = message_of(body, f"XCover answered {status}")
    if status == 404:
        return XCoverNotFound(message, status=status, body=body)
    if status in (401, 403) or (status == 400 and "authori" in message.lower()):
        return XCoverAuthError(message, status=status, body=body)
    if status in (400, 422):
        return XCoverValidationError(message, status=status, body=body)
    if status == 409:
        return XCoverConflict(message, status=status, body=body)
    if status == 429:
        return XCoverRateLimited(message, status=status, body=body)
    if status == 423 or status >= 500:
        if may_have_applied:
            return XCoverOutcomeUnknown(message, status=status, body=body)
        return XCoverUnavailable(message, status=status, body=body)
    return XCoverError(message, status=status, body=body)
