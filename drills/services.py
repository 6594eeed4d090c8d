"""Drill services: probes for a run, reports, webhooks, schedules (with their
django-celery-beat rows), and finalizing runs whose operation ended early."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from drills import probes
from drills.models import DrillRun, DrillSchedule, DrillType, ProbeSample, RunStatus
from estate import aws
from operations.models import TERMINAL, Operation, State, event

log = logging.getLogger(__name__)

FAILOVER_KIND_FOR = {
    "estate.DbCluster": "cluster_failover_drill",
    "estate.DbInstance": "instance_failover_drill",
    "estate.GlobalCluster": "global_switchover_drill",
    "estate.CacheReplicationGroup": "cache_failover_drill",
}
RESTORE_KIND_FOR = {
    "estate.DbInstance": "instance_restore_drill",
    "estate.DbCluster": "cluster_restore_drill",
}


# --- probes --------------------------------------------------------------------------


def probe_max_seconds() -> float:
    return float(getattr(settings, "DRILL_PROBE_MAX_SECONDS", 3600))


class ProbeRunner:
    """Where a drill's probes sample: one ``probe_task`` per endpoint on the ``probes``
    queue, each storing its samples and its end in the database itself. So ``stop``
    has nothing to add to the run's ``probe_stop`` flag (the task polls it) and
    ``collect`` nothing to do.

    The seam exists for the test suite, whose eager Celery would run a probe inline and
    block the engine: it puts an in-process runner here (``tests/drills/probe_threads.py``)
    whose threads hand their samples over when the drill's steps ``collect`` them."""

    def launch(self, run: DrillRun) -> None:
        from drills.tasks import probe_task

        pk = run.pk
        for index in range(len(run.probe_endpoints)):
            transaction.on_commit(lambda i=index: probe_task.apply_async((pk, i), queue="probes"))

    def stop(self, run_id: int) -> None:
        """Nothing beyond the run's ``probe_stop`` flag, which each task polls."""

    def collect(self, run_id: int) -> None:
        """Nothing: the tasks have stored their samples already."""


probe_runner = ProbeRunner()


def launch_probes(run: DrillRun) -> None:
    """Start one probe per endpoint of the run (after the transaction commits)."""
    probe_runner.launch(run)


def collect_samples(run_id: int) -> None:
    """Make every sample taken so far readable in the database (before a step reads them)."""
    probe_runner.collect(run_id)


def stop_probes(run: DrillRun) -> None:
    run.probe_stop = True
    DrillRun.objects.filter(pk=run.pk).update(probe_stop=True)
    probe_runner.stop(run.pk)


def sample_row(run_id: int, label: str, s: probes.Sample) -> ProbeSample:
    return ProbeSample(
        run_id=run_id,
        endpoint=label,
        at=s.at,
        ok=s.ok,
        latency_ms=s.latency_ms,
        error=s.error[:255],
    )


def _should_stop(run_id: int) -> bool:
    row = DrillRun.objects.filter(pk=run_id).values("probe_stop", "operation__state").first()
    return row is None or row["probe_stop"] or row["operation__state"] in TERMINAL


def probe_endpoint(run_id: int, index: int) -> int:
    """Sample one endpoint of a drill run until the drill says stop or its operation
    ended; store samples in bulk. Credentials are resolved here, in memory only."""
    run = DrillRun.objects.select_related("operation__account").get(pk=run_id)
    options = run.probe_endpoints[index]
    label = str(options.get("label", "direct"))
    op = run.operation
    taken = 0
    try:
        target = probes.ProbeTarget.from_options(options)
        creds = probes.resolve_credentials(
            target, account=op.account if op else None, region=op.region if op else ""
        )

        def sink(batch: list[probes.Sample]) -> None:
            ProbeSample.objects.bulk_create([sample_row(run_id, label, s) for s in batch])

        taken = probes.run_probe(
            target,
            sink,
            interval=run.probe_interval_ms / 1000,
            max_seconds=probe_max_seconds(),
            should_stop=lambda: _should_stop(run_id),
            creds=creds,
            flush_seconds=float(getattr(settings, "DRILL_PROBE_FLUSH_SECONDS", 0.5)),
        )
    except Exception as exc:  # a broken probe must still say so and let the drill move on
        log.exception("probe %s of drill run %s failed", label, run_id)
        if op is not None:
            event(op, f"Probe {label} stopped: {exc}", step="", level="error")
    finally:
        _mark_probe_finished(run_id, label)
    finalize_if_ended(run_id)
    return taken


