"""The probe worker's path (the ``probes`` queue): samples stored in bulk, stops when
the drill says so or its operation ended, and a run whose operation failed is closed
with its webhook."""

from __future__ import annotations

import pytest

from drills import services
from drills.models import DrillRun, DrillSchedule, ProbeSample, RunStatus
from operations.models import Operation, State
from sandbox.listeners import LoopbackListener
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db


def _run(cluster, state: str, endpoint: dict, **kw) -> DrillRun:
    op = Operation.objects.create(
        kind="cluster_failover_drill",
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        account=cluster.account,
        region=cluster.region,
        state=state,
        error="Verification failed: the writer is still orders-1" if state == State.FAILED else "",
    )
    return DrillRun.objects.create(
        drill_type="failover",
        operation=op,
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        probe_endpoints=[endpoint],
        probe_interval_ms=50,
        slo_seconds=30,
        **kw,
    )


def test_the_product_runner_queues_one_probe_task_per_endpoint_after_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    from drills import tasks

    # Given a run with two endpoints
    cluster = factories.make_cluster(identifier="orders")
    run = _run(cluster, State.RUNNING, {"label": "direct", "host": "h", "port": 1})
    run.probe_endpoints = [*run.probe_endpoints, {"label": "proxy", "host": "p", "port": 2}]
    queued: list[tuple[tuple, str]] = []
    monkeypatch.setattr(
        tasks.probe_task, "apply_async", lambda args, queue: queued.append((args, queue))
    )
    # When the (Celery) runner launches its probes
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.ProbeRunner().launch(run)
    # Then nothing is queued before the transaction commits, then one task per endpoint
    # on the probes queue
    assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [((run.pk, 0), "probes"), ((run.pk, 1), "probes")]


def test_probe_worker_stores_samples_in_bulk_until_its_deadline(settings):
    settings.DRILL_PROBE_MAX_SECONDS = 0.5
    settings.DRILL_PROBE_FLUSH_SECONDS = 0.1
    cluster = factories.make_cluster(identifier="orders")
    with LoopbackListener() as listener:
        run = _run(
            cluster, State.RUNNING, {"label": "direct", "host": "127.0.0.1", "port": listener.port}
        )
        taken = services.probe_endpoint(run.pk, 0)
    run.refresh_from_db()
    assert taken >= 5
    assert ProbeSample.objects.filter(run=run, endpoint="direct", ok=True).count() == taken
    assert run.probes_finished == ["direct"]
    assert run.status == RunStatus.RUNNING  # the drill goes on; only the probe ended


def test_probe_worker_stops_when_the_operation_failed_and_closes_the_run(
    settings, webhook, django_capture_on_commit_callbacks
):
    settings.DRILL_PROBE_MAX_SECONDS = 30
    settings.DRILL_PROBE_FLUSH_SECONDS = 0.1
    cluster = factories.make_cluster(identifier="orders")
    schedule = DrillSchedule.objects.create(
        name="orders", target_arn=cluster.arn, cron="0 3 * * *", webhook_url=webhook.url
    )
    with LoopbackListener() as listener:
        run = _run(
            cluster,
            State.FAILED,
            {"label": "direct", "host": "127.0.0.1", "port": listener.port},
            schedule=schedule,
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.probe_endpoint(run.pk, 0)
    run.refresh_from_db()
    # Then the probe stopped at its first flush, and the run is closed as failed
    assert ProbeSample.objects.filter(run=run).count() <= 5
    assert run.status == RunStatus.FAILED
    assert "writer is still" in run.reason
    assert run.probe_stop
    # And the webhook was told
    assert webhook.got.wait(5)
    assert "Drill failed" in webhook.received[0]["text"]


def test_probe_with_missing_dsn_variable_reports_and_finishes(settings, monkeypatch):
    monkeypatch.delenv("NO_SUCH_DSN", raising=False)
    cluster = factories.make_cluster(identifier="orders")
    run = _run(
        cluster,
        State.RUNNING,
        {
            "label": "direct",
            "host": "127.0.0.1",
            "port": 5432,
            "kind": "postgres",
            "dsn_env": "NO_SUCH_DSN",
        },
    )
    assert services.probe_endpoint(run.pk, 0) == 0
    run.refresh_from_db()
    assert run.probes_finished == ["direct"]
    assert any("NO_SUCH_DSN" in e.message for e in run.operation.events.all())


def test_finalize_sweep_closes_runs_whose_operation_ended():
    cluster = factories.make_cluster(identifier="orders")
    run = _run(cluster, State.CANCELLED, {"label": "direct", "host": "h", "port": 1})
    assert services.finalize_ended_runs() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert services.finalize_ended_runs() == 0


def test_webhook_task_retries_with_growing_countdowns(monkeypatch):
    from celery.exceptions import Retry

    from drills import tasks

    # Given a webhook that keeps failing
    def failing(run_id: int, headline: str, attempt: int) -> None:
        raise services.WebhookFailed("HTTP 503")

    monkeypatch.setattr(services, "send_webhook", failing)
    countdowns: list[float] = []

    def retry(*, exc: Exception, countdown: float) -> Retry:
        countdowns.append(countdown)
        return Retry(exc=exc, when=countdown)

    monkeypatch.setattr(tasks.send_webhook_task, "retry", retry)
    # When the task runs at its first, second and third attempt
    for retries in range(3):
        tasks.send_webhook_task.push_request(retries=retries)
        try:
            with pytest.raises(Retry):
                tasks.send_webhook_task.run(1, "Drill failed")
        finally:
            tasks.send_webhook_task.pop_request()
    # Then each retry waits twice as long as the one before
    assert countdowns == [5.0, 10.0, 20.0]
