"""Scan instead of type, server side: the buttons and their words, the camera allowed on the products screen only,
the decoder vendored with its licence and not loaded by the page itself."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from portal.security import CAMERA_PERMISSIONS, CSP, PERMISSIONS
from tests.conftest import ROOT
from tests.test_sales_views import start_sale

VENDOR = ROOT / "static" / "vendor" / "zxing-library"


def test_products_screen_has_a_scan_button_beside_sku_and_serial(seller: FlaskClient) -> None:
    page = seller.get("/sales/new").get_data(as_text=True)
    for field in ("items-0-sku", "items-0-serial_number"):
        assert re.search(rf'<button type="button" class="btn scan-button" hidden data-scan-for="{field}"', page)
        assert f'<p class="scan-message" id="{field}-scan" role="status" aria-live="polite"></p>' in page
    assert "/static/vendor/zxing-library/zxing.min.js" in page  # named for scan.js to load on tap ...
    assert '<script src="/static/vendor' not in page  # ... never loaded with the page
    assert "/static/js/scan.js" in page


def test_only_the_products_screen_may_use_the_camera(seller: FlaskClient) -> None:
    new = seller.get("/sales/new")
    assert new.headers["Permissions-Policy"] == CAMERA_PERMISSIONS == "camera=(self), microphone=(), geolocation=()"
    sale_id = start_sale(seller)
    assert seller.get(f"/sales/{sale_id}/edit").headers["Permissions-Policy"] == CAMERA_PERMISSIONS
    for path in ("/", "/sales/", f"/sales/{sale_id}/options"):
        assert (
            seller.get(path).headers["Permissions-Policy"] == PERMISSIONS == "camera=(), microphone=(), geolocation=()"
        )
    assert new.headers["Content-Security-Policy"] == CSP  # unchanged: the decoder is plain JavaScript


def test_the_decoder_is_vendored_with_its_licence_and_needs_no_eval() -> None:
    decoder = (VENDOR / "zxing.min.js").read_text(encoding="utf-8")
    assert "Apache License" in (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "0.23.0" in (VENDOR / "README.md").read_text(encoding="utf-8")
    assert "new Function" not in decoder and "eval(" not in decoder and "WebAssembly" not in decoder
    for reader in ("EAN13Reader", "Code128Reader", "Code39Reader", "QRCodeReader", "DataMatrixReader"):
        assert reader in decoder, reader
