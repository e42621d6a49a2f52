"""Checking a partner's HMAC signature as XCover documents it, on top of the official xcover-python signer's rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

from xcover.config import AuthConfig

MISMATCH = "Signature string does not match!"
MALFORMED = "Authorization field missing, malformed or invalid"
# hmac-sha1 is deprecated by XCover but still accepted; the SDK knows only the SHA-2 family.
HASHES: dict[str, Any] = {
    "hmac-sha1": hashlib.sha1,
    **{algorithm.value: function for algorithm, function in AuthConfig.SUPPORTED_ALGORITHMS.items()},
}
_PARAM = re.compile(r'\s*([A-Za-z]+)="([^"]*)"\s*(?:,|$)')


class AuthFailure(Exception):
    """The request is not signed by the configured partner."""


@dataclass(frozen=True)
class _Signed:
    """What the SDK's signing-string builder reads from a request."""

    method: str
    url: str
    headers: Mapping[str, str]


def same_text(given: str, expected: str) -> bool:
    """Compare in constant time; any text (a header may carry non-ASCII) compares as UTF-8 bytes."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


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


def expected_signature(
    secret: str, algorithm: str, headers_param: str, method: str, path: str, headers: Mapping[str, str]
) -> str:
    """Standard base64 of the HMAC over the SDK's signing string (`date: ...`, or draft-cavage lines)."""
    names = headers_param.split()
    if any(name != "(request-target)" and headers.get(name) is None for name in names):
        raise AuthFailure(MALFORMED)
    # The SDK builds the string from a request; the algorithm given to it only matters for hashing, done here.
    text = AuthConfig(api_key="", api_secret=secret, headers=headers_param).build_string_to_sign(
        _Signed(method, path, headers)
    )  # type: ignore[arg-type]
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8", "surrogatepass"), HASHES[algorithm]).digest()
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
    if not same_text(params["keyId"], api_key):
        raise AuthFailure(MISMATCH)
    sent_key = headers.get("X-Api-Key")
    if sent_key is not None and not same_text(sent_key, api_key):
        raise AuthFailure(MISMATCH)
    expected = expected_signature(api_secret, algorithm, headers_param, method, path, headers)
    sent = params["signature"]
    # XCover documents the base64 as URL-encoded (+ / = as %2B %2F %3D); raw base64 is refused.
    if any(c in sent for c in "+/=") or not same_text(unquote(sent), expected):
        raise AuthFailure(MISMATCH)
    try:
        dated = parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError, IndexError, OverflowError):
        raise AuthFailure(MALFORMED) from None
    if dated.tzinfo is None:
        dated = dated.replace(tzinfo=UTC)
    skew = abs(((now or datetime.now(UTC)) - dated).total_seconds())
    if skew > max_skew:
        raise AuthFailure(f"Request date is {int(skew)} s from the server clock (at most {int(max_skew)} s allowed).")
