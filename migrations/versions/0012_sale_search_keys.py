"""sale search keys

Revision ID: 0012
Revises: 0009
Normalised, indexed search keys on sales (reference, receipt, email, name both ways round) and items (serial
number), plus a (store, phone) index: a search is a few index lookups however many sales a store has.

"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None

BATCH = 1000
SALE_KEYS = (("ref_key", 40), ("receipt_key", 64), ("email_key", 254), ("name_key", 170), ("surname_key", 170))
SALE_INDEXES = (
    ("ix_sale_store_ref_key", "ref_key"),
    ("ix_sale_store_receipt_key", "receipt_key"),
    ("ix_sale_store_email_key", "email_key"),
    ("ix_sale_store_phone", "phone"),
    ("ix_sale_store_name_key", "name_key"),
    ("ix_sale_store_surname_key", "surname_key"),
)


# The normalisers as they were when this revision was written (portal/models.py), so that it never changes.
def name_key(text):
    plain = "".join(c for c in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(c))
    plain = re.sub(r"['’`]", "", plain.casefold())
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def code_key(text):
    return re.sub(r"[\W_]+", "", (text or "").upper())


def key_type(length):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _backfill(table, columns, keys):
    """Fill the new keys of existing rows, a batch at a time."""
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, *columns).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            conn.execute(sa.update(table).where(table.c.id == row.id).values(**keys(row)))
        last = rows[-1].id


def upgrade():
    with op.batch_alter_table("sale") as batch:
        for name, length in SALE_KEYS:
            batch.add_column(sa.Column(name, key_type(length), nullable=True))
    with op.batch_alter_table("sale_item") as batch:
        batch.add_column(sa.Column("serial_key", key_type(64), nullable=True))
    sale = sa.table(
        "sale",
        *(sa.column(c) for c in ("id", "xcover_ref", "receipt_number", "email", "first_name", "last_name")),
        *(sa.column(name) for name, _ in SALE_KEYS),
    )
    _backfill(
        sale,
        [sale.c.xcover_ref, sale.c.receipt_number, sale.c.email, sale.c.first_name, sale.c.last_name],
        lambda r: {
            "ref_key": code_key(r.xcover_ref) or None,
            "receipt_key": code_key(r.receipt_number) or None,
            "email_key": (r.email or "").strip().casefold(),
            "name_key": name_key(f"{r.first_name} {r.last_name}"),
            "surname_key": name_key(f"{r.last_name} {r.first_name}"),
        },
    )
    item = sa.table("sale_item", sa.column("id"), sa.column("serial_number"), sa.column("serial_key"))
    _backfill(item, [item.c.serial_number], lambda r: {"serial_key": code_key(r.serial_number) or None})
    for index, column in SALE_INDEXES:
        op.create_index(index, "sale", ["store_id", column])
    op.create_index("ix_sale_item_serial_key", "sale_item", ["serial_key"])


def downgrade():
    op.drop_index("ix_sale_item_serial_key", table_name="sale_item")
    for index, _ in SALE_INDEXES:
        op.drop_index(index, table_name="sale")
    with op.batch_alter_table("sale_item") as batch:
        batch.drop_column("serial_key")
    with op.batch_alter_table("sale") as batch:
        for name, _ in reversed(SALE_KEYS):
            batch.drop_column(name)
