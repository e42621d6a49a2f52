"""Raw signed HTTP to a live sandbox, signing as XCover documents it (with knobs to get it wrong on purpose)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..xcover_support import LiveSandbox, booking_payload, quote_request

HASHES = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}


class Signer(requests.auth.AuthBase):
    """Signs like XCover documents, with knobs to get it wrong on purpose."""

    def __init__(
        self,
        key: str,
        secret: str,
        algorithm: str = "hmac-sha512",
        headers: str | None = None,
        when: datetime | None = None,
        urlsafe: bool = False,
        api_key_header: str | None = None,
        url_encode: bool = True,
    ) -> None:
        self.key, self.secret, self.algorithm, self.headers = key, secret, algorithm, headers
        self.when, self.urlsafe, self.api_key_header = when, urlsafe, api_key_header
        self.url_encode = url_encode

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        moment = self.when or datetime.now(UTC)
        request.headers["Date"] = format_datetime(moment, usegmt=True)
        lines = []
        for name in (self.headers or "date").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {request.method.lower()} {urlsplit(request.url).path}")  # type: ignore[union-attr]
            else:
                lines.append(f"{name}: {request.headers[name]}")
        digest = hmac.new(self.secret.encode(), "\n".join(lines).encode(), HASHES[self.algorithm]).digest()
        encoded = (base64.urlsafe_b64encode if self.urlsafe else base64.b64encode)(digest).decode()
        params = f'keyId="{self.key}",algorithm="{self.algorithm}",'
        if self.headers:
            params += f'headers="{self.headers}",'
        signature = quote(encoded, safe="") if self.url_encode else encoded
        request.headers["Authorization"] = f'Signature {params}signature="{signature}"'
        if self.api_key_header is not None:
            request.headers["X-Api-Key"] = self.api_key_header
        return request


class Api:
    """Raw signed HTTP to the sandbox, for checking status codes and bodies exactly."""

    def __init__(self, server: LiveSandbox) -> None:
        self.server = server
        self.partner, self.key, self.secret = server.partner, server.key, server.secret

    def url(self, path: str, partner: str | None = None) -> str:
        return f"{self.server.url}/partners/{partner or self.partner}/{path}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: Signer | None = None,
        idem: str | None = None,
        partner: str | None = None,
    ) -> requests.Response:
        headers = {"Content-Type": "application/json"}
        if idem:
            headers["x-idempotency-key"] = idem
        data = json.dumps(body) if body is not None else None
        return requests.request(
            method,
            self.url(path, partner),
            data=data,
            headers=headers,
            auth=auth or Signer(self.key, self.secret),
            timeout=10,
        )

    def quote(self, **kwargs: Any) -> dict[str, Any]:
        response = self.call("POST", "quotes/", quote_request(**kwargs))
        assert response.status_code == 201, response.text
        return response.json()

    def book(self, **holder: Any) -> dict[str, Any]:
        package = self.quote()
        response = self.call(
            "POST",
            f"bookings/{package['id']}/",
            booking_payload(package["quotes"]["0"]["id"], **holder),
            idem=str(uuid.uuid4()),
        )
        assert response.status_code == 200, response.text
        return response.json()
