"""audit viewer indexes

Revision ID: 0004
Revises: 0001
Indexes for the audit viewer and export: a chain by time, by action, by actor and by object (a sale's
timeline, an XCover reference). They replace the foundation's single-column indexes, which cannot
serve "this store's events, newest first".

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


# SQLite plans from sqlite_stat1. Without it, it walks a whole chain in time order to avoid a sort
# rather than use the object index, so a sale's timeline would read every event of its store. These
# rows describe a chain's shape (about 100,000 events per store, a few per object, many per action or
# person); a later ANALYZE replaces them with measured ones.
SQLITE_STATS = [
    ("{unique}", "1000000 100000 1"),
    ("ix_audit_chain_time", "1000000 100000 1 1"),
    ("ix_audit_chain_action_time", "1000000 100000 10000 1"),
    ("ix_audit_chain_actor_time", "1000000 100000 5000 1"),
    ("ix_audit_chain_object_time", "1000000 100000 5 1"),
]


def _sqlite_stats():
    """Give SQLite's planner representative statistics for the audit indexes."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("ANALYZE sqlite_schema")  # creates sqlite_stat1 if it does not exist yet
    op.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'audit_event'")
    # The (chain_key, seq) unique constraint is SQLite's only automatic index on the table (no SQL text).
    unique = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_event' AND sql IS NULL"
        )
        .scalar_one()
    )
    for index, stat in SQLITE_STATS:
        op.execute(
            f"INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('audit_event', "
            f"'{index.format(unique=unique)}', '{stat}')"
        )
    op.execute("ANALYZE sqlite_schema")  # makes open connections reread the statistics


# Plain index operations, never a batch table rebuild: rebuilding would drop the append-only triggers.
def upgrade():
    op.drop_index("ix_audit_store_time", table_name="audit_event")
    op.drop_index("ix_audit_object", table_name="audit_event")
    op.drop_index("ix_audit_event_action", table_name="audit_event")
    op.create_index("ix_audit_chain_time", "audit_event", ["chain_key", "occurred_at", "seq"])
    op.create_index("ix_audit_chain_action_time", "audit_event", ["chain_key", "action", "occurred_at"])
    op.create_index("ix_audit_chain_actor_time", "audit_event", ["chain_key", "actor_name", "occurred_at"])
    op.create_index("ix_audit_chain_object_time", "audit_event", ["chain_key", "object_id", "occurred_at"])
    _sqlite_stats()


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'audit_event'")
    op.drop_index("ix_audit_chain_object_time", table_name="audit_event")
    op.drop_index("ix_audit_chain_actor_time", table_name="audit_event")
    op.drop_index("ix_audit_chain_action_time", table_name="audit_event")
    op.drop_index("ix_audit_chain_time", table_name="audit_event")
    op.create_index("ix_audit_store_time", "audit_event", ["store_id", "occurred_at"])
    op.create_index("ix_audit_object", "audit_event", ["object_type", "object_id"])
    op.create_index("ix_audit_event_action", "audit_event", ["action"])
