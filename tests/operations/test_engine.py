"""Engine guarantees: cancel semantics, the reaper, leases, audit trail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from estate import services as resync
from operations import engine, services
from operations.models import Operation, State
from operations.services import OperationRefused, cancel_operation, start_operation
from tests.driving import drive
from tests.factories.operations import mutating_calls

pytestmark = pytest.mark.django_db


def test_cancel_before_any_change_ends_cancelled_without_aws_call(cluster, operator):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    cancel_operation(op, by=operator)
    op.refresh_from_db()
    assert op.state == State.CANCELLED
    assert engine.advance(op.pk, force=True) is None  # nothing left to run
    assert mutating_calls("FailoverDBCluster") == []


def test_cancel_while_aws_fails_over_waits_until_safe_and_says_so(cluster, operator, rds):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(failover=0.5)
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    engine.advance(op.pk, force=True)  # the failover is requested, AWS is busy
    cancel_operation(op, by=operator)
    op = drive(op.pk)
    assert op.state == State.CANCELLED
    messages = [e.message for e in op.events.all()]
    assert any("AWS cannot stop a cluster failover once it has started" in m for m in messages)
    assert any("AWS finished what it had started" in m for m in messages)
    # AWS's failover did complete: the timeline told the truth
    live = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert live["Status"] == "available"


class _WorkerDied(BaseException):
    """What a SIGKILL looks like from inside a step: nothing after it runs."""


def test_cancel_after_a_worker_died_past_its_checkpoint_lets_the_engine_decide(
    cluster, operator, rds, monkeypatch
):
    from operations.kinds.base import StepContext

    real_call = StepContext.call

    def call_then_die(self, operation, *args, **kwargs):
        answer = real_call(self, operation, *args, **kwargs)
        if operation == "failover_db_cluster":
            raise _WorkerDied
        return answer

    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    monkeypatch.setattr(StepContext, "call", call_then_die)
    with pytest.raises(_WorkerDied):
        engine.advance(op.pk, force=True)
    monkeypatch.setattr(StepContext, "call", real_call)
    # The checkpoint is all that was written: still "queued", but AWS was asked.
    Operation.objects.filter(pk=op.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    op.refresh_from_db()
    assert (op.state, op.mutation_started, op.started_at) == (State.QUEUED, True, None)
    # A cancel now must not claim that nothing happened in AWS.
    cancel_operation(op, by=operator)
    op = drive(op.pk)
    assert op.state == State.CANCELLED
    messages = [e.message for e in op.events.all()]
    assert not any("before" in m and "started" in m for m in messages)
    assert any("AWS may have accepted that call" in m for m in messages)
    # and nothing more was asked of AWS
    assert len(mutating_calls("FailoverDBCluster")) == 1


def test_cancel_of_a_finished_operation_is_refused(cluster, operator):
    op = drive(start_operation("cluster_failover", cluster, {}, requested_by=operator).pk)
    with pytest.raises(OperationRefused, match="already ended"):
        cancel_operation(op, by=operator)


def test_reaper_re_enqueues_overdue_operations_not_held_by_a_live_worker(
    cluster, operator, settings, monkeypatch
):
    from operations import tasks

    sent: list[int] = []
    monkeypatch.setattr(
        tasks.advance_operation_task, "apply_async", lambda args, **kw: sent.append(args[0])
    )
    settings.OPERATIONS_REAPER_GRACE_SECONDS = 60
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    # Not overdue yet
    assert services.reap_overdue() == []
    # Overdue but a live worker holds it: left alone
    later = timezone.now() + timedelta(minutes=5)
    Operation.objects.filter(pk=op.pk).update(lease_until=later + timedelta(minutes=1))
    assert services.reap_overdue(now=later) == []
    # Overdue and its worker's lease ran out: re-enqueued, and the timeline says why
    Operation.objects.filter(pk=op.pk).update(lease_until=later - timedelta(seconds=1))
    assert services.reap_overdue(now=later) == [op.pk]
    assert sent == [op.pk]
    assert "re-enqueued by the reaper" in op.events.last().message


def test_a_worker_cannot_claim_an_operation_another_worker_holds(cluster, operator):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    claimed = engine.claim(op.pk)
    assert claimed is not None
    assert engine.claim(op.pk) is None  # the second worker finds it taken
    assert engine.claim(op.pk, force=True) is None  # even when forced


def test_every_transition_is_audited(cluster, operator):
    from audit.models import AuditEvent

    op = drive(start_operation("cluster_failover", cluster, {}, requested_by=operator).pk)
    actions = list(
        AuditEvent.objects.filter(target=op.target_arn)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["operation.requested", "operation.started", "operation.finished"]


def test_failure_is_audited_as_a_failure(cluster, operator, fast_sandbox):
    from audit.models import AuditEvent

    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    fast_sandbox.faults.deny(service="rds", action_prefix="FailoverDBCluster")
    drive(op.pk)
    failed = AuditEvent.objects.get(action="operation.failed")
    assert failed.outcome == "failure"
    assert "AccessDenied" in failed.details["error"]


def test_targeted_resync_after_success_shows_the_new_writer(cluster, operator):
    # (sync runs the targeted kinds of the operation's account and region)
    op = drive(start_operation("cluster_failover", cluster, {}, requested_by=operator).pk)
    assert op.state == State.SUCCEEDED
    cluster.refresh_from_db()
    assert cluster.writer_identifier == op.result["new_writer"]


def test_resyncs_of_a_burst_are_coalesced_per_account_and_region(monkeypatch, settings, db):
    from django.core.cache import cache

    import estate.sync
    from estate import tasks

    key = resync._resync_key("111111111111", "us-east-1", ["clusters"])
    cache.delete_many([key, f"{key}:last"])  # (not clear(): the cache may be shared)
    settings.OPERATIONS_RESYNC_DELAY_SECONDS = 1
    settings.OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS = 15
    scheduled: list[float] = []
    monkeypatch.setattr(
        tasks.resync_scope_task,
        "apply_async",
        lambda args, countdown: scheduled.append(countdown),
    )
    synced: list[dict] = []
    monkeypatch.setattr(estate.sync, "sync_scope", lambda **kw: synced.append(kw))
    # The first success schedules a sync a second later; the next ones ride along
    for op_id in (1, 2, 3):
        resync.schedule_resync("111111111111", "us-east-1", ["clusters"], op_id)
    assert scheduled == [1]
    # Once it ran, the next success waits for the minimum interval
    resync.resync_scope("111111111111", "us-east-1", ["clusters"], 1)
    assert synced[0]["kinds"] == ["clusters"]
    resync.schedule_resync("111111111111", "us-east-1", ["clusters"], 4)
    assert 14 < scheduled[-1] <= 15
    cache.delete_many([key, f"{key}:last"])


def test_a_burst_postpones_its_resync_until_it_quiets_down_but_not_forever(
    monkeypatch, settings, db
):
    from django.core.cache import cache

    import estate.sync
    from estate import tasks

    scope = ("111111111111", "us-east-1", ["clusters"])
    key = resync._resync_key(*scope)
    cache.delete_many([key, f"{key}:quiet", f"{key}:last"])
    settings.OPERATIONS_RESYNC_DELAY_SECONDS = 1
    settings.OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS = 15
    clock = [1_000.0]
    monkeypatch.setattr(resync.time, "time", lambda: clock[0])
    monkeypatch.setattr(resync.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(resync, "_quiet_pushed", {})
    rescheduled: list[float] = []
    monkeypatch.setattr(
        tasks.resync_scope_task,
        "apply_async",
        lambda args, countdown: rescheduled.append(countdown),
    )
    synced: list[dict] = []
    monkeypatch.setattr(estate.sync, "sync_scope", lambda **kw: synced.append(kw))

    def task_runs() -> None:
        tasks.resync_scope_task.run(*scope, 1)

    # Operations keep succeeding every half second: the sync waits for a quiet second
    resync.schedule_resync(*scope, 1)
    for _ in range(3):
        clock[0] += 0.5
        resync.schedule_resync(*scope, 2)
    task_runs()  # due at first + 1 s: the burst is still going on
    assert synced == []
    assert rescheduled[-1] == pytest.approx(1.0)
    clock[0] += 1.0  # quiet for a second
    task_runs()
    assert len(synced) == 1
    # A burst that never quiets down is synced at most the interval after its start
    # (and not before the interval since the last sync).
    clock[0] += 20
    start = clock[0]
    resync.schedule_resync(*scope, 3)
    while clock[0] < start + 15.2:
        clock[0] += 0.5
        resync.schedule_resync(*scope, 4)
        if len(synced) == 1 and resync.resync_postponed(*scope) == 0:
            task_runs()
    assert len(synced) == 2
    assert clock[0] - start <= 15.5
    cache.delete_many([key, f"{key}:quiet", f"{key}:last"])


def test_a_burst_costs_one_cache_round_trip_per_success(monkeypatch, settings, db):
    from django.core.cache import cache

    from estate import tasks

    scope = ("111111111111", "us-east-1", ["clusters"])
    key = resync._resync_key(*scope)
    cache.delete_many([key, f"{key}:quiet", f"{key}:last"])
    monkeypatch.setattr(resync, "_quiet_pushed", {})
    settings.OPERATIONS_RESYNC_DELAY_SECONDS = 1
    clock = [1_000.0]
    monkeypatch.setattr(resync.time, "time", lambda: clock[0])
    monkeypatch.setattr(resync.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(tasks.resync_scope_task, "apply_async", lambda args, countdown: None)
    calls: list[str] = []
    for name in ("add", "set", "get"):
        real = getattr(cache, name)
        monkeypatch.setattr(
            cache,
            name,
            lambda *a, _real=real, _name=name, **kw: calls.append(_name) or _real(*a, **kw),
        )
    resync.schedule_resync(*scope, 1)  # schedules: add, set quiet, get last
    assert calls == ["add", "set", "get"]
    calls.clear()
    for op_id in range(2, 12):  # ten more successes within 50 ms
        clock[0] += 0.005
        resync.schedule_resync(*scope, op_id)
    assert calls == ["add"] * 10
    # The pending sync's quiet time is still pushed back, a little late at most
    clock[0] += resync.QUIET_SLACK_SECONDS
    resync.schedule_resync(*scope, 12)
    assert calls[-2:] == ["add", "set"]
    assert float(cache.get(f"{key}:quiet")) == pytest.approx(clock[0] + 1)
    cache.delete_many([key, f"{key}:quiet", f"{key}:last"])


def test_a_resync_skipped_for_another_sync_of_its_scope_is_tried_again(monkeypatch, settings, db):
    import estate.sync
    from estate import tasks
    from estate.models import SyncRun

    settings.OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS = 15
    monkeypatch.setattr(resync, "resync_postponed", lambda *scope: 0.0)
    skipped = SyncRun(status=SyncRun.Status.SKIPPED, scope={}, message="SyncRun 1 is syncing")
    monkeypatch.setattr(estate.sync, "sync_scope", lambda **kw: skipped)
    again: list[tuple] = []
    monkeypatch.setattr(
        tasks.resync_scope_task,
        "apply_async",
        lambda args, countdown: again.append((args[-1], countdown)),
    )
    tasks.resync_scope_task.run("111111111111", "us-east-1", ["clusters"], 7)
    assert again == [(1, 15.0)]
    # bounded: the last attempt gives up
    tasks.resync_scope_task.run(
        "111111111111", "us-east-1", ["clusters"], 7, resync.RESYNC_ATTEMPTS - 1
    )
    assert len(again) == 1
    # and a sync that ran is not repeated
    skipped.status = SyncRun.Status.SUCCEEDED
    tasks.resync_scope_task.run("111111111111", "us-east-1", ["clusters"], 7)
    assert len(again) == 1
