"""the reports' sale index carries the sale's id on PostgreSQL

Revision ID: 0014
Revises: 0012
The Reports screen joins a period's sales to their covers and items by the sale's id. SQLite keeps the rowid in
every index, so ix_sale_report already covers that; PostgreSQL read the id from the table, page by page. The index
is rebuilt with INCLUDE (id) there, so the period's sales come from the index alone, without blocking writes to
the sale table while it builds (CONCURRENTLY); SQLite's is rebuilt as it was.

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ["store_id", "created_at", "associate_id", "currency", "xcover_ref"]


def _rebuild(include: list[str]) -> None:
    """Build the index again, with these columns included on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index("ix_sale_report", table_name="sale")
        op.create_index("ix_sale_report", "sale", COLUMNS)
        return
    # CONCURRENTLY, so a big sale table keeps taking sales while the index builds; it cannot run inside a
    # transaction. The new index is built beside the old, which is dropped only once the new one is ready.
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_sale_report_new")  # left invalid by an interrupted run
        op.create_index("ix_sale_report_new", "sale", COLUMNS, postgresql_include=include, postgresql_concurrently=True)
        op.drop_index("ix_sale_report", table_name="sale", postgresql_concurrently=True)
        op.execute("ALTER INDEX ix_sale_report_new RENAME TO ix_sale_report")


def upgrade():
    _rebuild(["id"])


def downgrade():
    _rebuild([])
