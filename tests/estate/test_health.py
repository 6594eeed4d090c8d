"""/healthz: what a container health check or a load balancer calls."""

import pytest
from django.db import DatabaseError

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_healthz_is_not_redirected_to_https_when_everything_else_is(client, settings):
    # Given production's HTTPS redirect
    settings.SECURE_SSL_REDIRECT = True
    # Then the health check still answers over plain HTTP, and a page does not
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 301


def test_healthz_says_503_when_the_database_is_unreachable(client, monkeypatch):
    from estate.views import health

    class Broken:
        def __enter__(self):
            raise DatabaseError("connection refused")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(health.connection, "cursor", lambda: Broken())
    response = client.get("/healthz")
    assert response.status_code == 503
