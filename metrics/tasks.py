from __future__ import annotations

from typing import Any

from celery import shared_task
from django.core.cache import cache

from metrics.sync import sync_metrics

# A run normally takes seconds; the lock outlives a stuck worker by at most this.
_LOCK_SECONDS = 15 * 60
_LOCK_KEY = "metrics:sync-lock"


@shared_task
def sync_metrics_task() -> dict[str, Any]:
    """Periodic (beat, every METRICS_SYNC_INTERVAL_SECONDS): fetch new points, prune.
    Skips when the previous run still holds the lock, so runs never pile up."""
    if not cache.add(_LOCK_KEY, "1", _LOCK_SECONDS):
        return {"skipped": "a metrics sync is already running"}
    try:
        return sync_metrics()
    finally:
        cache.delete(_LOCK_KEY)
