"""Shared fixtures. AWS is only ever the sandbox: the AWS_* environment is scrubbed."""

from __future__ import annotations

import os

import pytest

from estate import aws

_AWS_ENV = [name for name in os.environ if name.startswith("AWS_")]


@pytest.fixture(autouse=True)
def _sealed_aws(monkeypatch):
    """No real credentials or profiles can leak into a test."""
    for name in _AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    aws.forget_sessions()
    aws.reset_pacers()
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
