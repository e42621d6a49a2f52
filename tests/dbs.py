"""Fresh, migrated databases for tests: SQLite files copied from a template, PostgreSQL from a template DB."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import sqlalchemy as sa

import xcover_sandbox
from portal import create_app
from portal.cli import init_db

FAST_HASHING = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024}


def pg_admin_url() -> str | None:
    """Return the PostgreSQL server URL the tests may create databases on, if any."""
    return os.environ.get("TEST_DATABASE_URL") or None


def _migrate(url: str) -> None:
    """Run the migrations against a database URL."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, **FAST_HASHING})
    with app.app_context():
        init_db()
        from portal.extensions import db

        db.engine.dispose()


def create_sandbox_tables(url: str) -> None:
    """Let the XCover sandbox create its tables in a database, as it does on start."""
    app = xcover_sandbox.create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from xcover_sandbox.extensions import db

        db.engine.dispose()


class SqliteFactory:
    """Hands out copies of one prepared SQLite file (migrated for the portal by default)."""

    def __init__(self, workdir: Path, prepare: Callable[[str], None] = _migrate) -> None:
        self.workdir = workdir
        self.template = workdir / "template.db"
        prepare(f"sqlite:///{self.template}")
        # Fold the WAL into the main file so a plain copy is complete.
        engine = sa.create_engine(f"sqlite:///{self.template}")
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def new(self) -> str:
        """Return the URL of a fresh copy of the template."""
        path = self.workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"


class PostgresFactory:
    """Hands out databases cloned from one migrated template database."""

    def __init__(self, admin_url: str) -> None:
        self.admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
        self.template = f"portal_tpl_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = [self.template]
        self._exec(f'CREATE DATABASE "{self.template}"')
        _migrate(self._url(self.template))
        with psycopg.connect(self.admin) as conn:
            version = int(conn.execute("SHOW server_version_num").fetchone()[0])
        # From PostgreSQL 15 a clone logs every page to the WAL by default; copying the files is three times
        # faster for a small template on a test server.
        self.clone = " STRATEGY FILE_COPY" if version >= 150000 else ""

    def _exec(self, sql: str) -> None:
        """Run one statement outside a transaction on the server's admin database."""
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)

    def _url(self, name: str) -> str:
        """Return the SQLAlchemy URL of a database on the server."""
        base = self.admin.rsplit("/", 1)[0]
        return f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"

    def new(self) -> str:
        """Return the URL of a fresh migrated database."""
        name = f"portal_t_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"{self.clone}')
        self.created.append(name)
        return self._url(name)

    def new_empty(self) -> str:
        """Return the URL of a fresh empty database (the XCover sandbox creates its own tables)."""
        name = f"portal_s_{uuid.uuid4().hex[:12]}"
        self._exec(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        """Drop every database this factory made."""
        for name in reversed(self.created):
            self._exec(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
