"""The migrations: one head, and a schema that matches the models exactly."""
import pytest
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
        assert MigrationContext.configure(conn).get_current_heads() == ("0006",)
