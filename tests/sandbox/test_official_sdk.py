"""The official xcover-python client, pointed at the standalone sandbox over HTTP: no portal code involved."""

from __future__ import annotations

import pytest
from xcover import XCover, XCoverConfig
from xcover.exceptions import XCoverHttpException

from ..xcover_support import POLICYHOLDER, LiveSandbox, quote_request


def sdk(server: LiveSandbox, **extra: str) -> XCover:
    """The SDK as a partner would configure it (base URL with a trailing slash, as its urljoin needs)."""
    return XCover(
        XCoverConfig(
            base_url=server.url + "/",
            partner_code=server.partner,
            auth_api_key=server.key,
            auth_api_secret=server.secret,
            **extra,
        )
    )


@pytest.mark.parametrize("algorithm", ["hmac-sha256", "hmac-sha384", "hmac-sha512"])
def test_quote_book_preview_and_confirm_cancellation(live_sandbox: LiveSandbox, algorithm: str) -> None:
    client = sdk(live_sandbox, auth_algorithm=algorithm)
    package = client.create_quote(quote_request())
    assert package["status"] == "RECEIVED" and isinstance(package["quotes"], dict)
    quote_id = package["quotes"]["0"]["id"]

    booking = client.create_booking(package["id"], {"quotes": [{"id": quote_id}], "policyholder": POLICYHOLDER})
    assert booking["status"] == "CONFIRMED" and isinstance(booking["quotes"], list)
    assert client.get_booking(package["id"])["id"] == package["id"]

    preview = client.cancel_booking(package["id"], {"preview": True})
    assert preview["cancellation_id"].endswith("-CCL") and preview["confirm_before"]
    assert client.get_booking(package["id"])["status"] == "CONFIRMED"
    done = client.confirm_booking_cancellation(package["id"], preview["cancellation_id"])
    assert done["status"] == "CANCELLED"
    assert client.get_booking(package["id"])["quotes"][0]["status"] == "CANCELLED"


def test_opt_out_and_date_only_signing(live_sandbox: LiveSandbox) -> None:
    client = sdk(live_sandbox, headers="date")
    package = client.create_quote(quote_request())
    assert client.opt_out(package["id"], {"partner_metadata": {"reason": "declined_at_counter"}}) is True
    assert client.get_quote(package["id"])["status"] == "OPTED_OUT"


def test_wrong_secret_is_refused(live_sandbox: LiveSandbox) -> None:
    client = XCover(
        XCoverConfig(
            base_url=live_sandbox.url + "/",
            partner_code=live_sandbox.partner,
            auth_api_key=live_sandbox.key,
            auth_api_secret="not-the-secret",
        )
    )
    with pytest.raises(XCoverHttpException, match="401"):
        client.create_quote(quote_request())
