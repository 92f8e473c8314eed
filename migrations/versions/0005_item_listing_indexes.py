"""Covering indexes for the page and feed lists: the columns their filters and order read (sort_at, id,
source_id, duplicate_of_id, evidence_type), led by sort_at, by id, and by source_id.

An item row holds its summary (0.5-2.5 kB), so on SQLite the columns after it (sort_at, duplicate_of_id) sit in
overflow pages: filtering and sorting a topic's 8,000 matches at 100,000 items read 8,000 overflow chains (18 ms)
to return 25 ids. With these indexes the list is answered from the indexes alone: walking newest first
(``ix_item_listing_time``), probing by id (``ix_item_listing_id``), or walking one source's items newest first
(``ix_item_listing_source``). The two narrower indexes they supersede are dropped: ``ix_item_sort_at_id`` and
``ix_item_source_id`` (same leading columns).

Revision ID: 0005_item_listing_indexes
Revises: 0004_item_updated_at_index
Create Date: 2026-11-21 08:00:00
"""
from alembic import op


revision = '0005_item_listing_indexes'
down_revision = '0004_item_updated_at_index'
branch_labels = None
depends_on = None

LISTED = ['duplicate_of_id', 'evidence_type']


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index('ix_item_listing_time', ['sort_at', 'id', 'source_id', *LISTED], unique=False)
        batch_op.create_index('ix_item_listing_id', ['id', 'sort_at', 'source_id', *LISTED], unique=False)
        batch_op.create_index('ix_item_listing_source', ['source_id', 'sort_at', 'id', *LISTED], unique=False)
        batch_op.drop_index('ix_item_sort_at_id')
        batch_op.drop_index(batch_op.f('ix_item_source_id'))


def downgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_source_id'), ['source_id'], unique=False)
        batch_op.create_index('ix_item_sort_at_id', ['sort_at', 'id'], unique=False)
        batch_op.drop_index('ix_item_listing_source')
        batch_op.drop_index('ix_item_listing_id')
        batch_op.drop_index('ix_item_listing_time')
