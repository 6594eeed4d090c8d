"""Shared fixtures. AWS is only ever the sandbox: the AWS_* environment is scrubbed.

What a test needs beyond Python is said with a marker, and this module alone decides
to skip it, with a reason that says what to set or install:

- ``@pytest.mark.postgres("why")``: the test database must be PostgreSQL (DATABASE_URL);
- ``@pytest.mark.redis("why")``: Redis must be configured (REDIS_URL);
- ``@pytest.mark.browser``: drives Chromium (found by tests.browser.find_chromium).

Everything else runs on a bare machine: SQLite, local-memory cache, no browser.
ESTATE_REQUIRE_SERVICES=1 (CI's full run) turns such a skip into an error.
"""

from __future__ import annotations

import os

import pytest
from django.conf import settings

from estate import aws
from tests.browser import CHROMIUM, INSTALL_HINT

_AWS_ENV = [name for name in os.environ if name.startswith("AWS_")]


def _why(item: pytest.Item, name: str) -> str:
    marker = item.get_closest_marker(name)
    why = (marker.args[0] if marker.args else marker.kwargs.get("reason", "")) if marker else ""
    return f" ({why})" if why else ""


def missing_services(item: pytest.Item) -> list[str]:
    """What ``item`` needs and is not configured here, each with what to set or install."""
    missing = []
    if item.get_closest_marker("postgres") and (
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        missing.append("needs PostgreSQL: set DATABASE_URL=postgres://..." + _why(item, "postgres"))
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        missing.append("needs Redis: set REDIS_URL=redis://..." + _why(item, "redis"))
    if item.get_closest_marker("browser") and CHROMIUM is None:
        configured = os.environ.get("ESTATE_CHROMIUM")
        where = f"ESTATE_CHROMIUM={configured!r} is not an executable" if configured else ""
        missing.append(f"needs Chromium: {where or INSTALL_HINT}")
    return missing


_REFUSED = pytest.StashKey[str]()


def skip_for_missing_services(items, *, required: bool = False) -> list[str]:
    """Mark each test whose service is not configured as skipped, saying why. With
    ``required`` (CI's full run: ESTATE_REQUIRE_SERVICES=1) nothing may be skipped so:
    such a test fails instead (pytest_runtest_setup); their ids are returned."""
    refused = []
    for item in items:
        missing = "; ".join(missing_services(item))
        if missing and required:
            item.stash[_REFUSED] = missing
            refused.append(item.nodeid)
        elif missing:
            item.add_marker(pytest.mark.skip(reason=missing))
    return refused


def pytest_runtest_setup(item):
    missing = item.stash.get(_REFUSED, "")
    if missing:
        pytest.fail(f"ESTATE_REQUIRE_SERVICES is set: {missing}", pytrace=False)


def pytest_collection_modifyitems(items):
    """Skip what needs a service that is not configured (see the module docstring), and
    make every transactional test restore the database it found (serialized rollback).

    A transactional test flushes the tables; without serialized rollback the rows that
    data migrations made (the role groups) are gone for later tests, and mixing the two
    styles makes Django reload content types over re-created ones. So all of them use it.
    """
    skip_for_missing_services(
        items, required=os.environ.get("ESTATE_REQUIRE_SERVICES", "") not in ("", "0")
    )
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = bool(
            marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
        ) or any(name in item.fixturenames for name in ("transactional_db", "live_server"))
        if transactional and "django_db_serialized_rollback" not in item.fixturenames:
            item.fixturenames.append("django_db_serialized_rollback")


def _forget_shared_polls() -> None:
    from operations import polling

    polling.reset()


@pytest.fixture(autouse=True)
def _sealed_aws(monkeypatch):
    """No real credentials or profiles can leak into a test."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    aws.forget_sessions()
    aws.reset_pacers()
    _forget_shared_polls()
    yield
    aws.forget_sessions()
    aws.reset_pacers()


@pytest.fixture(scope="session")
def sandbox_server():
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings):
    """A clean sandbox for this test; Estate's settings point at it."""
    sandbox_server.reset()
    settings.AWS_ENDPOINT_URL = sandbox_server.url
    yield sandbox_server
    sandbox_server.reset()
