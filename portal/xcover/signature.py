"""XCover's HMAC signature checked the way XCover documents it (reference section 2): the portal checks
XCover's webhooks with it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from requests.structures import CaseInsensitiveDict

HASHES = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}
MISMATCH = "Signature string does not match!"
MALFORMED = "Authorization field missing, malformed or invalid"
_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')


class AuthFailure(Exception):
    """The request is not signed by the configured partner."""


def parse_authorization(value: str) -> dict[str, str]:
    """Split `Signature keyId="..",algorithm="..",signature=".."` into its parameters."""
    if not value.startswith("Signature "):
        raise AuthFailure(MALFORMED)
    rest = value[len("Signature ") :].strip()
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match:
            raise AuthFailure(MALFORMED)
        params[match.group(1)] = match.group(2)
        pos = match.end()
    if not {"keyId", "algorithm", "signature"} <= params.keys():
        raise AuthFailure(MALFORMED)
    return params


def signing_string(headers_param: str, method: str, path: str, headers: Mapping[str, str]) -> str:
    """Build the text that was signed: `date: <Date>` by default, draft-cavage lines when `headers=` is given."""
    lines = []
    for name in headers_param.split():
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {path}")
        else:
            value = headers.get(name)
            if value is None:
                raise AuthFailure(MALFORMED)
            lines.append(f"{name.lower()}: {value}")
    return "\n".join(lines)


def _same(given: str, expected: str) -> bool:
    """Compare in constant time; header text may hold non-ASCII, which compare_digest refuses as str."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def signature(secret: str, text: str, algorithm: str) -> str:
    """Standard base64 of the HMAC of text under secret (not yet URL-encoded)."""
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), HASHES[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    api_key: str,
    api_secret: str,
    max_skew: float,
    now: datetime | None = None,
) -> None:
    """Raise AuthFailure unless the request carries a valid signature by this key within the clock skew."""
    params = parse_authorization(headers.get("Authorization", ""))
    algorithm = params["algorithm"].lower()
    if algorithm not in HASHES:
        raise AuthFailure(MALFORMED)
    headers_param = params.get("headers", "date")
    if "date" not in headers_param.split():
        raise AuthFailure(MALFORMED)
    if not _same(params["keyId"], api_key):
        raise AuthFailure(MISMATCH)
    sent_key = headers.get("X-Api-Key")
    if sent_key is not None and not _same(sent_key, api_key):
        raise AuthFailure(MISMATCH)
    expected = signature(api_secret, signing_string(headers_param, method, path, headers), algorithm)
    if not _same(unquote(params["signature"]), expected):
        raise AuthFailure(MISMATCH)
    try:
        sent = parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        raise AuthFailure(MALFORMED) from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
    if skew > max_skew:
        raise AuthFailure(f"Request date is {int(skew)} s from the server clock (at most {int(max_skew)} s allowed).")


def verify_webhook(
    headers: Mapping[str, str],
    api_key: str,
    api_secret: str,
    max_skew: float = 300.0,
    path: str = "/",
    now: datetime | None = None,
) -> bool:
    """Tell whether an incoming XCover webhook is signed with the key and secret we gave XCover.

    Header names are matched whatever their case (HTTP's rule), so a plain dict of headers works too.
    """
    try:
        verify(
            method="POST",
            path=path,
            headers=CaseInsensitiveDict(headers),
            api_key=api_key,
            api_secret=api_secret,
            max_skew=max_skew,
            now=now,
        )
    except AuthFailure:
        return False
    return True
