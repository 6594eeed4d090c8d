"""`make test` on a machine with nothing but Python: what needs PostgreSQL, Redis or
Chromium is skipped, saying what to set or install (tests/conftest.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.browser import find_chromium
from tests.conftest import missing_services


class _Item:
    """What the skip decision reads from a collected test: its markers."""

    def __init__(self, *marks: pytest.MarkDecorator) -> None:
        self._marks = {mark.name: mark.mark for mark in marks}

    def get_closest_marker(self, name: str):
        return self._marks.get(name)


@pytest.fixture
def on_sqlite_without_redis(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    settings.REDIS_URL = ""


@pytest.fixture
def on_postgres_with_redis(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.postgresql")
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"


def test_an_unmarked_test_runs_anywhere(on_sqlite_without_redis):
    assert missing_services(_Item()) == []


def test_a_postgres_test_on_sqlite_names_the_variable_and_why(on_sqlite_without_redis):
    item = _Item(pytest.mark.postgres("SQLite does not enforce column lengths"))
    assert missing_services(item) == [
        "needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite does not enforce column lengths)"
    ]


def test_a_test_needing_both_services_names_both(on_sqlite_without_redis):
    item = _Item(pytest.mark.postgres, pytest.mark.redis("the broker"))
    reasons = missing_services(item)
    assert [reason.split(":")[0] for reason in reasons] == ["needs PostgreSQL", "needs Redis"]
    assert "REDIS_URL" in reasons[1]
    assert reasons[1].endswith("(the broker)")


def test_service_tests_run_where_the_services_are_configured(on_postgres_with_redis):
    assert missing_services(_Item(pytest.mark.postgres, pytest.mark.redis)) == []


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_chromium_is_found_on_path(tmp_path, monkeypatch):
    browser = _executable(tmp_path / "chromium")
    monkeypatch.delenv("ESTATE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(browser)


def test_without_chromium_browser_tests_are_skipped_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("ESTATE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    assert find_chromium() is None
    monkeypatch.setattr("tests.conftest.CHROMIUM", None)
    assert missing_services(_Item(pytest.mark.browser)) == [
        "needs Chromium: apt-get install chromium, or set ESTATE_CHROMIUM to its path"
    ]


def test_estate_chromium_overrides_path_and_none_hides_the_browser(tmp_path, monkeypatch):
    _executable(tmp_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    elsewhere = _executable(tmp_path / "chrome-for-testing")
    monkeypatch.setenv("ESTATE_CHROMIUM", str(elsewhere))
    assert find_chromium() == str(elsewhere)
    monkeypatch.setenv("ESTATE_CHROMIUM", "none")
    assert find_chromium() is None
    monkeypatch.setattr("tests.conftest.CHROMIUM", None)
    assert missing_services(_Item(pytest.mark.browser)) == [
        "needs Chromium: ESTATE_CHROMIUM='none' is not an executable"
    ]
