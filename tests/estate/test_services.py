"""``sync_now``: a queued SyncRun a page can poll, never two for one scope."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate import services
from estate.models import DbInstance, SyncRun
from estate.sync import ScopeError
from tests.factories.sandbox import PROD, REGION, client, create_instance, make_account

pytestmark = pytest.mark.django_db


def test_sync_now_queues_a_run_that_the_task_executes_after_commit(
    sandbox, django_capture_on_commit_callbacks
):
    make_account(PROD)
    create_instance(client(PROD, REGION, "rds"), "billing")
    # When a user asks for a sync
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.sync_now(triggered_by="alice", kinds=["instances"])
    # Then a queued run exists before the task runs
    assert run.status == SyncRun.Status.QUEUED
    assert run.scope == {"accounts": [], "regions": [], "kinds": ["instances"]}
    assert len(callbacks) == 1
    # And once the transaction commits the task executes it (eagerly in tests)
    callbacks[0]()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.triggered_by == "alice"
    assert DbInstance.objects.filter(identifier="billing").exists()


def test_sync_now_returns_the_active_run_of_an_overlapping_scope(sandbox):
    make_account(PROD)
    active = SyncRun.objects.create(
        status=SyncRun.Status.RUNNING,
        scope={"accounts": [PROD], "regions": [], "kinds": ["instances", "clusters"]},
    )
    again = services.sync_now(triggered_by="bob", regions=[REGION], kinds=["instances"])
    assert again.pk == active.pk
    assert SyncRun.objects.count() == 1


def test_sync_now_starts_a_new_run_for_a_disjoint_scope(
    sandbox, django_capture_on_commit_callbacks
):
    make_account(PROD)
    SyncRun.objects.create(
        status=SyncRun.Status.QUEUED, scope={"accounts": [], "regions": [], "kinds": ["dms"]}
    )
    with django_capture_on_commit_callbacks():
        run = services.sync_now(triggered_by="bob", kinds=["instances"])
    assert run.status == SyncRun.Status.QUEUED
    assert SyncRun.objects.count() == 2


def test_a_run_active_for_longer_than_a_lease_is_presumed_dead(sandbox, settings):
    settings.SYNC_LEASE_SECONDS = 60
    make_account(PROD)
    SyncRun.objects.create(
        status=SyncRun.Status.RUNNING,
        scope={},
        started_at=timezone.now() - timedelta(seconds=61),
    )
    run = services.sync_now(triggered_by="bob")
    assert run.status == SyncRun.Status.QUEUED
    assert SyncRun.objects.count() == 2


def test_sync_now_refuses_an_unknown_scope_without_creating_a_run(sandbox):
    make_account(PROD)
    with pytest.raises(ScopeError):
        services.sync_now(triggered_by="bob", kinds=["nope"])
    assert not SyncRun.objects.exists()


def test_run_sync_ignores_a_run_that_is_no_longer_queued(sandbox):
    make_account(PROD)
    done = SyncRun.objects.create(status=SyncRun.Status.SUCCEEDED)
    assert services.run_sync(done.pk) is None
    done.refresh_from_db()
    assert done.status == SyncRun.Status.SUCCEEDED
