"""Recorded XCover traffic: the JSON format of the contract fixtures, capture from a client, scrubbing, the operations.

A recording directory holds JSON files, each a list of calls in the shape the team decoded from the official
client's cassettes (method, host, path, query, request_headers, request_body, status, response_headers,
response_body), plus an INDEX.txt. `flask xcover record` writes one; the contract tests read any.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

_ID = r"[^/]+"
# Every XCover call by method and path after /partners/{code}/, trailing slashes exactly as XCover serves them.
OPERATIONS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (name, method, re.compile(f"^{pattern.replace('{id}', _ID)}$"))
    for name, method, pattern in (
        ("create_quote", "POST", "quotes/"),
        ("get_quote", "GET", "quotes/{id}/"),
        ("update_quote", "PATCH", "quotes/{id}/"),
        ("add_quotes", "POST", "quotes/{id}/add/"),
        ("delete_quotes", "POST", "quotes/{id}/delete/"),
        ("opt_out", "POST", "bookings/{id}/opt_out"),
        ("list_bookings", "GET", "bookings/"),
        ("create_booking", "POST", "bookings/{id}/"),
        ("get_booking", "GET", "bookings/{id}/"),
        ("modify_booking", "PATCH", "bookings/{id}/"),
        ("confirm_booking", "PUT", "bookings/{id}/confirm"),
        ("quote_for_update", "PATCH", "bookings/{id}/quote_for_update"),
        ("confirm_update", "POST", "bookings/{id}/confirm_update/{id}/"),
        ("cancel", "POST", "bookings/{id}/cancel"),
        ("confirm_cancellation", "POST", "bookings/{id}/confirm_cancellation/{id}/"),
        ("send_email", "POST", "bookings/{id}/send_email"),
        ("instant_booking", "POST", "instant_booking/"),
        ("get_instalments", "GET", "bookings/{id}/instalments/"),
        ("record_instalment", "POST", "bookings/{id}/instalments/"),
    )
)
_PARTNER_PATH = re.compile(r"/partners/([^/]+)/(.*)$")
REQUEST_HEADERS = ("Content-Type", "date", "x-idempotency-key")
RESPONSE_HEADERS = (
    "Allow",
    "Content-Type",
    "Retry-After",
    "X-Ratelimit-Limit",
    "X-Ratelimit-Remaining",
    "X-Ratelimit-Reset",
)


def partner_path(path: str) -> str | None:
    """Return the part of a path after /partners/{code}/ (None when it has no partner)."""
    match = _PARTNER_PATH.search(path)
    return match.group(2) if match else None


def operation_of(method: str, path: str) -> str | None:
    """Name the XCover operation of a call, or None when method and path (slashes included) match none."""
    rest = partner_path(path)
    if rest is None:
        return None
    for name, verb, pattern in OPERATIONS:
        if verb == method.upper() and pattern.match(rest):
            return name
    return None


@dataclass
class Call:
    """One recorded request and its answer."""

    method: str
    host: str
    path: str
    query: str | None
    request_headers: dict[str, list[str]]
    request_body: Any
    status: int
    response_headers: dict[str, list[str]]
    response_body: Any

    @property
    def operation(self) -> str | None:
        """The XCover operation this call is, if any."""
        return operation_of(self.method, self.path)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        """Read one call from its JSON object."""
        return cls(
            method=str(data["method"]),
            host=str(data.get("host") or ""),
            path=str(data["path"]),
            query=data.get("query"),
            request_headers=dict(data.get("request_headers") or {}),
            request_body=data.get("request_body"),
            status=int(data["status"]),
            response_headers=dict(data.get("response_headers") or {}),
            response_body=data.get("response_body"),
        )

    def to_json(self) -> dict[str, Any]:
        """The call as its JSON object."""
        return asdict(self)


@dataclass(frozen=True)
class Recorded:
    """A call with where it was read from."""

    file: str
    index: int
    call: Call

    @property
    def name(self) -> str:
        """A short id: file stem, position and operation."""
        return f"{self.file.removesuffix('.json')}[{self.index}]-{self.call.operation or 'unknown'}"


def load(directory: str | Path) -> list[Recorded]:
    """Read every call of every JSON file in a recording directory; fail if there is none."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"no recording directory at {root}")
    found = [
        Recorded(path.name, index, Call.from_json(item))
        for path in sorted(root.glob("*.json"))
        for index, item in enumerate(json.loads(path.read_text(encoding="utf-8")))
    ]
    if not found:
        raise FileNotFoundError(f"no recorded calls (*.json) in {root}")
    return found


