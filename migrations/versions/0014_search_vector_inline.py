"""PostgreSQL: keep item.search_vector in the row (STORAGE MAIN), not in the TOAST table, so that checking and
ranking a search's matches reads each vector from the row in hand.

A tsvector of a 2 kB summary compresses little and went out of line: checking a phrase query's matches
(``@@`` rechecks the heap rows) and ranking them (``ts_rank_cd``) fetched every vector's chunks through the TOAST
index, three to four times the cost of the same work with the vector in the row (docs/benchmark.md, search).
Rows written from now on keep it inline; existing rows move when they are next written, or all at once with
``VACUUM FULL item`` (which locks the table while it rewrites it, so it is left to the operator). SQLite: nothing.

Revision ID: 0014_search_vector_inline
Revises: 0013_item_link_checked_at
Create Date: 2026-12-03 18:00:00
"""
from alembic import op


revision = '0014_search_vector_inline'
down_revision = '0013_item_link_checked_at'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE item ALTER COLUMN search_vector SET STORAGE MAIN")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE item ALTER COLUMN search_vector SET STORAGE EXTENDED")
