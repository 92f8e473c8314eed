"""Reviewer verdicts: one row per item and topic that a reviewer put in or took out (``flask label``).

The verdict overrides the rules for that item and topic: ``item_topic`` follows it, and ``reclassify`` and
every poll apply it again. Deleting the item deletes its verdicts.

Revision ID: 0010_review_labels
Revises: 0009_trial_details
Create Date: 2026-12-03 14:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010_review_labels'
down_revision = '0009_trial_details'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'review_label',
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('topic_id', sa.String(length=64), nullable=False),
        sa.Column('verdict', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_review_label_item_id_item'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('item_id', 'topic_id', name=op.f('pk_review_label')),
    )


def downgrade():
    op.drop_table('review_label')
