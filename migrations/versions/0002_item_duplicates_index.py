"""Partial index on item (duplicate_of_id, first_seen_at) for the duplicates of a page's items.

``store.also_reported`` asks for ``duplicate_of_id IN (<the 25 items of a page>) ORDER BY first_seen_at``. Once
SQLite has statistics (ANALYZE, or ``PRAGMA optimize``), the plain index on duplicate_of_id looks useless to it
(nearly every row is NULL, and sqlite_stat1 does not tell NULLs apart), so it walked the whole table in
first_seen_at order instead: 300 ms per page at 100,000 items (see docs/benchmark.md). A partial index holds only
the duplicates, so its statistics are right and it stays small.

Revision ID: 0002_item_duplicates
Revises: 0001_initial
Create Date: 2026-11-21 05:55:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002_item_duplicates'
down_revision = '0001_initial'
branch_labels = None
depends_on = None

WHERE = sa.text("duplicate_of_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_duplicate_of_id_first_seen_at', ['duplicate_of_id', 'first_seen_at'],
                              unique=False, sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.drop_index('ix_item_duplicate_of_id_first_seen_at')
