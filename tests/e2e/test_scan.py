"""Scan instead of type: Chromium's fake camera shows a Code 128 label; Scan fills the serial number in.

The camera feed is a Y4M file drawn here (python-barcode and Pillow), played by Chromium as the only camera
(--use-fake-device-for-media-stream, --use-file-for-fake-video-capture; --use-fake-ui-for-media-stream
grants the permission a person would).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM_ARGS, DEMO_PASSWORD, LiveServer, chromium_path, ipad_context, small_targets

SERIAL = "SN-4711-CX9"
WIDTH, HEIGHT = 640, 480


def code128_y4m(text: str, path: Path, frames: int = 3) -> Path:
    """Draw a Code 128 label of the text in the middle of a white 640x480 frame, as a YUV 4:2:0 Y4M video."""
    from barcode import Code128
    from barcode.writer import ImageWriter
    from PIL import Image

    label = Code128(text, writer=ImageWriter()).render({"module_width": 0.3, "module_height": 14, "quiet_zone": 4})
    label.thumbnail((WIDTH - 40, HEIGHT - 40))
    frame = Image.new("RGB", (WIDTH, HEIGHT), "white")
    frame.paste(label.convert("RGB"), ((WIDTH - label.width) // 2, (HEIGHT - label.height) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


@pytest.fixture
def camera_ipad(playwright_instance: Any, live_server: LiveServer, tmp_path: Path) -> Iterator[Any]:
    """An iPad page in a Chromium of its own whose rear camera films a Code 128 label of SERIAL."""
    video = code128_y4m(SERIAL, tmp_path / "serial-label.y4m")
    browser = playwright_instance.chromium.launch(
        executable_path=chromium_path(),
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    context = ipad_context(browser, playwright_instance, live_server)
    context.grant_permissions(["camera"], origin=live_server.url)
    yield context.new_page()
    context.close()
    browser.close()


def sign_in_on(page: Any, username: str = "ldn.alex") -> Any:
    """Sign in through the real form."""
    page.goto("/auth/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").tap()
    page.wait_for_url(lambda url: "/auth/sign-in" not in url)
    return page


def test_a_serial_is_scanned_from_a_label(camera_ipad: Any) -> None:
    page = sign_in_on(camera_ipad)
    decoder = []
    page.on("request", lambda request: decoder.append(request.url) if "zxing" in request.url else None)
    page.goto("/sales/new")
    button = page.locator("#items-0-serial_number-scan-button")
    expect(button).to_be_visible()
    expect(page.locator("#items-0-sku-scan-button")).to_be_visible()
    assert small_targets(page) == []
    assert decoder == []  # the decoder is not loaded until Scan is tapped
    button.tap()
    expect(page.locator("#items-0-serial_number")).to_have_value(SERIAL, timeout=30000)
    expect(page.locator("#items-0-serial_number-scan")).to_contain_text("Scanned and filled in")
    expect(page.locator(".scan-panel")).to_have_count(0)  # the camera is closed again
    assert len(decoder) == 1 and "/static/vendor/zxing-library/zxing.min.js" in decoder[0]


def test_without_a_camera_the_field_stays_typeable_and_says_why(sign_in: Callable[[str], Any]) -> None:
    """The shared browser has no camera at all: Scan explains, the field takes typing."""
    page = sign_in("ldn.alex")
    page.goto("/sales/new")
    page.locator("#items-0-serial_number-scan-button").tap()
    message = page.locator("#items-0-serial_number-scan")
    expect(message).to_have_text(re.compile("Type the code instead"), timeout=15000)
    expect(message).to_have_class(re.compile("scan-bad"))
    page.locator("#items-0-serial_number").fill("TYPED-123")
    expect(page.locator("#items-0-serial_number")).to_have_value("TYPED-123")
    expect(page.locator(".scan-panel")).to_have_count(0)


def test_a_refused_camera_permission_says_so(browser: Any, playwright_instance: Any, live_server: LiveServer) -> None:
    """With a camera but the permission refused, Scan says the camera is not allowed."""
    context = ipad_context(browser, playwright_instance, live_server)
    try:
        page = sign_in_on(context.new_page())
        page.goto("/sales/new")
        # Refuse the camera as the person would: getUserMedia rejects with NotAllowedError.
        page.evaluate(
            """() => { navigator.mediaDevices.getUserMedia = () =>
                 Promise.reject(new DOMException("Permission denied", "NotAllowedError")); }"""
        )
        page.locator("#items-0-sku-scan-button").tap()
        expect(page.locator("#items-0-sku-scan")).to_contain_text("The camera is not allowed for this site")
        page.locator("#items-0-sku").fill("5012345678900")
        expect(page.locator("#items-0-sku")).to_have_value("5012345678900")
    finally:
        context.close()
