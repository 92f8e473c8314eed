"""Trial alerts in the weekly email (subscriber.trials, subscriber.country); registry sources read in full again.

A trial's details (sites with their own status, eligibility essentials, enrollment, contacts, dates) are kept in
its item's ``extra`` JSON, which needs no schema change. For them to arrive, the registry sources must be read
in full once: their ETag and Last-Modified are forgotten here, or an unchanged first page would answer 304 and
the stored records would stay without details until the registry next changed them. A snapshot from before
this revision has none of the new facts, so that first full read records no change (``trial_diff``).

Revision ID: 0009_trial_details
Revises: 0005_item_listing_indexes
Create Date: 2026-12-03 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_trial_details'
down_revision = '0005_item_listing_indexes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trials', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))
        batch_op.add_column(sa.Column('country', sa.String(length=64), nullable=True))
    op.execute("UPDATE source SET etag = NULL, last_modified = NULL "
               "WHERE kind IN ('clinicaltrials', 'ctis') OR url LIKE '%euclinicaltrials.eu/%'")


def downgrade():
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('country')
        batch_op.drop_column('trials')
