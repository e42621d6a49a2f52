"""The sandbox's commands: through its own app, `python -m xcover_sandbox` and `flask --app xcover_sandbox.wsgi`."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from xcover_sandbox import control
from xcover_sandbox.extensions import db
from xcover_sandbox.models import SandboxIdempotency

ROOT = Path(__file__).resolve().parents[2]


def test_fault_clear_faults_and_purge(sandbox_app: Flask) -> None:
    runner = sandbox_app.test_cli_runner()
    result = runner.invoke(args=["fault", "create_booking", "timeout_after_apply", "--seconds", "15"])
    assert result.exit_code == 0 and "Next 1 create_booking call(s): timeout_after_apply." in result.output
    with sandbox_app.app_context():
        assert control.list_faults("DEMO1")[0]["mode"] == "timeout_after_apply"
        db.session.add(
            SandboxIdempotency(
                partner="DEMO1",
                key="old",
                request_hash="x",
                state="done",
                created_at=datetime.now(UTC) - timedelta(hours=49),
            )
        )
        db.session.commit()
    assert "Removed 1" in runner.invoke(args=["clear-faults"]).output
    assert "Purged 1" in runner.invoke(args=["purge"]).output


@pytest.mark.parametrize(
    "args",
    [
        ["nope", "latency"],
        ["*", "sideways"],
        ["*", "latency", "--seconds", "nan"],
        ["*", "latency", "--seconds", "1e400"],
        ["*", "error_500", "--count", "0"],
        ["*", "error_500", "--count", "1000000000000"],
    ],
)
def test_bad_faults_are_refused(sandbox_app: Flask, args: list[str]) -> None:
    result = sandbox_app.test_cli_runner().invoke(args=["fault", *args])
    assert result.exit_code != 0
    with sandbox_app.app_context():
        assert control.list_faults("DEMO1") == []


def run(database_url: str, *command: str) -> str:
    """Run a command in a fresh process against a sandbox database; return its output."""
    env = {**os.environ, "XCOVER_SANDBOX_DATABASE_URL": database_url, "XCOVER_SANDBOX_ENV": "development"}
    done = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_python_m_and_flask_app_reach_the_same_database(sandbox_app: Flask) -> None:
    url = sandbox_app.config["SQLALCHEMY_DATABASE_URI"]
    assert "Next 2 get_booking" in run(url, "-m", "xcover_sandbox", "fault", "get_booking", "error_503", "--count", "2")
    with sandbox_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.table("xcover_sandbox_fault"))) == 1
    assert "Removed 1" in run(url, "-m", "flask", "--app", "xcover_sandbox.wsgi", "clear-faults")
