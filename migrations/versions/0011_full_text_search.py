"""Full-text search over items: SQLite FTS5 kept in sync by triggers, PostgreSQL a generated tsvector with GIN.

What is indexed: the title, the summary text and the identifiers (DOI, PMID, NCT id), so a reader who types a DOI
or an NCT id finds the item that carries it in a column and not in its text.

SQLite: ``item_fts`` is an FTS5 *external-content* table over ``item`` (the text is stored once, in ``item``;
FTS5 reads it back for snippets), tokenizer ``porter unicode61 remove_diacritics 2`` (English stems, "sclérose"
finds "sclerose"). Triggers keep it in sync on every write path (the store, a reclassify, a manual fix in the
shell); the update trigger fires only when an indexed column changes, so a poll that touches ``updated_at`` or
the topics costs nothing here. An external-content index must be told the *old* values to delete them, which is
what the triggers do; ``'rebuild'`` fills it from ``item`` (the backfill of existing items).

Beware on SQLite: a later migration that *recreates* ``item`` (``batch_alter_table`` with an operation SQLite's
ALTER cannot do) drops these triggers with the old table; it must create them again (``create_sqlite_triggers``
below shows them). tests/test_search_store.py checks they exist after the whole chain.

PostgreSQL: ``item.search_vector`` is a stored generated column, so every write keeps it right and adding it
computes it for the existing rows (the backfill). Punctuation is turned into spaces before ``to_tsvector`` so the
pieces are the same as FTS5's (``KYV-101`` → ``kyv``, ``101``): the query translator (aggregator/store/search_query.py)
then means the same on both databases. Title weighs A, summary B, identifiers C (``ts_rank_cd`` favours titles).

Neither object is in the models (the FTS5 table is virtual, the column is written by the database only):
migrations/env.py keeps autogenerate from proposing to drop them.

Revision ID: 0011_full_text_search
Revises: 0010_review_labels
Create Date: 2026-12-03 14:40:00
"""
import unicodedata

from alembic import op


revision = '0011_full_text_search'
down_revision = '0010_review_labels'
branch_labels = None
depends_on = None

COLUMNS = "title, summary_text, doi, pmid, nct_id"
_NEW = "new.id, new.title, new.summary_text, new.doi, new.pmid, new.nct_id"
_OLD = "old.id, old.title, old.summary_text, old.doi, old.pmid, old.nct_id"


def _fold_table():
    # Latin letters with diacritics and their base letters (aggregator.store.search_query.fold_table folds the
    # query the same way; a test checks the two agree). translate() is immutable, unaccent() is not.
    source, target = [], []
    for code in range(0xC0, 0x250):
        char = chr(code)
        parts = unicodedata.normalize("NFKD", char)
        if (len(parts) > 1 and parts[0].isascii() and parts[0].isalpha()
                and all(unicodedata.combining(mark) for mark in parts[1:])):
            source.append(char)
            target.append(parts[0])
    return "".join(source), "".join(target)


def _normalised(column):
    source, target = _fold_table()
    return f"translate(regexp_replace(coalesce({column}, ''), '[^[:alnum:]]+', ' ', 'g'), '{source}', '{target}')"


# "the the": two stop words before the summary and the identifiers. tsvector || shifts the right operand's
# positions by the left's largest, so without a gap a title's last word and the summary's first would be
# adjacent and match a phrase neither contains.
_GAP = "'the the ' || "
PG_VECTOR = (
    f"setweight(to_tsvector('english'::regconfig, {_normalised('title')}), 'A') || "
    f"setweight(to_tsvector('english'::regconfig, {_GAP}{_normalised('summary_text')}), 'B') || "
    f"setweight(to_tsvector('english'::regconfig, {_GAP}{_normalised('doi')} || ' ' || {_normalised('pmid')}"
    f" || ' ' || {_normalised('nct_id')}), 'C')"
)


def create_sqlite_triggers():
    op.execute(f"CREATE TRIGGER item_fts_insert AFTER INSERT ON item BEGIN "
               f"INSERT INTO item_fts(rowid, {COLUMNS}) VALUES ({_NEW}); END")
    op.execute(f"CREATE TRIGGER item_fts_delete AFTER DELETE ON item BEGIN "
               f"INSERT INTO item_fts(item_fts, rowid, {COLUMNS}) VALUES ('delete', {_OLD}); END")
    op.execute(f"CREATE TRIGGER item_fts_update AFTER UPDATE OF {COLUMNS} ON item BEGIN "
               f"INSERT INTO item_fts(item_fts, rowid, {COLUMNS}) VALUES ('delete', {_OLD}); "
               f"INSERT INTO item_fts(rowid, {COLUMNS}) VALUES ({_NEW}); END")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE item ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({PG_VECTOR}) STORED")
        op.execute("CREATE INDEX ix_item_search_vector ON item USING gin (search_vector)")
        return
    op.execute(f"CREATE VIRTUAL TABLE item_fts USING fts5({COLUMNS}, content='item', content_rowid='id', "
               "tokenize='porter unicode61 remove_diacritics 2')")
    create_sqlite_triggers()
    op.execute("INSERT INTO item_fts(item_fts) VALUES ('rebuild')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_item_search_vector")
        op.execute("ALTER TABLE item DROP COLUMN search_vector")
        return
    for trigger in ("item_fts_insert", "item_fts_delete", "item_fts_update"):
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE item_fts")
