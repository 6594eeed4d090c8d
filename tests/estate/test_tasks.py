"""Inventory tasks are thin: they run the sync services."""

from __future__ import annotations

import pytest

from estate import tasks
from estate.models import DbInstance, SyncRun
from tests.factories.sandbox import PROD, REGION, client, create_instance, make_account

pytestmark = pytest.mark.django_db


def test_sync_all_task_syncs_every_enabled_account(sandbox):
    make_account(PROD)
    make_account("222222222222", enabled=False)
    create_instance(client(PROD, REGION, "rds"), "billing")
    tasks.sync_all_task.delay()
    run = SyncRun.objects.get()
    assert run.triggered_by == "schedule"
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert DbInstance.objects.get().account.account_id == PROD


def test_sync_run_task_executes_a_queued_run(sandbox):
    make_account(PROD)
    run = SyncRun.objects.create(status=SyncRun.Status.QUEUED, scope={"kinds": ["instances"]})
    tasks.sync_run_task.delay(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert list(run.counts) == ["instances"]


def test_a_queued_run_whose_account_was_removed_fails_with_the_reason(sandbox):
    run = SyncRun.objects.create(status=SyncRun.Status.QUEUED, scope={"accounts": [PROD]})
    tasks.sync_run_task.delay(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert f"Unknown account(s): {PROD}" in run.message
