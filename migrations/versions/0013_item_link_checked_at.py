"""item.link_checked_at: when the link checker (link_check.py) last tried the item's own link; least recent first.

Revision ID: 0013_item_link_checked_at
Revises: 0012_item_link_gone
Create Date: 2026-12-03 15:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013_item_link_checked_at'
down_revision = '0012_item_link_gone'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_checked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+), never a copy of the table: a copy would lose the full-text
    # search triggers on item (0011_full_text_search).
    with op.batch_alter_table('item', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('link_checked_at')
