"""Hostile input that would reach the database as-is gets a clear answer, never a 500."""

import pytest
from django.urls import reverse

from tests.factories import estate as f

pytestmark = pytest.mark.django_db


def test_a_nul_character_in_a_query_string_is_refused_with_a_clear_400(client):
    client.force_login(f.make_user(role="Viewer"))
    response = client.get(reverse("inventory"), {"q": "orders\x00"})
    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_a_nul_character_in_a_form_field_is_refused_with_a_clear_400(client):
    response = client.post(reverse("login"), {"username": "admin\x00", "password": "x"})
    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_an_over_long_username_is_a_form_error_not_a_server_error(client):
    response = client.post(reverse("login"), {"username": "a" * 10_000, "password": "x"})
    assert response.status_code == 200
    assert b"Ensure this value has at most 150 characters" in response.content


def test_an_over_long_user_agent_does_not_break_a_failed_login(client):
    response = client.post(
        reverse("login"),
        {"username": "nobody", "password": "wrong"},
        HTTP_USER_AGENT="x" * 5000,
        HTTP_ACCEPT="y" * 5000,
    )
    assert response.status_code == 200
    assert b"didn" in response.content or b"correct" in response.content
