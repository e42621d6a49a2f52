"""audit viewer indexes

Revision ID: 0004
Revises: 0001
Indexes the audit viewer and export filter on: a chain by time, by action, by actor.

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = None


# Plain index operations, never a batch table rebuild: rebuilding would drop the append-only triggers.
def upgrade():
    op.drop_index('ix_audit_store_time', table_name='audit_event')
    op.create_index('ix_audit_chain_time', 'audit_event', ['chain_key', 'occurred_at', 'seq'])
    op.create_index('ix_audit_chain_action_time', 'audit_event', ['chain_key', 'action', 'occurred_at'])
    op.create_index('ix_audit_chain_actor_time', 'audit_event', ['chain_key', 'actor_name', 'occurred_at'])


def downgrade():
    op.drop_index('ix_audit_chain_actor_time', table_name='audit_event')
    op.drop_index('ix_audit_chain_action_time', table_name='audit_event')
    op.drop_index('ix_audit_chain_time', table_name='audit_event')
    op.create_index('ix_audit_store_time', 'audit_event', ['store_id', 'occurred_at'])
