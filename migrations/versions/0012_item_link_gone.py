"""item.link_gone and item.link_gone_at: the item's own link answered 404 or 410, so feeds and emails link to its
permalink page (/items/<id>) instead.

Revision ID: 0012_item_link_gone
Revises: 0011_full_text_search
Create Date: 2026-12-03 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_item_link_gone'
down_revision = '0011_full_text_search'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_gone', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('link_gone_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), never a copy of the table: a copy would lose the full-text
    # search triggers on item (0011_full_text_search).
    with op.batch_alter_table('item', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('link_gone_at')
        batch_op.drop_column('link_gone')
