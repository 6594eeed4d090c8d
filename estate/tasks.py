"""Inventory tasks: thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from estate import services
from estate.sync import sync_scope


@shared_task
def sync_run_task(sync_run_id: int) -> None:
    """Execute a SyncRun queued by ``services.sync_now``."""
    services.run_sync(sync_run_id)


@shared_task
def sync_all_task() -> None:
    """The periodic full sync (CELERY_BEAT_SCHEDULE); skipped when one is running."""
    sync_scope(triggered_by="schedule")
