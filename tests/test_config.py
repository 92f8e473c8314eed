from __future__ import annotations

import pytest

from aggregator.config import OPTIONS, Settings, markdown_table
from aggregator.errors import ConfigError


def test_defaults_are_documented_and_valid() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("instance/aggregator.db")
    assert settings.feeds_file == "feeds.yaml"
    assert settings.base_url == "http://127.0.0.1:5000"
    assert settings.log_level == "INFO"
    table = markdown_table()
    for option in OPTIONS:
        assert f"`{option.env}`" in table


def test_every_option_maps_to_a_setting() -> None:
    names = set(Settings.__dataclass_fields__)
    assert {option.attr for option in OPTIONS} <= names


@pytest.mark.parametrize(
    ("env", "attr", "expected"),
    [
        ({"DATABASE_URL": "postgresql+psycopg://u@h/db"}, "database_url", "postgresql+psycopg://u@h/db"),
        ({"BASE_URL": "https://example.org/"}, "base_url", "https://example.org"),
        ({"LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"POLL_WORKERS": "8"}, "poll_workers", 8),
        ({"FETCH_TOTAL_TIMEOUT": "2.5"}, "fetch_total_timeout", 2.5),
        ({"SMTP_SECURITY": "STARTTLS"}, "smtp_security", "starttls"),
    ],
)
def test_values_are_parsed(env: dict[str, str], attr: str, expected: object) -> None:
    assert getattr(Settings.from_env(env), attr) == expected


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"BASE_URL": "example.org"}, "BASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"POLL_WORKERS": "0"}, "POLL_WORKERS"),
        ({"POLL_WORKERS": "many"}, "POLL_WORKERS"),
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY"),
        ({"DIGEST_TIME": "25:00"}, "DIGEST_TIME"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(env)


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"BASE_URL": "x", "POLL_WORKERS": "-1"})
    assert "BASE_URL" in str(info.value) and "POLL_WORKERS" in str(info.value)


def test_readme_configuration_table_is_current() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "README's configuration table is stale: regenerate it from aggregator/config.py"


def test_a_misspelt_setting_is_refused(tmp_path: object) -> None:
    from aggregator import create_app

    with pytest.raises(ConfigError, match="Unknown setting.*page_sise"):
        create_app({"page_sise": 5})


@pytest.mark.parametrize(("cores", "expected"), [(1, 0), (2, 2), (4, 4)])
def test_parse_processes_default_to_one_per_core_and_none_on_one_core(
    monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert Settings.from_env({}).poll_parse_processes == expected
    assert Settings.from_env({"POLL_PARSE_PROCESSES": "AUTO"}).poll_parse_processes == expected
    assert Settings.from_env({"POLL_PARSE_PROCESSES": "0"}).poll_parse_processes == 0
    assert Settings.from_env({"POLL_PARSE_PROCESSES": "3"}).poll_parse_processes == 3


def test_parse_processes_must_be_auto_or_a_count() -> None:
    with pytest.raises(ConfigError, match="POLL_PARSE_PROCESSES"):
        Settings.from_env({"POLL_PARSE_PROCESSES": "-1"})
    with pytest.raises(ConfigError, match="POLL_PARSE_PROCESSES"):
        Settings.from_env({"POLL_PARSE_PROCESSES": "lots"})