def _mark_probe_finished(run_id: int, label: str) -> None:
    with transaction.atomic():
        run = DrillRun.objects.select_for_update().get(pk=run_id)
        if label not in run.probes_finished:
            run.probes_finished = [*run.probes_finished, label]
            DrillRun.objects.filter(pk=run_id).update(probes_finished=run.probes_finished)


# --- report --------------------------------------------------------------------------


def samples_by_endpoint(run: DrillRun) -> dict[str, list[probes.Sample]]:
    collect_samples(run.pk)
    out: dict[str, list[probes.Sample]] = {label: [] for label in run.endpoint_labels()}
    for endpoint, at, ok, latency, error in ProbeSample.objects.filter(run=run).values_list(
        "endpoint", "at", "ok", "latency_ms", "error"
    ):
        out.setdefault(endpoint, []).append(probes.Sample(at, ok, latency, error))
    return out


def fill_report(run: DrillRun) -> None:
    """Per-endpoint summaries; the first endpoint (the direct one) is judged against
    the SLO and fills the headline fields."""
    summaries = {
        label: probes.summarize(samples, baseline_until=run.baseline_until)
        for label, samples in samples_by_endpoint(run).items()
    }
    run.endpoints_report = {label: s.as_dict() for label, s in summaries.items()}
    labels = run.endpoint_labels()
    head = summaries.get(labels[0]) if labels else None
    if head is not None:
        run.client_downtime_seconds = head.downtime_seconds or 0.0
        run.failed_samples = head.failed
        run.max_latency_ms = head.max_latency_ms
    if run.slo_seconds is not None and run.client_downtime_seconds is not None:
        run.slo_met = run.client_downtime_seconds <= run.slo_seconds


# How far AWS's clock may be behind ours when it dates the failover's first event.
EVENT_CLOCK_SKEW = timedelta(seconds=2)


def failover_events_since(ctx: Any, run: DrillRun) -> datetime | None:
    """The earliest date an event of this run's failover can have: shortly before the
    drill asked AWS to fail over, and never before the run began — an earlier drill's
    (or anyone's) failover of the target has ended by then, and its events must not
    count (two drills a minute apart once reported the first one's start)."""
    if run.triggered_at is None:
        return None
    asked = ctx.memory.get("trigger_asked_at")
    asked_at = datetime.fromisoformat(asked) if asked else run.triggered_at
    return max(run.created_at, asked_at - EVENT_CLOCK_SKEW)


def api_failover_seconds(
    ctx: Any, run: DrillRun, source: tuple[str, str] | None = None
) -> float | None:
    """AWS's own account of this run's failover: from its "started" event to the first
    "completed" event after it, both dated after this run's trigger
    (``failover_events_since``), when the events API has them; else from the trigger
    to AWS reporting healthy."""
    since = failover_events_since(ctx, run)
    if since is None:
        return None
    found: list[dict[str, Any]] = []
    if source is not None:
        service, source_type = source
        try:
            found = ctx.call(
                "describe_events",
                service=service,
                SourceIdentifier=run.target_label,
                SourceType=source_type,
                StartTime=since,
            )["Events"]
        except aws.AwsError:  # events are a nicety; the status timing stands in
            found = []
    # AWS filters by StartTime already; the filter here keeps the rule in one place
    # (and holds for an endpoint that ignores StartTime, as moto's does).
    found = sorted((e for e in found if e["Date"] >= since), key=lambda e: e["Date"])

    def about_failover(event: dict[str, Any], word: str) -> bool:
        message = event["Message"].lower()
        return "failover" in message and word in message

    started = next((e["Date"] for e in found if about_failover(e, "start")), None)
    completed = next(
        (
            e["Date"]
            for e in found
            if about_failover(e, "complete") and started is not None and e["Date"] >= started
        ),
        None,
    )
    run.endpoints_report = run.endpoints_report or {}
    ctx.memory["aws_events"] = [
        {"at": e["Date"].isoformat(), "message": e["Message"]} for e in found
    ]
    if started is not None and completed is not None:
        return (completed - started).total_seconds()
    if run.aws_healthy_at is not None:
        return (run.aws_healthy_at - run.triggered_at).total_seconds()
    return None


