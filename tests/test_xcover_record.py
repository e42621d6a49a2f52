"""`flask xcover record`: the sale's lifecycle against the configured XCover, written scrubbed as recordings,
which the contract tests then check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from portal.sales.record import TEST_CUSTOMER
from portal.xcover.recording import Call, Scrubber, load

from .conftest import ROOT, build_stack, dispose
from .xcover_support import LiveSandbox

LIFECYCLE = [
    ("record_book_and_cancel.json", "create_quote", 201),
    ("record_book_and_cancel.json", "create_booking", 200),
    ("record_book_and_cancel.json", "get_booking", 200),
    ("record_book_and_cancel.json", "cancel", 200),
    ("record_book_and_cancel.json", "confirm_cancellation", 200),
    ("record_book_and_cancel.json", "get_booking", 200),
    ("record_opt_out.json", "create_quote", 201),
    ("record_opt_out.json", "opt_out", 204),
    ("record_opt_out.json", "get_quote", 200),
]


def leaks(directory: Path, app: Flask) -> list[str]:
    """Which personal details or secrets of the recording session appear anywhere in the written files."""
    text = "\n".join(p.read_text() for p in directory.iterdir()).lower()
    secrets = [app.config["XCOVER_API_KEY"], app.config["XCOVER_API_SECRET"], app.config["XCOVER_PARTNER_CODE"]]
    personal = [v for k, v in TEST_CUSTOMER.items() if v and k not in ("country", "city")]
    found = [s for s in (*secrets, *personal) if s.lower() in text]
    tokens = {
        c.response_body.get("security_token")
        for r in load(directory)
        for c in [r.call]
        if isinstance(c.response_body, dict) and c.response_body.get("security_token")
    }
    return found + [f"token {t}" for t in tokens if t != "scrubbed"]


def test_the_recorder_writes_the_lifecycle_scrubbed(app: Flask, runner, tmp_path: Path) -> None:
    out = tmp_path / "staging"
    result = runner.invoke(args=["xcover", "record", "--out", str(out)])
    assert result.exit_code == 0, result.output
    recorded = load(out)
    assert [(r.file, r.call.operation, r.call.status) for r in recorded] == LIFECYCLE
    assert (out / "INDEX.txt").read_text().startswith("record_book_and_cancel.json\n  POST ")
    assert "pytest tests/contracts --xcover-recordings" in (out / "README.md").read_text()
    assert leaks(out, app) == []
    booked = recorded[1].call
    holder = booked.request_body["policyholder"]
    assert holder["first_name"] == "scrubbed" and holder["email"] == "scrubbed@example.invalid"
    assert "language" not in holder and booked.request_headers["x-idempotency-key"]
    assert "/partners/PARTNER/" in booked.path
    assert recorded[3].call.request_body == {"preview": True}
    assert recorded[7].call.request_body == {
        "partner_metadata": {"decline_reason": "not_interested", "sale_id": "recorder"}
    }


def test_a_failed_step_is_written_and_exits_1(app: Flask, sandbox: Flask, runner, tmp_path: Path) -> None:
    assert sandbox.test_cli_runner().invoke(args=["fault", "create_booking", "decline"]).exit_code == 0
    out = tmp_path / "declined"
    result = runner.invoke(args=["xcover", "record", "--out", str(out)])
    assert result.exit_code == 1 and "Stopped at book" in result.output
    calls = [(r.call.operation, r.call.status) for r in load(out)]
    assert calls == [("create_quote", 201), ("create_booking", 422)]
    assert "It stopped at: book." in (out / "README.md").read_text()


def test_an_unknown_category_is_a_failure_not_a_crash(app: Flask, runner, tmp_path: Path) -> None:
    result = runner.invoke(args=["xcover", "record", "--out", str(tmp_path / "x"), "--category", "boats"])
    assert result.exit_code == 1 and "no cover for the category 'boats'" in result.output


@pytest.mark.parametrize(
    "value, key, scrubbed",
    [
        ("Ada", "first_name", "scrubbed"),
        (41, "age", 0),
        (None, "phone", None),
        ("write to ada@example.com or +44 7700 900123", "message", "write to scrubbed@example.invalid or +10000000000"),
        (
            "https://x.test/coi/A-INS?security_token=abc&lang=en",
            "url",
            "https://x.test/coi/A-INS?security_token=scrubbed&lang=en",
        ),
        ("/xcover/partners/LLODT/quotes/", None, "/xcover/partners/PARTNER/quotes/"),
        ("llodt", "slug", "PARTNER"),
        ("tok-123", "security_token", "scrubbed"),
    ],
)
def test_the_scrubber_keeps_keys_and_types(value: object, key: str | None, scrubbed: object) -> None:
    assert Scrubber(partner_code="LLODT").value(value, key) == scrubbed


def test_the_scrubber_replaces_known_secrets_in_every_string() -> None:
    call = Call("GET", "h", "/p", "key=sekret-key", {}, {"note": "sekret-key"}, 200, {}, {"a": ["x sekret-key y"]})
    scrubbed = json.dumps(Scrubber(secrets=["sekret-key"]).call(call).to_json())
    assert "sekret-key" not in scrubbed and scrubbed.count("scrubbed") == 3


def test_contract_tests_pass_on_a_recording_made_over_http(
    database_url: str, sandbox_database_url: str, tmp_path: Path
) -> None:
    server = LiveSandbox(sandbox_database_url)
    app = build_stack(
        database_url,
        sandbox_database_url,
        {
            "XCOVER_BASE_URL": server.url,
            "XCOVER_PARTNER_CODE": server.partner,
            "XCOVER_API_KEY": server.key,
            "XCOVER_API_SECRET": server.secret,
        },
    )
    out = tmp_path / "over-http"
    try:
        with app.app_context():
            result = app.test_cli_runner().invoke(args=["xcover", "record", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert {r.call.host for r in load(out)} == {server.url.removeprefix("http://")}
        assert leaks(out, app) == []
    finally:
        dispose(app)
        server.stop()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/contracts",
            "--xcover-recordings",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout and "failed" not in run.stdout
