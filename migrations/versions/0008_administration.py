"""administration: temporary passwords, store phone country, the offer catalogue in the database

Revision ID: 0008
Revises: 0007
People get a must-change-password flag (temporary passwords), stores a default phone country, and the
offer catalogue moves from configuration into versioned tables (offer_catalogue, offer_category,
offer_line); each sale records the catalogue version that quoted it. `flask init-db` seeds version 1
from OFFER_CATALOGUE (or the built-in default) once the tables exist.

Only ADD COLUMN on existing tables: a SQLite batch rebuild of store or user_account would have to drop
a table the audit log still refers to.

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "user_account",
        sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("store", sa.Column("phone_country", sa.String(length=2), nullable=False, server_default=""))
    op.execute("UPDATE store SET phone_country = country")

    op.create_table(
        "offer_catalogue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_by_id", sa.Integer(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_sample", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'retired', 'discarded')", name="ck_offer_catalogue_status"
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["published_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_index(
        "uq_offer_catalogue_one_draft",
        "offer_catalogue",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'draft'"),
        postgresql_where=sa.text("status = 'draft'"),
    )
    op.create_index(
        "uq_offer_catalogue_one_published",
        "offer_catalogue",
        ["status"],
        unique=True,
        sqlite_where=sa.text("status = 'published'"),
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_table(
        "offer_category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("catalogue_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["catalogue_id"], ["offer_catalogue.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("catalogue_id", "key", name="uq_offer_category_key"),
    )
    op.create_index("ix_offer_category_catalogue_id", "offer_category", ["catalogue_id"])
    op.create_table(
        "offer_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("policy_type", sa.String(length=64), nullable=False),
        sa.Column("policy_type_version", sa.String(length=64), nullable=False),
        sa.Column("cover_term_months", sa.Integer(), nullable=True),
        sa.Column("check_result", sa.String(length=16), nullable=False),
        sa.Column("check_detail", sa.JSON(), nullable=True),
        sa.CheckConstraint("check_result IN ('unchecked', 'accepted', 'refused')", name="ck_offer_line_check"),
        sa.CheckConstraint("cover_term_months IS NULL OR cover_term_months > 0", name="ck_offer_line_term"),
        sa.ForeignKeyConstraint(["category_id"], ["offer_category.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_offer_line_category_id", "offer_line", ["category_id"])
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with its REFERENCES in place (no table rebuild); alembic would try ALTER CONSTRAINT.
        op.execute("ALTER TABLE sale ADD COLUMN catalogue_version_id INTEGER REFERENCES offer_catalogue (id)")
    else:
        op.add_column("sale", sa.Column("catalogue_version_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_sale_catalogue_version_id_offer_catalogue", "sale", "offer_catalogue", ["catalogue_version_id"], ["id"]
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # A rebuild: a later migration's rebuild may have made the column's REFERENCES a table-level foreign key,
        # which a native DROP COLUMN refuses.
        with op.batch_alter_table("sale", schema=None, recreate="always") as batch_op:
            batch_op.drop_column("catalogue_version_id")
    else:
        op.drop_constraint("fk_sale_catalogue_version_id_offer_catalogue", "sale", type_="foreignkey")
        op.drop_column("sale", "catalogue_version_id")
    op.drop_index("ix_offer_line_category_id", table_name="offer_line")
    op.drop_table("offer_line")
    op.drop_index("ix_offer_category_catalogue_id", table_name="offer_category")
    op.drop_table("offer_category")
    op.drop_index("uq_offer_catalogue_one_published", table_name="offer_catalogue")
    op.drop_index("uq_offer_catalogue_one_draft", table_name="offer_catalogue")
    op.drop_table("offer_catalogue")
    op.drop_column("store", "phone_country")
    op.drop_column("user_account", "must_change_password")
