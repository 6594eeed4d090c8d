"""User management for Admins: invite, set password, role, deactivate, unlock."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from estate.roles import role_of

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("users"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["nobody", "viewer", "operator"])
def test_only_admins_manage_users(client, request, who, viewer):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("users")).status_code == 403
    assert (
        client.post(reverse("user_invite"), {"username": "x", "role": "Admin"}).status_code == 403
    )
    assert client.post(reverse("user_role", args=[viewer.pk]), {"role": "Admin"}).status_code == 403
    assert client.post(reverse("user_active", args=[viewer.pk]), {"active": "0"}).status_code == 403
    assert role_of(viewer) == "Viewer"


def test_admin_sees_the_users_page_and_the_htmx_partial(client, admin, viewer):
    client.force_login(admin)
    page = client.get(reverse("users"))
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert "vera" in page.content.decode()
    partial = client.get(reverse("users"), HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode()
    assert partial.content.decode().strip().startswith('<section id="users-table">')


def test_invite_shows_a_one_time_link_that_sets_the_password(client, admin):
    # given an Admin inviting an operator
    client.force_login(admin)
    response = client.post(
        reverse("user_invite"),
        {"username": "new-op", "email": "op@example.com", "role": "Operator"},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    link = re.search(r"<code>(http[^<]+)</code>", response.content.decode()).group(1)
    user = User.objects.get(username="new-op")
    assert not user.has_usable_password()
    assert role_of(user) == "Operator"
    assert AuditEvent.objects.filter(action="user.invited", target="user new-op").exists()
    # when the invitee follows the link and picks a password
    client.logout()
    form = client.get(link, follow=True)
    assert form.status_code == 200
    set_url = form.redirect_chain[-1][0] if form.redirect_chain else link
    done = client.post(
        set_url, {"new_password1": "a-long-Password-42", "new_password2": "a-long-Password-42"}
    )
    assert done.status_code == 302
    # then they can log in, and the link is dead
    assert client.login(username="new-op", password="a-long-Password-42")
    client.logout()
    assert "no longer valid" in client.get(link, follow=True).content.decode()
    assert AuditEvent.objects.filter(action="user.password_set").exists()


def test_invite_refuses_a_taken_or_bad_username(client, admin, viewer):
    client.force_login(admin)
    taken = client.post(reverse("user_invite"), {"username": "VERA", "role": "Viewer"})
    assert taken.status_code == 400
    assert "already exists" in taken.content.decode()
    bad = client.post(reverse("user_invite"), {"username": "<b>x</b>", "role": "Root"})
    assert bad.status_code == 400
    assert "<b>x</b>" not in bad.content.decode()
    assert not AuditEvent.objects.filter(action="user.invited").exists()


def test_admin_changes_a_role_and_it_is_audited(client, admin, viewer):
    client.force_login(admin)
    response = client.post(reverse("user_role", args=[viewer.pk]), {"role": "Operator"})
    assert response.status_code == 302
    assert role_of(viewer) == "Operator"
    event = AuditEvent.objects.get(action="user.role_changed")
    assert event.details == {"from": "Viewer", "to": "Operator"}


def test_admin_cannot_change_their_own_role_or_deactivate_themselves(client, admin):
    client.force_login(admin)
    client.post(reverse("user_role", args=[admin.pk]), {"role": "Viewer"})
    client.post(reverse("user_active", args=[admin.pk]), {"active": "0"})
    admin.refresh_from_db()
    assert role_of(admin) == "Admin"
    assert admin.is_active
    page = client.get(reverse("users")).content.decode()
    assert "cannot change your own role" in page
    assert "cannot deactivate yourself" in page


def test_deactivated_user_is_logged_out_and_cannot_log_in(client, admin, viewer):
    other = client.__class__()
    other.force_login(viewer)
    assert other.get(reverse("audit")).status_code == 200
    client.force_login(admin)
    client.post(reverse("user_active", args=[viewer.pk]), {"active": "0"})
    viewer.refresh_from_db()
    assert not viewer.is_active
    assert other.get(reverse("audit")).status_code == 302  # session no longer valid
    assert not other.login(username="vera", password="pw-vera")
    assert AuditEvent.objects.filter(action="user.deactivated", target="user vera").exists()
    client.post(reverse("user_active", args=[viewer.pk]), {"active": "1"})
    viewer.refresh_from_db()
    assert viewer.is_active


def test_admin_unlocks_a_locked_out_user(client, admin, viewer, settings):
    settings.AXES_FAILURE_LIMIT = 2
    for attempt in range(2):
        client.post(reverse("login"), {"username": "vera", "password": f"bad-{attempt}"})
    assert (
        client.post(reverse("login"), {"username": "vera", "password": "pw-vera"}).status_code
        == 429
    )
    client.force_login(admin)
    client.post(reverse("user_unlock", args=[viewer.pk]))
    client.logout()
    assert (
        client.post(reverse("login"), {"username": "vera", "password": "pw-vera"}).status_code
        == 302
    )
    assert AuditEvent.objects.filter(action="user.unlocked").exists()


def test_users_page_query_count_does_not_grow_with_users(client, admin):
    client.force_login(admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("users")).status_code == 200
        return len(captured.captured_queries)

    small = count()
    for i in range(30):
        User.objects.create_user(f"user{i}")
    assert count() == small


def test_services_refuse_non_admins_whatever_the_caller(viewer, operator):
    from django.core.exceptions import PermissionDenied

    from guard import users as user_services

    with pytest.raises(PermissionDenied):
        user_services.invite(username="x", email="", role="Admin", by=operator)
    with pytest.raises(PermissionDenied):
        user_services.change_role(viewer, "Admin", by=operator)
    with pytest.raises(PermissionDenied):
        user_services.set_active(viewer, False, by=operator)
    with pytest.raises(PermissionDenied):
        user_services.unlock(viewer, by=operator)
    assert not User.objects.filter(username="x").exists()
    assert role_of(viewer) == "Viewer"
