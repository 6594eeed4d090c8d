"""The engine's hot path in the database (operations.rows): the claim in one statement,
the checkpoint, and the save that writes the row, its timeline and its audit records
all or nothing, only while the worker still holds the lease."""

import pytest

from audit.models import AuditEvent
from operations import engine, rows
from operations.kinds.base import LeaseLost, StepContext
from operations.models import Operation, OperationEvent, State
from operations.services import start_operation
from tests.driving import drive
from tests.factories.operations import mutating_calls

pytestmark = pytest.mark.django_db


@pytest.fixture(
    params=[
        pytest.param("single statement", marks=pytest.mark.postgres("PostgreSQL's own path")),
        "orm",
    ]
)
def path(request, monkeypatch):
    """Both ways the engine writes: one statement (PostgreSQL) and the ORM (others)."""
    if request.param == "orm":
        monkeypatch.setattr(rows, "single_statement", lambda: False)
    return request.param


def test_claim_reads_the_operation_its_account_and_requester_at_once(
    cluster, operator, path, django_assert_num_queries
):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    with django_assert_num_queries(1 if path == "single statement" else 2):
        claimed, token = engine.claim(op.pk)
        assert claimed.account.account_id == cluster.account.account_id
        assert claimed.requested_by.username == operator.username
    # Converted as the ORM converts: JSON, datetimes, the lease taken
    fresh = Operation.objects.get(pk=op.pk)
    assert isinstance(claimed.memory, dict)
    assert claimed.memory == fresh.memory
    assert claimed.created_at.tzinfo is not None
    assert claimed.created_at == fresh.created_at
    assert claimed.account.regions == cluster.account.regions
    assert fresh.lease_token == token
    assert fresh.lease_until is not None
    # Held: nobody else gets it
    assert engine.claim(op.pk, force=True) is None


def test_claim_respects_due_time_state_and_an_operation_without_requester(cluster, operator, path):
    from datetime import timedelta

    from django.utils import timezone

    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    Operation.objects.filter(pk=op.pk).update(next_run_at=timezone.now() + timedelta(minutes=1))
    assert engine.claim(op.pk) is None  # not due
    claimed, token = engine.claim(op.pk, force=True)  # forced: due or not
    assert claimed.pk == op.pk
    Operation.objects.filter(pk=op.pk).update(
        lease_token="", lease_until=None, requested_by=None, state=State.SUCCEEDED
    )
    assert engine.claim(op.pk, force=True) is None  # ended: never run again
    Operation.objects.filter(pk=op.pk).update(state=State.WAITING)
    claimed, _ = engine.claim(op.pk, force=True)
    assert claimed.requested_by is None


def test_a_checkpoint_that_finds_its_lease_taken_stops_before_the_aws_call(
    cluster, operator, path, monkeypatch
):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    real_call = StepContext.call

    def describe_then_lose_the_lease(self, operation, *args, **kwargs):
        answer = real_call(self, operation, *args, **kwargs)
        # Another worker took the operation over while this one was describing
        Operation.objects.filter(pk=op.pk).update(lease_token="someone-else")
        return answer

    monkeypatch.setattr(StepContext, "call", describe_then_lose_the_lease)
    events = OperationEvent.objects.filter(operation=op).count()  # "Requested by ..."
    assert engine.advance(op.pk, force=True) is None
    assert mutating_calls("FailoverDBCluster") == []
    fresh = Operation.objects.get(pk=op.pk)
    assert (fresh.state, fresh.mutation_started, fresh.lease_token) == (
        State.QUEUED,
        False,
        "someone-else",
    )
    assert OperationEvent.objects.filter(operation=op).count() == events


def test_a_save_without_the_lease_writes_nothing(cluster, operator, path):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    claimed, token = engine.claim(op.pk)
    claimed.state = State.RUNNING
    engine._note(claimed, "Started by a worker.")
    engine._audit_later(claimed, "started")
    audits = AuditEvent.objects.count()
    events = OperationEvent.objects.filter(operation=op).count()
    Operation.objects.filter(pk=op.pk).update(lease_token="someone-else")
    assert engine._save(claimed, token) is False
    assert Operation.objects.get(pk=op.pk).state == State.QUEUED
    assert OperationEvent.objects.filter(operation=op).count() == events
    assert AuditEvent.objects.count() == audits


def test_a_save_writes_the_row_its_timeline_and_its_audit_together(cluster, operator, path):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    claimed, token = engine.claim(op.pk)
    claimed.state = State.RUNNING
    claimed.memory["seen"] = {"writer": "orders-1", "members": [1, 2]}
    claimed.progress = 50.0
    engine._note(claimed, "first", level="info", answer=42)
    engine._note(claimed, "second — with a dash", level="warning")
    engine._audit_later(claimed, "started")
    assert engine._save(claimed, token) is True
    fresh = Operation.objects.get(pk=op.pk)
    assert (fresh.state, fresh.lease_token, fresh.lease_until) == (State.RUNNING, "", None)
    assert fresh.memory["seen"] == {"writer": "orders-1", "members": [1, 2]}
    assert fresh.progress == 50.0
    events = list(fresh.events.values_list("message", "level", "data"))
    assert events[-2:] == [
        ("first", "info", {"answer": 42}),
        ("second — with a dash", "warning", {}),
    ]
    audit = AuditEvent.objects.filter(action="operation.started").get()
    assert (audit.actor, audit.target, audit.details["operation"]) == (
        operator,
        op.target_arn,
        op.pk,
    )


@pytest.mark.postgres("SQLite does not enforce column lengths")
def test_a_save_refuses_a_value_too_long_for_its_column_and_writes_nothing(cluster, operator, path):
    from django.db import DataError, transaction

    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    claimed, token = engine.claim(op.pk)
    engine._note(claimed, "fine", step="x" * 65)  # the step column holds 64
    events = OperationEvent.objects.filter(operation=op).count()
    with pytest.raises(DataError), transaction.atomic():
        engine._save(claimed, token)
    assert OperationEvent.objects.filter(operation=op).count() == events
    assert Operation.objects.get(pk=op.pk).lease_token == token


def test_an_operation_runs_to_the_end_on_either_path(cluster, operator, path):
    op = drive(start_operation("cluster_failover", cluster, {}, requested_by=operator).pk)
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("FailoverDBCluster")) == 1
    actions = list(
        AuditEvent.objects.filter(target=op.target_arn)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["operation.requested", "operation.started", "operation.finished"]


def test_a_lease_lost_exception_is_what_a_step_sees(cluster, operator):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    claimed, token = engine.claim(op.pk)
    ctx = StepContext(claimed, checkpoint=lambda: engine._checkpoint(claimed, "not-the-token"))
    with pytest.raises(LeaseLost):
        ctx.checkpoint(mutation=True)
