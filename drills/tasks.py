"""Thin tasks: probes (own queue ``probes``), schedules, webhooks, finalizing."""

from __future__ import annotations

from celery import shared_task

from drills import services


@shared_task(ignore_result=True, acks_late=False)
def probe_task(run_id: int, index: int) -> int:
    # Not acks_late: a redelivered probe after a worker crash would sample a drill
    # that has long moved on; the baseline step notices missing samples instead.
    return services.probe_endpoint(run_id, index)


@shared_task(ignore_result=True)
def run_schedule_task(schedule_id: int) -> int | None:
    run = services.run_schedule_by_id(schedule_id)
    return run.pk if run else None


@shared_task(bind=True, ignore_result=True, max_retries=6)
def send_webhook_task(self, run_id: int, headline: str) -> None:
    try:
        services.send_webhook(run_id, headline, attempt=self.request.retries + 1)
    except services.WebhookFailed as exc:
        # 5, 10, 20, 40 ... seconds between attempts.
        raise self.retry(exc=exc, countdown=services.webhook_backoff(self.request.retries)) from exc


@shared_task(ignore_result=True)
def finalize_ended_runs_task() -> int:
    return services.finalize_ended_runs()
