"""The periodic metrics task."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache

from metrics import tasks
from metrics.models import Series
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db


def test_the_task_is_scheduled_every_five_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["sync-metrics"]
    assert entry["task"] == "metrics.tasks.sync_metrics_task"
    assert entry["schedule"] == 300.0


def test_the_task_syncs_metrics_and_releases_its_lock(cw_sandbox):
    db = factories.make_instance()
    result = tasks.sync_metrics_task.delay().get()
    assert result["errors"] == {}
    assert Series.objects.filter(resource_arn=db.arn).count() == 6
    assert cache.add(tasks._LOCK_KEY, "1", 5)  # released
    cache.delete(tasks._LOCK_KEY)


def test_a_run_is_skipped_while_another_holds_the_lock():
    cache.add(tasks._LOCK_KEY, "1", 60)
    try:
        assert "skipped" in tasks.sync_metrics_task.delay().get()
    finally:
        cache.delete(tasks._LOCK_KEY)
