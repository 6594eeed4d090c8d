"""Shared fixtures. AWS is only ever the sandbox: the AWS_* environment is scrubbed."""

from __future__ import annotations

import os

import pytest

from estate import aws

_AWS_ENV = [name for name in os.environ if name.startswith("AWS_")]


def pytest_collection_modifyitems(items):
    """Every transactional test restores the database it found (serialized rollback).

    A transactional test flushes the tables; without serialized rollback the rows that
    data migrations made (the role groups) are gone for later tests, and mixing the two
    styles makes Django reload content types over re-created ones. So all of them use it.
    """
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
