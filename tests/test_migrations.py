"""Alembic is the only source of the schema: upgrade from empty, no drift against the models, downgrade to empty."""

from __future__ import annotations

from pathlib import Path

from flask_migrate import check, downgrade, upgrade
from sqlalchemy import inspect

from aggregator import create_app
from aggregator.db import get_database


def test_upgrade_check_and_downgrade(any_db_url: str, feeds_file: Path) -> None:
    app = create_app({"database_url": any_db_url, "feeds_file": str(feeds_file), "secret_key": "x"})
    try:
        with app.app_context():
            upgrade()
            tables = set(inspect(get_database(app).engine).get_table_names())
            assert {
                "source",
                "item",
                "item_topic",
                "item_event",
                "subscriber",
                "delivery",
                "lease",
                "review_label",
                "alembic_version",
            } <= tables
            check()  # raises if the models and the migrations disagree
            downgrade(revision="base")
            assert set(inspect(get_database(app).engine).get_table_names()) <= {"alembic_version"}
            upgrade()
    finally:
        get_database(app).dispose()


def test_every_migration_is_reviewed_and_named() -> None:
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    for script in versions.glob("*.py"):
        text = script.read_text()
        assert "please adjust" not in text, f"{script.name} still has Alembic's unreviewed marker"
        assert "aggregator.models" not in text, f"{script.name} imports the models; migrations must stand alone"
