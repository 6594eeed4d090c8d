"""Login, logout, failed logins and account changes land in the audit trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from estate.models import Account

pytestmark = pytest.mark.django_db


def test_login_and_logout_through_the_form_are_audited(client):
    # given a user
    User.objects.create_user("bob", password="right-password")
    # when they log in and out through the real views
    response = client.post(reverse("login"), {"username": "bob", "password": "right-password"})
    assert response.status_code == 302
    client.post(reverse("logout"))
    # then both are on the record with the source address
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "username", "outcome"))
    assert actions == [("auth.login", "bob", "success"), ("auth.logout", "bob", "success")]
    assert AuditEvent.objects.filter(source_ip="127.0.0.1").count() == 2


def test_failed_login_is_audited_without_the_password(client):
    client.post(reverse("login"), {"username": "mallory", "password": "guess-1"})
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.outcome == "failure"
    assert event.username == "mallory"
    assert event.actor is None
    assert "guess-1" not in str(event.details)


def test_account_changes_are_audited_with_the_changed_fields():
    account = Account.objects.create(account_id="111111111111", name="prod")
    account.environment = "production"
    account.save()
    account.save()  # no change: nothing recorded
    account.delete()
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == ["account.created", "account.changed", "account.deleted"]
    assert events[1].details["changes"] == {
        "environment": {"from": "development", "to": "production"}
    }
    assert all(e.target == "account 111111111111" for e in events)


def test_account_change_in_the_admin_is_audited_with_the_admin_user(admin_client, admin_user):
    account = Account.objects.create(account_id="222222222222", name="stage")
    response = admin_client.post(
        reverse("admin:estate_account_change", args=[account.pk]),
        {
            "account_id": "222222222222",
            "name": "staging",
            "environment": "staging",
            "role_arn": "",
            "external_id": "",
            "regions": '["us-east-1"]',
            "enabled": "on",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="account.changed")
    assert event.username == admin_user.username
    assert event.source_ip == "127.0.0.1"
    assert event.details["changes"]["name"] == {"from": "stage", "to": "staging"}


def test_other_admin_changes_are_audited(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:auth_group_add"), {"name": "Auditors", "permissions": []}
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.add")
    assert event.username == admin_user.username
    assert event.target == "group Auditors"


def test_a_sync_started_from_a_page_is_audited_and_a_scheduled_one_is_not(client, settings):
    from django.contrib.auth.models import Group

    from estate.models import SyncRun

    # a scheduled run (no request) is not someone's action
    SyncRun.objects.create(triggered_by="schedule", status=SyncRun.Status.SUCCEEDED)
    assert not AuditEvent.objects.filter(action="sync.triggered").exists()
    # an Operator pressing "sync now" is
    Account.objects.create(account_id="333333333333", name="dev")
    user = User.objects.create_user("otto", password="pw")
    user.groups.add(Group.objects.get(name="Operator"))
    client.force_login(user)
    response = client.post(reverse("sync_now"))
    assert response.status_code in (200, 302)
    event = AuditEvent.objects.get(action="sync.triggered")
    assert event.username == "otto"
    assert event.source_ip == "127.0.0.1"
    run = SyncRun.objects.exclude(triggered_by="schedule").get()
    assert event.details["sync_run_id"] == run.pk


def test_a_refused_change_is_audited_as_denied(client):
    from django.contrib.auth.models import Group

    # given a Viewer
    user = User.objects.create_user("vic", password="pw")
    user.groups.add(Group.objects.get(name="Viewer"))
    client.force_login(user)
    # when they try an Admin-only change, and merely read a page they may not see
    assert client.post(reverse("finding_suppress"), {"rule_id": "X"}).status_code == 403
    assert client.get(reverse("users")).status_code == 403
    # then the attempted change is on the record, the read is not
    (event,) = AuditEvent.objects.filter(action="request.denied")
    assert event.username == "vic"
    assert event.outcome == "denied"
    assert event.target == reverse("finding_suppress")
    assert event.details == {"method": "POST"}
