"""Synced means synced: a row's ``last_synced_at`` is when it last *changed*; pages show
"last seen by sync" from the latest successful sync of the row's account, region and
kind, read in one query per page whatever the number of rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from estate import queries
from estate.models import DbInstance, SyncLease, SyncRun
from estate.roles import VIEWER
from estate.sync import sync_scope
from tests.factories import estate as f
from tests.factories.sandbox import PROD, REGION, client, create_instance, make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def rds(sandbox):
    make_account(PROD)
    return client(PROD, REGION, "rds")


@pytest.fixture
def viewer(client):
    client.force_login(f.make_user(role=VIEWER))


def test_a_resync_that_changes_nothing_moves_last_seen_but_not_changed(rds, client, viewer):
    # Given an instance synced once
    create_instance(rds, "billing")
    first = sync_scope(kinds=["instances"])
    row = DbInstance.objects.get(identifier="billing")
    changed = row.last_synced_at
    # When nothing changed in AWS and a later sync runs
    second = sync_scope(kinds=["instances"])
    assert second.status == SyncRun.Status.SUCCEEDED, second.errors
    # Then the row did not change, but its scope was last seen by the second run
    row.refresh_from_db()
    assert row.last_synced_at == changed
    seen = queries.last_seen_of(row)
    assert seen is not None
    assert seen.run_id == second.pk != first.pk
    assert seen.at == second.started_at
    # And the resource page says both, with the run linked
    page = client.get(reverse("instance", args=[row.pk])).content.decode()
    assert "Last seen by sync" in page
    assert reverse("sync_run", args=[second.pk]) in page
    assert "changed in the mirror" in page
    assert "Synced " not in page


def test_a_kind_that_failed_keeps_its_previous_last_seen(rds, monkeypatch):
    create_instance(rds, "billing")
    good = sync_scope(kinds=["instances"])
    # When the next sync of instances fails in this scope
    from estate.sync import engine

    def broken(ctx, acct):
        raise RuntimeError("describe failed")
        yield  # pragma: no cover

    monkeypatch.setitem(engine.KIND_FETCHERS, "instances", broken)
    bad = sync_scope(kinds=["instances"])
    assert bad.status == SyncRun.Status.FAILED
    # Then the instance is still last seen by the run that succeeded
    seen = queries.last_seen_of(DbInstance.objects.get(identifier="billing"))
    assert seen is not None
    assert seen.run_id == good.pk


def test_a_scope_never_synced_successfully_says_so(client, viewer):
    instance = f.make_instance()
    page = client.get(reverse("instance", args=[instance.pk])).content.decode()
    assert "not yet by a successful sync" in page


def _seen(account, region: str, kind: str, run: SyncRun) -> None:
    SyncLease.objects.update_or_create(
        account_id=account.account_id,
        region=region,
        kind=kind,
        defaults={"last_succeeded_run": run, "last_succeeded_at": run.started_at},
    )


def _inventory(client) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("inventory"), {"lifecycle": "all"})
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def test_inventory_shows_last_seen_per_scope_in_constant_queries(
    client, viewer, django_assert_max_num_queries
):
    # Given one instance in a scope last seen an hour ago
    run = f.make_sync_run(started_at=timezone.now() - timedelta(hours=1))
    account = f.make_account()
    f.make_instance(account)
    _seen(account, "us-east-1", "instances", run)
    page, one = _inventory(client)
    assert page.count('data-testid="last-seen"') == 1
    assert reverse("sync_run", args=[run.pk]) in page
    assert ">Changed" in page
    # When the inventory grows to many rows over many scopes and kinds
    for n in range(12):
        other = f.make_account()
        region = ["us-east-1", "eu-west-1"][n % 2]
        f.make_instance(other, region=region)
        f.make_cluster(other, region=region)
        f.make_replication_group(other, region=region)
        _seen(other, region, "instances", f.make_sync_run())
    # Then the page needs no more queries, and each row has its scope's answer
    with django_assert_max_num_queries(one):
        page, many = _inventory(client)
    assert many == one
    assert page.count('data-testid="last-seen"') == 1 + 12 * 3
    assert page.count("not yet by a successful sync") == 12 * 2  # clusters, caches
