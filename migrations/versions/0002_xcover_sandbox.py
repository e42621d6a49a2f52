"""xcover sandbox

Revision ID: 0002
Revises: 0001
The embedded XCover sandbox's state: packages/bookings, pending cancellations and updates,
idempotency keys and injected faults.

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "xcover_sandbox_package",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_xcover_sandbox_package_partner_booked", "xcover_sandbox_package", ["partner", "booked_at"], unique=False
    )
    op.create_table(
        "xcover_sandbox_pending",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("package_id", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("doc", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["xcover_sandbox_package.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_xcover_sandbox_pending_package_id", "xcover_sandbox_pending", ["package_id"], unique=False)
    op.create_table(
        "xcover_sandbox_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("partner", "key", name="uq_xcover_sandbox_idem_key"),
    )
    op.create_index(
        "ix_xcover_sandbox_idempotency_created_at", "xcover_sandbox_idempotency", ["created_at"], unique=False
    )
    op.create_table(
        "xcover_sandbox_fault",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_xcover_sandbox_fault_partner", "xcover_sandbox_fault", ["partner"], unique=False)


def downgrade():
    op.drop_index("ix_xcover_sandbox_fault_partner", table_name="xcover_sandbox_fault")
    op.drop_table("xcover_sandbox_fault")
    op.drop_index("ix_xcover_sandbox_idempotency_created_at", table_name="xcover_sandbox_idempotency")
    op.drop_table("xcover_sandbox_idempotency")
    op.drop_index("ix_xcover_sandbox_pending_package_id", table_name="xcover_sandbox_pending")
    op.drop_table("xcover_sandbox_pending")
    op.drop_index("ix_xcover_sandbox_package_partner_booked", table_name="xcover_sandbox_package")
    op.drop_table("xcover_sandbox_package")