def finalize_if_ended(run_id: int) -> DrillRun | None:
    """A run whose operation ended without a report (failed, cancelled) is closed
    here: probes stopped, what was sampled summarized, the webhook told."""
    with transaction.atomic():
        run = (
            # of=self: the operation is an outer join, which PostgreSQL cannot lock.
            DrillRun.objects.select_for_update(of=("self",))
            .select_related("operation")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.is_final or run.operation is None:
            return run
        op = run.operation
        if op.state not in TERMINAL:
            return run
        stop_probes(run)
        fill_report(run)
        if op.state == State.SUCCEEDED:
            run.status = RunStatus.PASSED if run.slo_met is not False else RunStatus.SLO_BREACHED
        elif op.state == State.CANCELLED:
            run.status = RunStatus.CANCELLED
        else:
            run.status = RunStatus.FAILED
        run.reason = op.error
        run.finished_at = op.finished_at or timezone.now()
        run.save()
    if run.status == RunStatus.FAILED:
        notify(run, f"Drill failed: {run.reason}")
    return run


def finalize_ended_runs() -> int:
    pending = DrillRun.objects.filter(
        status=RunStatus.RUNNING, operation__state__in=sorted(TERMINAL)
    ).values_list("pk", flat=True)
    return sum(1 for pk in list(pending) if finalize_if_ended(pk) is not None)


# --- webhooks ------------------------------------------------------------------------


def webhook_url_for(run: DrillRun) -> str:
    if run.schedule_id and run.schedule and run.schedule.webhook_url:
        return run.schedule.webhook_url
    if run.operation is not None:
        return str(run.operation.params.get("webhook_url") or "")
    return ""


def notify(run: DrillRun, headline: str) -> None:
    """Queue the webhook for a failed or SLO-breaching drill (once the run is saved)."""
    if not webhook_url_for(run):
        return
    from drills.tasks import send_webhook_task
    from estate.celery import app

    def send() -> None:
        try:
            if app.conf.task_always_eager:
                # Eager .delay() propagates Retry instead of retrying; apply() retries
                # (without the countdown).
                send_webhook_task.apply((run.pk, headline), throw=False)
            else:
                send_webhook_task.delay(run.pk, headline)
        except Exception:  # a notification must never break the drill (eager mode raises)
            log.exception("webhook for drill run %s could not be sent", run.pk)

    transaction.on_commit(send)


def webhook_payload(run: DrillRun, headline: str) -> dict[str, Any]:
    site = getattr(settings, "SITE_URL", "").rstrip("/")
    link = f"{site}{run.get_absolute_url()}" if site else run.get_absolute_url()
    downtime = (
        f"{run.client_downtime_seconds:.1f} s" if run.client_downtime_seconds is not None else "n/a"
    )
    return {
        "text": f"Estate drill on {run.target_label}: {headline} (client downtime {downtime}, "
        f"SLO {run.slo_seconds or 0:.0f} s). {link}",
        "drill_run": run.pk,
        "target": run.target_arn,
        "status": run.status,
        "client_downtime_seconds": run.client_downtime_seconds,
        "api_failover_seconds": run.api_failover_seconds,
        "slo_seconds": run.slo_seconds,
        "slo_met": run.slo_met,
        "reason": run.reason,
        "url": link,
    }


class WebhookFailed(Exception):
    pass


def send_webhook(run_id: int, headline: str, attempt: int) -> None:
    """POST the payload; raise ``WebhookFailed`` so the task retries with backoff.
    Each attempt is recorded on the drill's timeline."""
    run = DrillRun.objects.select_related("schedule", "operation").get(pk=run_id)
    url = webhook_url_for(run)
    body = json.dumps(webhook_payload(run, headline)).encode()
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    timeout = float(getattr(settings, "DRILL_WEBHOOK_TIMEOUT_SECONDS", 10))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        _record_delivery(run, attempt, False, str(exc))
        raise WebhookFailed(str(exc)) from exc
    ok = 200 <= status < 300
    _record_delivery(run, attempt, ok, f"HTTP {status}")
    if not ok:
        raise WebhookFailed(f"HTTP {status}")


def _record_delivery(run: DrillRun, attempt: int, ok: bool, detail: str) -> None:
    entry = {"at": timezone.now().isoformat(), "attempt": attempt, "ok": ok, "detail": detail}
    with transaction.atomic():
        row = DrillRun.objects.select_for_update().get(pk=run.pk)
        DrillRun.objects.filter(pk=run.pk).update(notified=[*row.notified, entry])
    if run.operation is not None:
        event(
            run.operation,
            f"Webhook {'delivered' if ok else 'failed'} (attempt {attempt}): {detail}",
            step="report",
            level="success" if ok else "warning",
        )


# --- schedules -----------------------------------------------------------------------

PERIODIC_TASK = "drills.tasks.run_schedule_task"


def sync_periodic_task(schedule: DrillSchedule) -> None:
    """Keep the schedule's django-celery-beat PeriodicTask + CrontabSchedule in step."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    minute, hour, dom, month, dow = schedule.cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=dom,
        month_of_year=month,
        day_of_week=dow,
        timezone=schedule.timezone,
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=f"drill-schedule-{schedule.pk}",
        defaults={
            "task": PERIODIC_TASK,
            "crontab": crontab,
            "interval": None,
            "args": json.dumps([schedule.pk]),
            "enabled": schedule.enabled,
            "description": f"Drill schedule {schedule.name}",
        },
    )
    if schedule.periodic_task_id != task.pk:
        DrillSchedule.objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task


def delete_periodic_task(schedule: DrillSchedule) -> None:
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=f"drill-schedule-{schedule.pk}").delete()


def resolve_target(arn: str) -> Any:
    from estate.models import CacheReplicationGroup, DbCluster, DbInstance, GlobalCluster

    for model in (DbCluster, DbInstance, GlobalCluster, CacheReplicationGroup):
        row = model.objects.filter(arn=arn).first()
        if row is not None:
            return row
    return None


def kind_for_schedule(schedule: DrillSchedule, target: Any) -> str:
    table = FAILOVER_KIND_FOR if schedule.drill_type == DrillType.FAILOVER else RESTORE_KIND_FOR
    kind = table.get(target._meta.label)
    if kind is None:
        raise ValueError(
            f"No {schedule.get_drill_type_display()} for a {target._meta.verbose_name}."
        )
    return kind


def _skip(schedule: DrillSchedule, reason: str) -> DrillRun:
    return DrillRun.objects.create(
        drill_type=schedule.drill_type,
        schedule=schedule,
        target_arn=schedule.target_arn,
        target_label=schedule.target_label,
        status=RunStatus.SKIPPED,
        reason=reason,
        slo_seconds=schedule.slo_seconds,
        finished_at=timezone.now(),
    )


def run_schedule(schedule: DrillSchedule, *, now: datetime | None = None) -> DrillRun:
    """Start the scheduled drill, or record it as skipped with the reason (outside its
    window, another operation active on the target, the target gone, refused)."""
    from operations.services import OperationRefused, start_operation

    now = now or timezone.now()
    if not schedule.enabled:
        return _skip(schedule, "The schedule is disabled.")
    refusal = schedule.window_refusal(now)
    if refusal:
        return _skip(schedule, refusal)
    running = Operation.objects.active().filter(target_arn=schedule.target_arn).first()
    if running is not None:
        return _skip(
            schedule,
            f"Operation #{running.pk} ({running.kind_label}, {running.get_state_display()}) "
            "is active on the target.",
        )
    target = resolve_target(schedule.target_arn)
    if target is None or target.gone_at is not None:
        return _skip(schedule, "The target is not in the mirror (gone, or not synced).")
    params = dict(schedule.options)
    params["schedule_id"] = schedule.pk
    if schedule.drill_type == DrillType.FAILOVER:
        params.update(
            slo_seconds=schedule.slo_seconds,
            probe_interval_ms=schedule.probe_interval_ms,
            probe_endpoints=schedule.probe_endpoints,
        )
    try:
        kind = kind_for_schedule(schedule, target)
        op = start_operation(
            kind,
            target,
            params,
            requested_by=None,
            requested_by_label=f"schedule: {schedule.name}",
        )
    except (OperationRefused, ValueError) as exc:
        return _skip(schedule, f"Refused: {getattr(exc, 'message', str(exc))}")
    run, _ = DrillRun.objects.get_or_create(
        operation=op,
        defaults={
            "drill_type": schedule.drill_type,
            "schedule": schedule,
            "target_arn": op.target_arn,
            "target_label": op.target_label,
            "slo_seconds": schedule.slo_seconds,
        },
    )
    return run


def run_schedule_by_id(schedule_id: int) -> DrillRun | None:
    schedule = DrillSchedule.objects.filter(pk=schedule_id).first()
    if schedule is None:
        return None
    return run_schedule(schedule)


def webhook_backoff(retries: int) -> float:
    base = float(getattr(settings, "DRILL_WEBHOOK_BACKOFF_SECONDS", 5))
    return base * (2**retries)
