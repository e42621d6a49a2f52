"""quick switch: PINs and the devices people signed in on fully

Revision ID: 0013
Revises: 0009
A person may set a six-digit PIN (user_pin: its argon2id hash and the wrong PINs in a row); a PIN
unlocks only on a device (device_sign_in: the device cookie's random id) where that person signed
in with their password lately. New tables only: user_account is never rebuilt.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user_pin",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pin_hash", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "device_sign_in",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("signed_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_id", "user_id"),
    )
    op.create_index("ix_device_sign_in_device_time", "device_sign_in", ["device_id", "signed_in_at"])


def downgrade():
    op.drop_index("ix_device_sign_in_device_time", table_name="device_sign_in")
    op.drop_table("device_sign_in")
    op.drop_table("user_pin")
