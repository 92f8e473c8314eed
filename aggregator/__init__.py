"""CAR T & MS research aggregator: the Flask app factory. It only wires; it never polls or starts a scheduler."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo

from . import db
from .config import INSTANCE_DIR, Settings, instance_secret_key
from .context import EXTENSION, Services
from .errors import ConfigError, SourceConfigError
from .poll.catalog import load_catalog
from .topics import TopicConfigError, TopicSet, load_topics
from .topics.classify import Classifier
from .topics.rules import parse_config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_aggregator", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._aggregator = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Third-party libraries are noisy at DEBUG/INFO; our own modules keep the chosen level.
    for noisy in ("urllib3", "apscheduler.executors", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))


@functools.lru_cache(maxsize=8)
def compiled_topics(config_json: str) -> TopicSet:
    """Compile the topic rules once per distinct configuration: compiling takes about a second, and the result is
    read-only, so apps built from the same feeds.yaml (tests, the demo) share it."""
    try:
        return load_topics(json.loads(config_json))
    except TopicConfigError as exc:
        raise SourceConfigError(f"feeds.yaml topic rules: {exc}") from None


@functools.lru_cache(maxsize=8)
def checked_topics(config_json: str) -> None:
    """Validate the topic rules (a few milliseconds) without compiling them; raises ``SourceConfigError``."""
    try:
        parse_config(json.loads(config_json))
    except TopicConfigError as exc:
        raise SourceConfigError(f"feeds.yaml topic rules: {exc}") from None


class _LazyMigrate:
    """Flask-Migrate's ``app.extensions["migrate"]`` until something uses it: only then is Flask-Migrate set up.

    Importing Flask-Migrate imports alembic, which was half the start-up of every `flask` command (a poll, the
    scheduler, a web worker; docs/benchmark.md, finding 8) though only `flask db` and ``flask_migrate.upgrade()``
    need it. The first attribute read sets Flask-Migrate up as before (which replaces this object) and answers.
    """

    def __init__(self, app: Flask, database: db.Database) -> None:
        self._app = app
        self._database = database

    def setup(self) -> Any:
        from flask_migrate import Migrate

        Migrate(self._app, self._database, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
        return self._app.extensions["migrate"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.setup(), name)


class _LazyDbGroup(click.Group):
    """The `flask db` command group: becomes Flask-Migrate's own (options, callback, commands) when used."""

    def _load(self, ctx: click.Context) -> None:
        if self.callback is not None:
            return
        from flask_migrate.cli import db as db_group

        migrate = ctx.ensure_object(ScriptInfo).load_app().extensions.get("migrate")
        if isinstance(migrate, _LazyMigrate):
            migrate.setup()
        self.params, self.callback, self.commands = db_group.params, db_group.callback, db_group.commands
        self.help = db_group.help

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self._load(ctx)
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load(ctx)
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(ctx)
        return super().get_command(ctx, cmd_name)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings (defaults → environment → ``test_config``), database, catalog, blueprints, CLI.

    ``test_config`` keys that name a setting (``database_url``, ``feeds_file`` ...) override it; other keys go to
    ``app.config`` (``TESTING``, ``WTF_CSRF_ENABLED`` ...).
    """
    test_config = dict(test_config or {})
    setting_names = {f.name for f in fields(Settings)}
    overrides = {key: test_config.pop(key) for key in list(test_config) if key in setting_names}
    misspelt = sorted(key for key in test_config if key.islower())
    if misspelt:  # Flask's own keys are upper case: a lower-case key must be a setting, probably misspelt
        raise ConfigError(f"Unknown setting(s) {', '.join(misspelt)}; settings are: {', '.join(sorted(setting_names))}")
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level)

    app = Flask(__name__, template_folder="../templates", static_folder="static", instance_path=str(INSTANCE_DIR))
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key or instance_secret_key(),
        MAX_CONTENT_LENGTH=64 * 1024,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
        JSON_SORT_KEYS=False,
    )
    app.config.update(test_config)

    catalog = load_catalog(settings.feeds_path)
    # Checked now, compiled on first use (a poll answered by 304s never classifies; docs/benchmark.md, finding 9).
    topics_json = json.dumps(catalog.topics_config, sort_keys=True)
    checked_topics(topics_json)
    classifier = Classifier(load=functools.partial(compiled_topics, topics_json))
    app.extensions[EXTENSION] = Services(settings=settings, catalog=catalog, classifier=classifier)

    # Retrievers for kinds that need several requests per poll (clinicaltrials, pubmed), with NCBI's key if set.
    from .poll.retrieve import register as register_retrievers

    register_retrievers(settings)

    database = db.init_app(app, settings.database_url)
    app.extensions["migrate"] = _LazyMigrate(app, database)
    app.cli.add_command(_LazyDbGroup("db", help="Database migrations (Flask-Migrate)."))

    from .web import init_app as init_web

    init_web(app)

    from .cli import init_app as init_cli

    init_cli(app)
    return app
