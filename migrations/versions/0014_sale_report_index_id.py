"""the reports' sale index carries the sale's id on PostgreSQL

Revision ID: 0014
Revises: 0012
The Reports screen joins a period's sales to their covers and items by the sale's id. SQLite keeps the rowid in
every index, so ix_sale_report already covers that; PostgreSQL read the id from the table, page by page. The index
is rebuilt with INCLUDE (id) there, so the period's sales come from the index alone; SQLite's is rebuilt as it was.

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None

COLUMNS = ["store_id", "created_at", "associate_id", "currency", "xcover_ref"]


def upgrade():
    op.drop_index("ix_sale_report", table_name="sale")
    op.create_index("ix_sale_report", "sale", COLUMNS, postgresql_include=["id"])


def downgrade():
    op.drop_index("ix_sale_report", table_name="sale")
    op.create_index("ix_sale_report", "sale", COLUMNS)