def _body(raw: bytes | str | None) -> Any:
    """A request or response body as recorded: parsed JSON, None when empty, the text otherwise."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _headers(source: Mapping[str, str], names: Iterable[str]) -> dict[str, list[str]]:
    """The named headers that are present, each as a one-value list (the cassettes' form)."""
    lowered = {k.lower(): v for k, v in source.items()}
    return {name: [lowered[name.lower()]] for name in names if name.lower() in lowered}


def from_response(response: requests.Response) -> Call:
    """Turn a requests response (with its request) into a recorded call."""
    request = response.request
    parts = urlsplit(request.url or "")
    return Call(
        method=str(request.method),
        host=parts.netloc,
        path=parts.path,
        query=parts.query or None,
        request_headers=_headers(request.headers, REQUEST_HEADERS),
        request_body=_body(request.body),
        status=response.status_code,
        response_headers=_headers(response.headers, RESPONSE_HEADERS),
        response_body=_body(response.content),
    )


class Capture:
    """Collects every answer a requests session receives, as recorded calls (attach, then read `calls`)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def attach(self, session: requests.Session) -> None:
        """Start recording this session's answers (a response hook; retries are recorded too)."""
        session.hooks.setdefault("response", []).append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls.append(from_response(response))
        return response

    def take(self) -> list[Call]:
        """Return the calls recorded so far and start afresh."""
        calls, self.calls = self.calls, []
        return calls


# ---- scrubbing ------------------------------------------------------------------------------------

SCRUBBED = "scrubbed"
# Keys whose values are a person's details wherever they appear (policyholder, insured, echoes).
PERSONAL: dict[str, Any] = {
    "first_name": SCRUBBED,
    "middle_name": SCRUBBED,
    "last_name": SCRUBBED,
    "email": "scrubbed@example.invalid",
    "secondary_email": "scrubbed@example.invalid",
    "phone": "+10000000000",
    "address1": SCRUBBED,
    "address2": SCRUBBED,
    "city": SCRUBBED,
    "postcode": SCRUBBED,
    "company": SCRUBBED,
    "birth_date": "1900-01-01",
    "age": 0,
    "serial_number": SCRUBBED,
}
# Keys and URL parameters that let someone act on a booking or an account.
SECRET_KEYS = frozenset({"security_token", "signup_token", "customer_token_id"})
SECRET_PARAMS = frozenset({"security_token", "signup_token", "token", "id"})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+\d[\d ]{6,}\d")


@dataclass
class Scrubber:
    """Replaces personal data and secrets while keeping every key and every value's JSON type."""

    secrets: list[str] = field(default_factory=list)
    partner_code: str = ""

    def text(self, value: str) -> str:
        """Scrub one string: known secrets, the partner code, URL tokens, e-mail addresses and phone numbers."""
        for secret in self.secrets:
            if secret:
                value = value.replace(secret, SCRUBBED)
        if self.partner_code:
            code = re.escape(self.partner_code)
            value = re.sub(rf"(?<![\w-]){code}(?![\w-])", "PARTNER", value, flags=re.IGNORECASE)
        if "://" in value or value.startswith("/"):
            value = _scrub_url(value)
        value = _EMAIL.sub("scrubbed@example.invalid", value)
        return _PHONE.sub("+10000000000", value)

    def value(self, value: Any, key: str | None = None) -> Any:
        """Scrub a JSON value found under `key`."""
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key) for v in value]
        if value is None or isinstance(value, bool):
            return value
        if key in PERSONAL:
            replacement = PERSONAL[key]
            if isinstance(value, str):
                return replacement if isinstance(replacement, str) else SCRUBBED
            return 0 if isinstance(value, (int, float)) else value
        if key in SECRET_KEYS and isinstance(value, str):
            return SCRUBBED
        if isinstance(value, str):
            return self.text(value)
        return value

    def call(self, call: Call) -> Call:
        """A scrubbed copy of a call (the path's partner code too)."""
        return Call(
            method=call.method,
            host=call.host,
            path=self.text(call.path),
            query=self.text(call.query) if call.query else call.query,
            request_headers={k: [self.text(v) for v in vs] for k, vs in call.request_headers.items()},
            request_body=self.value(call.request_body),
            status=call.status,
            response_headers=dict(call.response_headers),
            response_body=self.value(call.response_body),
        )


def _scrub_url(value: str) -> str:
    """Blank the token-like query parameters of a URL."""
    parts = urlsplit(value)
    if not parts.query:
        return value
    query = [(k, SCRUBBED if k in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def write(directory: str | Path, files: Mapping[str, list[Call]], readme: str = "") -> list[Path]:
    """Write each file's calls as JSON, with an INDEX.txt (and a README.md when given); return the files."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index: list[str] = []
    for name, calls in files.items():
        path = root / name
        path.write_text(json.dumps([c.to_json() for c in calls], indent=1, ensure_ascii=False) + "\n", "utf-8")
        written.append(path)
        index.append(name)
        index.extend(f"  {c.method} {_index_path(c.path)} -> {c.status}" for c in calls)
    (root / "INDEX.txt").write_text("\n".join(index) + "\n", "utf-8")
    if readme:
        (root / "README.md").write_text(readme, "utf-8")
    return written


def _index_path(path: str) -> str:
    """The path with the partner code shown as {code}, as the shared INDEX.txt writes it."""
    return _PARTNER_PATH.sub(lambda m: f"/partners/{{code}}/{m.group(2)}", path)
