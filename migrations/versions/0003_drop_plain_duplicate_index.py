"""Drop the plain index on item.duplicate_of_id; the partial one of 0002 serves every duplicate lookup.

Nearly every item is a primary (duplicate_of_id IS NULL). With the plain index, SQLite answered
``store._near_candidates`` (``duplicate_of_id IS NULL AND first_seen_at >= ? ORDER BY first_seen_at DESC LIMIT
3000``) by reading every primary item through that index and sorting them all, once per polled source: a first
poll grew quadratically with the number of stored items (8 ms per item at 25,000 items against 4 ms at 5,000,
see docs/benchmark.md). Without it the query walks ix_item_first_seen_at backwards and stops after 3,000 rows.
Lookups by a duplicate's primary (``duplicate_of_id = ?`` / ``IN (...)``, and ON DELETE SET NULL) use the
partial index ix_item_duplicate_of_id_first_seen_at, whose condition they imply.

Revision ID: 0003_drop_plain_duplicate_index
Revises: 0002_item_duplicates
Create Date: 2026-11-21 06:25:00
"""
from alembic import op


revision = '0003_drop_plain_duplicate_index'
down_revision = '0002_item_duplicates'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_duplicate_of_id')


def downgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_duplicate_of_id', ['duplicate_of_id'], unique=False)
