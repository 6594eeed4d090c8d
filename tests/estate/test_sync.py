"""Sync's guarantees: mapping, idempotence, vanish/reappear, pagination, accounts,
failures per kind, pacing and leases — through boto3 against the sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate import aws
from estate.models import DbCluster, DbEndpoint, DbInstance, SyncLease, SyncRun
from estate.sync import KINDS, ScopeError, leases, sync_scope
from tests.factories.sandbox import (
    OTHER_REGION,
    PROD,
    REGION,
    STAGING,
    capture,
    client,
    create_aurora,
    create_instance,
    make_account,
    mirror_writes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def prod(sandbox):
    return make_account(PROD)


@pytest.fixture
def rds(prod):
    return client(PROD, REGION, "rds")


def test_kinds_are_public_and_ordered_so_links_come_after_their_targets():
    assert KINDS.index("clusters") < KINDS.index("instances") < KINDS.index("endpoints")
    assert KINDS.index("proxies") < KINDS.index("endpoints")
    assert set(KINDS) >= {"global_clusters", "snapshots", "parameter_groups", "caches", "dms"}


def test_sync_maps_an_aurora_cluster_its_members_and_their_roles(rds):
    # Given an Aurora MySQL cluster with a writer and a reader, and a tagged instance
    create_aurora(
        rds,
        "orders",
        members=2,
        DeletionProtection=True,
        StorageEncrypted=True,
        BacktrackWindow=86400,
        Tags=[{"Key": "team", "Value": "payments"}],
    )
    # When the account is synced
    run = sync_scope(kinds=["clusters", "instances"], triggered_by="test")
    # Then the cluster row mirrors AWS's fields
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    cluster = DbCluster.objects.get(identifier="orders")
    assert cluster.arn == f"arn:aws:rds:{REGION}:{PROD}:cluster:orders"
    assert cluster.account.account_id == PROD
    assert cluster.region == REGION
    assert cluster.engine == "aurora-mysql"
    assert cluster.engine_version == "8.0.mysql_aurora.3.05.2"
    assert cluster.deletion_protection is True
    assert cluster.storage_encrypted is True
    assert cluster.backtrack_window == 86400
    assert cluster.tags == {"team": "payments"}
    assert cluster.port == 3306
    assert cluster.writer_identifier == "orders-1"
    assert [m["identifier"] for m in cluster.members] == ["orders-1", "orders-2"]
    assert cluster.latest_restorable_time is not None
    # And the instances are linked to it with the writer flag from the cluster's members
    writer, reader = DbInstance.objects.order_by("identifier")
    assert (writer.cluster, writer.is_cluster_writer) == (cluster, True)
    assert (reader.cluster, reader.is_cluster_writer) == (cluster, False)
    assert reader.instance_class == "db.r6g.large"
    assert reader.promotion_tier is not None
    assert run.counts["clusters"]["created"] == 1
    assert run.counts["instances"]["created"] == 2


def test_sync_maps_instance_fields_and_links_an_in_region_replica(rds):
    # Given a Multi-AZ, public, unencrypted PostgreSQL instance and a replica of it
    create_instance(
        rds,
        "billing",
        MultiAZ=True,
        PubliclyAccessible=True,
        BackupRetentionPeriod=1,
        Tags=[{"Key": "env", "Value": "prod"}],
    )
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-replica", SourceDBInstanceIdentifier="billing"
    )
    # When synced
    sync_scope(kinds=["instances"])
    # Then
    source = DbInstance.objects.get(identifier="billing")
    replica = DbInstance.objects.get(identifier="billing-replica")
    assert source.engine == "postgres"
    assert source.multi_az is True
    assert source.publicly_accessible is True
    assert source.storage_encrypted is False
    assert source.backup_retention_period == 1
    assert source.tags == {"env": "prod"}
    assert source.endpoint_address
    assert source.port == 5432
    assert source.read_replica_identifiers == ["billing-replica"]
    assert source.cluster is None
    assert source.is_writer
    assert replica.replica_source_identifier == "billing"
    assert replica.replica_source == source
    assert replica.is_replica
    assert not replica.is_cross_region_replica


def test_a_cross_region_replica_links_to_its_source_by_arn(sandbox):
    # Given an account in two regions with a cross-region replica
    make_account(PROD, regions=[REGION, OTHER_REGION])
    create_instance(client(PROD, REGION, "rds"), "ledger")
    source_arn = f"arn:aws:rds:{REGION}:{PROD}:db:ledger"
    client(PROD, OTHER_REGION, "rds").create_db_instance_read_replica(
        DBInstanceIdentifier="ledger-dr",
        SourceDBInstanceIdentifier=source_arn,
        DBInstanceClass="db.t3.micro",
    )
    # When both regions are synced (concurrently)
    run = sync_scope(kinds=["instances"])
    # Then the replica in the other region points at the source row
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    replica = DbInstance.objects.get(identifier="ledger-dr")
    assert replica.region == OTHER_REGION
    assert replica.replica_source_identifier == source_arn
    assert replica.replica_source == DbInstance.objects.get(identifier="ledger")
    assert replica.is_cross_region_replica


def test_resync_of_an_unchanged_estate_writes_no_mirror_row(rds):
    # Given a synced estate of every RDS shape sync handles
    create_aurora(rds, "orders", members=2)
    create_instance(rds, "billing")
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-replica", SourceDBInstanceIdentifier="billing"
    )
    rds.create_db_snapshot(DBSnapshotIdentifier="billing-manual", DBInstanceIdentifier="billing")
    rds.create_db_parameter_group(
        DBParameterGroupName="custom-pg", DBParameterGroupFamily="postgres16", Description="x"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="custom-pg",
        Parameters=[
            {"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"}
        ],
    )
    with capture() as first_ctx:
        first = sync_scope()
    assert first.total("created") > 0
    assert mirror_writes(first_ctx)  # the counter does see writes (COPY on PostgreSQL)
    # When nothing changed in AWS and it is synced again
    with capture() as ctx:
        again = sync_scope()
    # Then not one INSERT, UPDATE or DELETE touched a mirror table
    assert mirror_writes(ctx) == []
    assert again.total("created") == again.total("updated") == again.total("gone") == 0
    assert again.total("unchanged") == first.total("created")
    assert again.status == first.status


def test_a_changed_resource_is_updated_and_only_it(rds):
    create_instance(rds, "billing")
    create_instance(rds, "other")
    sync_scope(kinds=["instances"])
    before = DbInstance.objects.get(identifier="other").last_synced_at
    # When one instance changes in AWS
    rds.modify_db_instance(DBInstanceIdentifier="billing", DeletionProtection=True)
    run = sync_scope(kinds=["instances"])
    # Then exactly that row is updated
    assert run.counts["instances"] == {"created": 0, "updated": 1, "unchanged": 1, "gone": 0}
    assert DbInstance.objects.get(identifier="billing").deletion_protection is True
    assert DbInstance.objects.get(identifier="other").last_synced_at == before


def test_a_vanished_instance_is_marked_gone_and_cleared_when_it_reappears(rds):
    create_instance(rds, "temp")
    create_instance(rds, "keeper")
    sync_scope(kinds=["instances"])
    # When the instance is deleted in AWS
    rds.delete_db_instance(DBInstanceIdentifier="temp", SkipFinalSnapshot=True)
    run = sync_scope(kinds=["instances"])
    # Then its row is kept, with gone_at set
    gone = DbInstance.objects.get(identifier="temp")
    assert gone.gone_at is not None
    assert gone.is_gone
    assert run.counts["instances"]["gone"] == 1
    assert list(DbInstance.objects.live().values_list("identifier", flat=True)) == ["keeper"]
    # When an instance with the same ARN comes back
    create_instance(rds, "temp")
    run = sync_scope(kinds=["instances"])
    # Then the same row is live again
    back = DbInstance.objects.get(identifier="temp")
    assert back.pk == gone.pk
    assert back.gone_at is None
    assert run.counts["instances"]["updated"] == 1


def test_sync_pages_past_a_hundred_records(rds):
    # Given more instances than one page of DescribeDBInstances holds (100)
    for n in range(105):
        create_instance(rds, f"db-{n:03d}")
    # When synced
    run = sync_scope(kinds=["instances"])
    # Then every one is mirrored, read over two pages
    assert DbInstance.objects.count() == 105
    assert run.counts["instances"]["created"] == 105
    describe_calls = run.api_calls  # one kind, one region: only DescribeDBInstances pages
    assert describe_calls == 2


def test_each_account_is_read_through_its_own_role(sandbox):
    # Given two accounts, each with its own instance, reached by assume-role
    make_account(PROD)
    make_account(STAGING)
    create_instance(client(PROD, REGION, "rds"), "prod-db")
    create_instance(client(STAGING, REGION, "rds"), "staging-db")
    # When everything is synced
    run = sync_scope(kinds=["instances"])
    # Then each instance is mirrored under its own account
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    mirrored = {i.identifier: i.account.account_id for i in DbInstance.objects.all()}
    assert mirrored == {"prod-db": PROD, "staging-db": STAGING}
    assert DbInstance.objects.get(identifier="prod-db").arn.split(":")[4] == PROD


def test_scope_limits_accounts_regions_and_kinds(sandbox):
    make_account(PROD, regions=[REGION, OTHER_REGION])
    make_account(STAGING)
    create_instance(client(PROD, REGION, "rds"), "a")
    create_instance(client(PROD, OTHER_REGION, "rds"), "b")
    create_instance(client(STAGING, REGION, "rds"), "c")
    run = sync_scope(account_ids=[PROD], regions=[OTHER_REGION], kinds=["instances"])
    assert list(DbInstance.objects.values_list("identifier", flat=True)) == ["b"]
    assert list(run.counts) == ["instances"]
    assert run.scope == {"accounts": [PROD], "regions": [OTHER_REGION], "kinds": ["instances"]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ["instances", "bogus"]}, "Unknown kind(s): bogus"),
        ({"account_ids": ["999999999999"]}, "Unknown account(s): 999999999999"),
        ({"regions": ["mars-north-1"]}, "Region(s) not configured"),
    ],
)
def test_an_unknown_scope_is_refused_before_any_run(prod, kwargs, message):
    with pytest.raises(ScopeError) as caught:
        sync_scope(**kwargs)
    assert message in str(caught.value)
    assert not SyncRun.objects.exists()


def test_one_denied_kind_is_recorded_and_the_others_still_sync(sandbox, rds):
    # Given DMS is denied to Estate's role in one region
    create_instance(rds, "billing")
    sandbox.faults.deny(account_id=PROD, region=REGION, service="dms")
    # When everything is synced
    run = sync_scope()
    # Then the run is partial: DMS failed with AWS's message, RDS was mirrored
    assert run.status == SyncRun.Status.PARTIAL
    assert list(run.errors) == [f"{PROD}/{REGION}/dms"]
    assert "AccessDenied" in run.errors[f"{PROD}/{REGION}/dms"]
    assert DbInstance.objects.filter(identifier="billing").exists()
    assert run.counts["instances"]["created"] == 1


def test_a_failed_listing_marks_nothing_gone(sandbox, rds):
    create_instance(rds, "billing")
    sync_scope(kinds=["instances"])
    # When DescribeDBInstances is denied on the next sync
    sandbox.faults.deny(account_id=PROD, service="rds", action_prefix="DescribeDBInstances")
    run = sync_scope(kinds=["instances"])
    # Then the error is recorded and the instance is not marked gone
    assert run.status == SyncRun.Status.FAILED
    assert "DescribeDBInstances" in run.errors[f"{PROD}/{REGION}/instances"]
    assert DbInstance.objects.get(identifier="billing").gone_at is None


def test_a_role_that_cannot_be_assumed_fails_that_account_only(sandbox):
    # Given an account reached through a role and one on Estate's own credentials
    make_account(PROD)
    own = make_account("123456789012", name="own")  # moto's default account
    own.role_arn = ""
    own.save()
    create_instance(client(PROD, REGION, "rds"), "prod-db")
    create_instance(aws.client(aws.AccountRef("123456789012"), REGION, "rds"), "own-db")
    # When STS refuses to hand out the role's credentials (none cached from seeding)
    aws.forget_sessions()
    sandbox.faults.deny(service="sts", action_prefix="AssumeRole")
    run = sync_scope(kinds=["instances", "snapshots"])
    # Then every kind of the role's account fails with the reason; the other syncs
    assert run.status == SyncRun.Status.PARTIAL
    assert sorted(run.errors) == [f"{PROD}/{REGION}/instances", f"{PROD}/{REGION}/snapshots"]
    assert all(v.startswith("AssumeRole: AccessDenied") for v in run.errors.values())
    assert list(DbInstance.objects.values_list("identifier", flat=True)) == ["own-db"]


def _throttle_scenario(sandbox, settings, *, paced: bool, manual_snapshots: int) -> SyncRun:
    # AWS's bucket, shrunk so the test is fast: burst 3, refill 3/s in the sandbox.
    # Estate's pacer a little inside it (burst 2, 2/s, as one would configure it below
    # AWS's numbers), which leaves room for requests that arrive bunched on a busy
    # machine. The rates are low on purpose: the outcome must not depend on how fast
    # this machine answers a call.
    settings.AWS_RATE_BURST = 2
    settings.AWS_RATE_PER_SECOND = 2.0
    # Unpaced, botocore's retries answer the throttles; two attempts keep the test fast.
    settings.AWS_MAX_ATTEMPTS = 8 if paced else 2
    settings.SYNC_PACING = paced
    aws.reset_pacers()
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    create_instance(rds, "billing")
    # Each manual snapshot costs sync one DescribeDBSnapshotAttributes call.
    for n in range(manual_snapshots):
        rds.create_db_snapshot(DBSnapshotIdentifier=f"snap-{n}", DBInstanceIdentifier="billing")
    sandbox.faults.throttle(burst=3, rate=3.0, service="rds")
    return sync_scope(kinds=["snapshots"])


def test_the_pacer_keeps_sync_inside_awss_bucket_without_throttles(sandbox, settings):
    run = _throttle_scenario(sandbox, settings, paced=True, manual_snapshots=3)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.api_calls == 5  # two listings + three attribute calls: past the burst of 3
    assert run.throttle_retries == 0
    assert sandbox.faults.throttled_requests == 0
    assert run.paced_seconds > 0


def test_without_pacing_the_same_sync_is_throttled(sandbox, settings):
    # 14 calls: AWS's bucket holds 3 + 3/s, so only calls slower than ~0.25 s each
    # (far slower than the sandbox on any machine) would escape throttling.
    run = _throttle_scenario(sandbox, settings, paced=False, manual_snapshots=12)
    assert run.throttle_retries > 0
    assert sandbox.faults.throttled_requests > 0


def test_a_sync_of_a_scope_that_is_already_syncing_is_skipped(prod):
    # Given another (live) run holds the lease on the instances of this account/region
    other = SyncRun.objects.create(status=SyncRun.Status.RUNNING)
    assert leases.claim(other, [(PROD, REGION, "instances")]) is None
    # When a sync of an overlapping scope starts
    run = sync_scope(kinds=["clusters", "instances"])
    # Then it is skipped, says why, and holds nothing
    assert run.status == SyncRun.Status.SKIPPED
    assert f"SyncRun {other.pk}" in run.message
    assert not SyncLease.objects.filter(holder=run).exists()
    # And a sync of a disjoint kind runs
    assert sync_scope(kinds=["dms"]).status == SyncRun.Status.SUCCEEDED


def test_an_expired_lease_is_taken_over(prod):
    dead = SyncRun.objects.create(status=SyncRun.Status.RUNNING)
    leases.claim(dead, [(PROD, REGION, "instances")])
    SyncLease.objects.filter(holder=dead).update(expires_at=timezone.now() - timedelta(seconds=1))
    run = sync_scope(kinds=["instances"])
    assert run.status == SyncRun.Status.SUCCEEDED
    assert SyncLease.objects.get(kind="instances").holder is None  # released at the end


@pytest.mark.postgres("two threads write at once: in-memory SQLite may lock one out")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_syncs_of_one_scope_never_both_run(sandbox):
    """Real threads with their own connections (the lease is a committed row)."""
    import threading

    from django.db import connection

    make_account(PROD)
    create_instance(client(PROD, REGION, "rds"), "billing")
    barrier = threading.Barrier(2)
    results: list[SyncRun] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(sync_scope(kinds=["instances", "snapshots"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(r.status for r in results)
    # Either one ran while the other was skipped, or they ran one after the other.
    assert statuses in (
        [SyncRun.Status.SKIPPED, SyncRun.Status.SUCCEEDED],
        [SyncRun.Status.SUCCEEDED, SyncRun.Status.SUCCEEDED],
    )
    assert DbInstance.objects.count() == 1


def test_run_records_calls_duration_and_per_kind_counts(rds):
    create_instance(rds, "billing")
    run = sync_scope(triggered_by="alice")
    assert run.triggered_by == "alice"
    assert run.finished_at is not None
    assert run.duration_seconds >= 0
    assert run.api_calls >= len(KINDS)
    assert set(run.counts) >= set(KINDS)
    assert run.counts["instances"] == {"created": 1, "updated": 0, "unchanged": 0, "gone": 0}
    # the instance endpoint is derived from the instance
    assert DbEndpoint.objects.get(kind="instance").instance == DbInstance.objects.get()


@pytest.mark.django_db(transaction=True)
def test_a_waiting_sync_runs_once_the_holder_releases_its_lease(prod, rds):
    import threading

    from django.db import connection

    create_instance(rds, "billing")
    other = SyncRun.objects.create(status=SyncRun.Status.RUNNING)
    leases.claim(other, [(PROD, REGION, "instances")])

    def holder_finishes() -> None:
        try:
            leases.release(other)
        finally:
            connection.close()

    # When the holder finishes a moment later (in another thread, as another worker would)
    timer = threading.Timer(0.3, holder_finishes)
    timer.start()
    try:
        run = sync_scope(kinds=["instances"], wait_seconds=10)
    finally:
        timer.cancel()
    # Then the waiting run ran instead of being skipped
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.counts["instances"]["created"] == 1


def test_a_waiting_sync_is_skipped_when_the_deadline_passes(prod):
    other = SyncRun.objects.create(status=SyncRun.Status.RUNNING)
    leases.claim(other, [(PROD, REGION, "instances")])
    run = sync_scope(kinds=["instances"], wait_seconds=0.2)
    assert run.status == SyncRun.Status.SKIPPED


def test_a_running_sync_saves_its_progress_as_units_finish(sandbox, monkeypatch):
    # Given an account in two regions
    make_account(PROD, regions=[REGION, OTHER_REGION])
    create_instance(client(PROD, REGION, "rds"), "a")
    create_instance(client(PROD, OTHER_REGION, "rds"), "b")
    saved: list[tuple[str, dict]] = []
    original = SyncRun.save

    def spy(self, *args, **kwargs):
        if "counts" in (kwargs.get("update_fields") or ()):
            saved.append((self.status, dict(self.counts)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncRun, "save", spy)
    # When it is synced
    run = sync_scope(kinds=["instances"])
    # Then the first finished unit's counts were saved while the run was still running
    assert run.status == SyncRun.Status.SUCCEEDED
    assert saved
    status, counts = saved[0]
    assert status == SyncRun.Status.RUNNING
    assert counts["instances"]["created"] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_account_and_region_share_one_pacer(sandbox, settings):
    """Two runs of disjoint kinds (no lease conflict) in parallel threads draw from the
    same account/region bucket, so together they still stay inside AWS's rate."""
    import threading

    from django.db import connection

    settings.AWS_RATE_BURST = 2
    settings.AWS_RATE_PER_SECOND = 30.0
    aws.reset_pacers()
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    create_instance(rds, "billing")
    # Enough calls in each run that two separate 30/s pacers would overrun 40/s.
    for n in range(12):
        rds.create_db_snapshot(DBSnapshotIdentifier=f"snap-{n}", DBInstanceIdentifier="billing")
        rds.create_db_parameter_group(
            DBParameterGroupName=f"pg-{n}", DBParameterGroupFamily="postgres16", Description="x"
        )
    # AWS's bucket (shrunk): one pacer's 30/s fits inside it, two pacers' 60/s would not
    sandbox.faults.throttle(burst=4, rate=40.0, service="rds")
    runs: list[SyncRun] = []

    def sync(kinds: list[str]) -> None:
        try:
            runs.append(sync_scope(kinds=kinds))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=sync, args=(["snapshots"],)),
        threading.Thread(target=sync, args=(["parameter_groups"],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status for r in runs) == [SyncRun.Status.SUCCEEDED] * 2
    assert sum(r.throttle_retries for r in runs) == 0
    assert sandbox.faults.throttled_requests == 0


def _synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.postgres("synchronous_commit is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_mirror_writes_do_not_wait_for_the_disk_but_nothing_else_changes(rds):
    from django.db import transaction

    from estate.sync.store import mirror_transaction

    # The mirror's own transaction commits without waiting for the WAL flush ...
    with mirror_transaction():
        assert _synchronous_commit() == "off"
    # ... only that transaction: the session is back to the server's setting after it
    assert _synchronous_commit() == "on"
    # and a mirror write inside someone else's transaction leaves that one as it is
    with transaction.atomic(), mirror_transaction():
        assert _synchronous_commit() == "on"
    # A sync through it still writes what it saw
    create_aurora(rds, "orders")
    assert sync_scope(triggered_by="test").status == SyncRun.Status.SUCCEEDED
    assert DbCluster.objects.filter(identifier="orders").exists()
