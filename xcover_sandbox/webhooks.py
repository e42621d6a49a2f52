"""Signed BOOKING_* webhooks to the partner's listener, sent in the background with up to 3 attempts."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import requests
from xcover.auth import XCoverAuth
from xcover.config import AuthConfig, SignatureAlgorithm

log = logging.getLogger("xcover_sandbox.webhooks")
ATTEMPTS = 3


def deliver(url: str, key: str, secret: str, event: str, payload: dict[str, Any], retry_delay: float) -> bool:
    """Post one event until the listener answers 2xx, at most 3 times; tell whether it was accepted."""
    auth = XCoverAuth(
        AuthConfig(api_key=key, api_secret=secret, algorithm=SignatureAlgorithm.HMAC_SHA256, headers="date")
    )
    body = json.dumps({"event": event, "payload": payload})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            response = requests.post(
                url,
                data=body,
                auth=auth,
                timeout=(3, 10),
                headers={"Content-Type": "application/json", "X-Api-Key": key},
            )
            if 200 <= response.status_code < 300:
                return True
            outcome = str(response.status_code)
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        log.warning("webhook %s attempt %d failed: %s", event, attempt, outcome)
        if attempt < ATTEMPTS:
            time.sleep(retry_delay * attempt)
    return False


def send_later(config: Any, event: str, payload: dict[str, Any]) -> None:
    """Queue an event for the configured listener without holding up the API response."""
    url = config.get("XCOVER_SANDBOX_WEBHOOK_URL")
    if not url:
        return
    threading.Thread(
        target=deliver,
        name="xcover-sandbox-webhook",
        daemon=True,
        args=(
            url,
            config["XCOVER_SANDBOX_WEBHOOK_KEY"],
            config["XCOVER_SANDBOX_WEBHOOK_SECRET"],
            event,
            payload,
            config["XCOVER_SANDBOX_WEBHOOK_RETRY_DELAY"],
        ),
    ).start()
