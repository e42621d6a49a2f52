"""indexes for the reports

Revision ID: 0011
Revises: 0009
The Reports screen aggregates a store's sales over a period: covering indexes let SQLite and PostgreSQL read
the sales, their policies sold, their declines and the open exceptions from the indexes alone; returns by
confirmation time and unconfirmed corrections are found without a scan. Plain index operations: no table is
rebuilt.

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_sale_report", "sale", ["store_id", "created_at", "associate_id", "currency", "xcover_ref"]),
    (
        "ix_sale_open",
        "sale",
        [
            "status",
            "store_id",
            "payment_recorded_at",
            "refunded_at",
            "booking_started_at",
            "associate_id",
            "currency",
            "decline_reason",
        ],
    ),
    ("ix_cover_report", "cover", ["sale_id", "status", "policy_type", "price", "tax"]),
    ("ix_sale_item_decision", "sale_item", ["sale_id", "decision", "decline_reason"]),
    ("ix_policy_return_confirmed", "policy_return", ["status", "confirmed_at"]),
    ("ix_sale_correction_status", "sale_correction", ["status"]),
)


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
