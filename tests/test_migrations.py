"""The migrations: one head, and a schema that matches the models exactly."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal.cli import MIGRATIONS
from portal.extensions import db


def test_one_head(app):
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config(MIGRATIONS))
    assert len(script.get_heads()) == 1


@pytest.mark.both_dbs
def test_migrated_schema_matches_the_models(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


@pytest.mark.both_dbs
def test_downgrade_to_base_and_up_again(app):
    downgrade(directory=MIGRATIONS, revision="base")
    upgrade(directory=MIGRATIONS, revision="heads")
    with db.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == ("0014",)


@pytest.mark.both_dbs
def test_0006_moves_the_sandbox_tables_out_of_the_portal(app):
    sandbox_tables = {
        "xcover_sandbox_package",
        "xcover_sandbox_pending",
        "xcover_sandbox_idempotency",
        "xcover_sandbox_fault",
    }
    assert not sandbox_tables & set(sa.inspect(db.engine).get_table_names())
    downgrade(directory=MIGRATIONS, revision="0005")
    assert sandbox_tables <= set(sa.inspect(db.engine).get_table_names())
    upgrade(directory=MIGRATIONS, revision="heads")
    assert not sandbox_tables & set(sa.inspect(db.engine).get_table_names())


@pytest.mark.both_dbs
def test_0014_the_report_index_carries_the_sale_id_on_postgresql(app):
    def definition() -> str:
        with db.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                return conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_sale_report'").scalar()
            return conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_sale_report'").scalar()

    postgresql = db.engine.dialect.name == "postgresql"
    assert ("INCLUDE (id)" in definition()) is postgresql  # SQLite's indexes all hold the rowid
    downgrade(directory=MIGRATIONS, revision="0012")
    assert "INCLUDE" not in definition() and "xcover_ref" in definition()
    upgrade(directory=MIGRATIONS, revision="heads")
    assert ("INCLUDE (id)" in definition()) is postgresql
    if postgresql:  # built CONCURRENTLY beside the old one, then renamed: one index, valid
        with db.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname LIKE 'ix_sale_report%%'"
            ).all()
        assert found == [("ix_sale_report", True)]
