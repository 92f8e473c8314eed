"""Alembic environment: the URL and metadata come from the running app (aggregator.db.Database)."""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

database = current_app.extensions["migrate"].db  # aggregator.db.Database
target_metadata = database.metadata


def _skip_empty(context_: Any, _revision: Any, directives: list[Any]) -> None:
    # An autogenerate that finds no change writes no file (Flask-Migrate's own template does the same).
    if getattr(config.cmd_opts, "autogenerate", False) and directives and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Migrations must not import the app's models (they change); UTCDateTime is a plain timezone-aware DateTime.
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    return False


# Full-text search objects the models do not describe (migration 0011): the FTS5 table and its shadow tables on
# SQLite, the generated column and its GIN index on PostgreSQL. Autogenerate must not propose to drop them.
_SEARCH_COLUMNS = {"search_vector"}
_SEARCH_INDEXES = {"ix_item_search_vector"}


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    if type_ == "table" and name is not None and name.startswith("item_fts"):
        return False
    return not (type_ == "index" and name in _SEARCH_INDEXES)


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    return not (reflected and type_ == "column" and name in _SEARCH_COLUMNS)


def run_migrations_offline() -> None:
    context.configure(url=database.url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with database.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            process_revision_directives=_skip_empty,
            render_item=_render_item,
            include_name=_include_name,
            include_object=_include_object,
            render_as_batch=True,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
