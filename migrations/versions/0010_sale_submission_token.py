"""one new-sale form makes one sale

Revision ID: 0010
Revises: 0008
A new-sale form carries a one-time token; the sale it starts keeps it under a unique index, so the same
form sent again (a triple tap) lands on that sale instead of making another.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sale", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_token", sa.String(length=36), nullable=True))
        batch_op.create_index("uq_sale_submission_token", ["submission_token"], unique=True)


def downgrade():
    # A rebuild on SQLite: the sale table may carry a table-level reference (catalogue_version_id) that a native
    # DROP COLUMN refuses to re-parse.
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "auto"
    with op.batch_alter_table("sale", schema=None, recreate=recreate) as batch_op:
        batch_op.drop_index("uq_sale_submission_token")
        batch_op.drop_column("submission_token")
