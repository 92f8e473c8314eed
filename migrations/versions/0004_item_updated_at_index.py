"""Index item.updated_at: max(updated_at) is the change marker behind feed ETags and the cached momentum chart.

Without it, every feed revalidation (If-None-Match) had to count the matches of its topic; with it, a 304 costs
two index lookups (store.change_marker).

Revision ID: 0004_item_updated_at_index
Revises: 0003_drop_plain_duplicate_index
Create Date: 2026-11-21 06:55:00
"""
from alembic import op


revision = '0004_item_updated_at_index'
down_revision = '0003_drop_plain_duplicate_index'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_updated_at'), ['updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_updated_at'))
