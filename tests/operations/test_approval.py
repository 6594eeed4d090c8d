"""Four-eyes (issue 6): a destructive operation on a production resource waits for a
second Admin, who approves or rejects it with a comment; unapproved requests expire."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from estate import roles
from estate.models import DbInstance, Environment
from operations import engine
from operations.models import Operation, State
from operations.services import (
    OperationConflict,
    OperationRefused,
    approve_operation,
    reap_overdue,
    reject_operation,
    start_operation,
)
from tests.driving import drive
from tests.factories.operations import (
    _user,
    create_instance,
    mirror,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def replica(account, rds):
    """A read replica to promote (promotion is destructive: Admin only)."""
    create_instance(rds, "billing", multi_az=True)
    wait_available(rds, instances=["billing"])
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-ro", SourceDBInstanceIdentifier="billing"
    )
    wait_available(rds, instances=["billing-ro"])
    mirror(account, rds)
    return DbInstance.objects.select_related("account").get(identifier="billing-ro")


@pytest.fixture
def production(account):
    account.environment = Environment.PRODUCTION
    account.save()
    return account


@pytest.fixture
def second_admin(db):
    return _user("eve", roles.ADMIN)


def _promote(replica, who) -> Operation:
    return start_operation(
        "promote_read_replica", replica, {"confirm": "billing-ro"}, requested_by=who
    )


def test_production_destructive_request_waits_and_calls_nothing(production, replica, admin_user):
    op = _promote(replica, admin_user)
    assert op.state == State.AWAITING_APPROVAL
    assert op.approval_expires_at > timezone.now() + timedelta(hours=23)
    assert engine.advance(op.pk, force=True) is None  # nothing runs it, even forced
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL
    assert mutating_calls("PromoteReadReplica") == []
    assert "Waiting for a second Admin's approval" in [e.message for e in op.events.all()]
    assert AuditEvent.objects.filter(action="operation.approval_requested").count() == 1


def test_staging_destructive_request_runs_at_once(account, replica, admin_user):
    account.environment = Environment.STAGING
    account.save()
    op = _promote(replica, admin_user)
    assert op.state == State.QUEUED
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error


def test_requester_cannot_approve_their_own(production, replica, admin_user):
    op = _promote(replica, admin_user)
    with pytest.raises(OperationRefused, match="different Admin"):
        approve_operation(op, by=admin_user, comment="looks fine to me")
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL


def test_operator_cannot_approve(production, replica, admin_user, operator, client):
    op = _promote(replica, admin_user)
    with pytest.raises(PermissionDenied):
        approve_operation(op, by=operator, comment="ok")
    client.force_login(operator)
    response = client.post(reverse("operations:approve", args=[op.pk]), {"comment": "ok"})
    assert response.status_code == 403
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL


def test_second_admin_approves_with_comment_and_it_runs(
    production, replica, admin_user, second_admin, client
):
    op = _promote(replica, admin_user)
    client.force_login(second_admin)
    page = client.get(op.get_absolute_url())
    assert reverse("operations:approve", args=[op.pk]) in page.content.decode()
    response = client.post(
        reverse("operations:approve", args=[op.pk]), {"comment": "change CHG-42 agreed"}
    )
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == State.QUEUED
    assert op.approved_by == second_admin
    assert op.decision_comment == "change CHG-42 agreed"
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("PromoteReadReplica")) == 1
    assert AuditEvent.objects.filter(action="operation.approved").count() == 1


def test_second_approval_loses(production, replica, admin_user, second_admin):
    op = _promote(replica, admin_user)
    stale = Operation.objects.get(pk=op.pk)
    approve_operation(op, by=second_admin, comment="go")
    third = _user("carol", roles.ADMIN)
    with pytest.raises(OperationRefused):
        reject_operation(stale, by=third, comment="no")
    stale.refresh_from_db()
    assert stale.state == State.QUEUED


def test_reject_cancels_with_the_comment_and_calls_nothing(
    production, replica, admin_user, second_admin
):
    op = _promote(replica, admin_user)
    op = reject_operation(op, by=second_admin, comment="not during the sale")
    assert op.state == State.CANCELLED
    assert engine.advance(op.pk, force=True) is None
    assert mutating_calls("PromoteReadReplica") == []
    assert any("not during the sale" in e.message for e in op.events.all())
    assert AuditEvent.objects.filter(action="operation.rejected").count() == 1


def test_unapproved_request_expires_via_the_reaper(
    production, replica, admin_user, second_admin, settings
):
    settings.OPERATIONS_APPROVAL_TTL_SECONDS = 60
    op = _promote(replica, admin_user)
    reap_overdue(now=timezone.now() + timedelta(seconds=61))
    op.refresh_from_db()
    assert op.state == State.CANCELLED
    assert "Approval expired" in [e.message for e in op.events.all()]
    assert AuditEvent.objects.filter(action="operation.approval_expired").count() == 1
    with pytest.raises(OperationRefused):
        approve_operation(op, by=second_admin, comment="too late")
    assert mutating_calls("PromoteReadReplica") == []


def test_empty_comment_is_refused(production, replica, admin_user, second_admin, client):
    op = _promote(replica, admin_user)
    with pytest.raises(OperationRefused, match="comment is required"):
        approve_operation(op, by=second_admin, comment="   ")
    client.force_login(second_admin)
    response = client.post(reverse("operations:reject", args=[op.pk]), {"comment": ""})
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL


def test_second_request_while_awaiting_is_refused(production, replica, admin_user, second_admin):
    first = _promote(replica, admin_user)
    with pytest.raises(OperationConflict):
        _promote(replica, second_admin)
    assert Operation.objects.filter(target_arn=first.target_arn).count() == 1


# --- refused decisions are on the record ----------------------------------------------


def test_a_forged_approval_by_the_requester_changes_nothing_and_is_audited(
    production, replica, admin_user, client
):
    op = _promote(replica, admin_user)
    client.force_login(admin_user)
    response = client.post(
        reverse("operations:approve", args=[op.pk]), {"comment": "approving my own"}
    )
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL
    assert op.approved_by is None
    refused = AuditEvent.objects.get(action="operation.approve_refused")
    assert refused.outcome == "denied"
    assert refused.actor == admin_user
    assert refused.target == op.target_arn
    assert refused.details["operation"] == op.pk
    assert "different Admin" in refused.details["reason"]
    assert not AuditEvent.objects.filter(action="operation.approved").exists()


def test_a_non_admin_approval_is_refused_and_audited(production, replica, admin_user, operator):
    op = _promote(replica, admin_user)
    with pytest.raises(PermissionDenied):
        approve_operation(op, by=operator, comment="ok")
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL
    refused = AuditEvent.objects.get(action="operation.approve_refused")
    assert (refused.outcome, refused.actor) == ("denied", operator)
    assert "Only an Admin" in refused.details["reason"]


def test_a_non_admin_approve_post_is_audited_as_denied(
    production, replica, admin_user, operator, client
):
    op = _promote(replica, admin_user)
    client.force_login(operator)
    url = reverse("operations:approve", args=[op.pk])
    assert client.post(url, {"comment": "ok"}).status_code == 403
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL
    denied = AuditEvent.objects.get(action="request.denied", target=url)
    assert (denied.outcome, denied.actor) == ("denied", operator)


def test_a_rejection_without_comment_is_audited_as_a_failure(
    production, replica, admin_user, second_admin
):
    op = _promote(replica, admin_user)
    with pytest.raises(OperationRefused):
        reject_operation(op, by=second_admin, comment="")
    op.refresh_from_db()
    assert op.state == State.AWAITING_APPROVAL
    refused = AuditEvent.objects.get(action="operation.reject_refused")
    assert (refused.outcome, refused.actor) == ("failure", second_admin)


def test_a_decision_that_lost_the_race_is_audited(production, replica, admin_user, second_admin):
    op = _promote(replica, admin_user)
    stale = Operation.objects.get(pk=op.pk)
    approve_operation(op, by=second_admin, comment="go")
    third = _user("carol", roles.ADMIN)
    with pytest.raises(OperationRefused):
        approve_operation(stale, by=third, comment="go too")
    assert AuditEvent.objects.get(action="operation.approve_refused").actor == third
