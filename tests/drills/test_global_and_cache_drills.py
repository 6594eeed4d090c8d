"""Drills wrapping the Global Database switchover and the ElastiCache shard test
failover: the probe sees the outage the sandbox simulates for each."""

from __future__ import annotations

import pytest

from drills.models import DrillRun, RunStatus
from estate import aws
from estate.models import CacheReplicationGroup
from operations.models import State
from operations.services import start_operation
from tests.driving import drive
from tests.factories.operations import REGION, make_global_database, mutating_calls, quiet_windows

pytestmark = pytest.mark.django_db

OUTAGE = 1.0


@pytest.fixture
def slow_transitions(fast_sandbox):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(default=0.05, failover=OUTAGE, **{"global": OUTAGE})


def _dark_seconds(listener) -> float:
    start, end = listener.dark_periods[-1]
    return end - start


def _params(listener, label: str, **kw) -> dict:
    return {
        "probe_endpoints": [
            {"label": label, "host": "127.0.0.1", "port": listener.port, "kind": "tcp"}
        ],
        "baseline_seconds": 0.3,
        "consecutive_successes": 3,
        "probe_interval_ms": 50,
        "slo_seconds": 30,
        **kw,
    }


def _switchover_drill(global_db, operator, writer):
    """A switchover drill of ``global_db`` to eu-west-1, probing ``writer``."""
    return start_operation(
        "global_switchover_drill",
        global_db,
        _params(writer, "writer", target_region="eu-west-1"),
        requested_by=operator,
    )


@pytest.fixture
def global_db(account, slow_transitions):
    return make_global_database(account)


@pytest.fixture
def sessions(account, slow_transitions):
    cache = aws.client(account, REGION, "elasticache")
    cache.create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
    )
    live = cache.describe_replication_groups(ReplicationGroupId="sessions")["ReplicationGroups"][0]
    return CacheReplicationGroup.objects.create(
        account=account,
        region=REGION,
        arn=live["ARN"],
        identifier="sessions",
        status=live["Status"],
        automatic_failover=live["AutomaticFailover"],
        node_groups=[
            {
                "id": g["NodeGroupId"],
                "members": [
                    {"cache_cluster_id": m["CacheClusterId"], "role": m.get("CurrentRole", "")}
                    for m in g["NodeGroupMembers"]
                ],
            }
            for g in live["NodeGroups"]
        ],
    )


def test_global_switchover_drill_moves_the_writer_and_measures_the_outage(
    global_db, operator, listeners
):
    # Given the global writer endpoint backed by a listener dark during the switchover
    writer = listeners.back_endpoint("payments")
    # When a switchover drill to eu-west-1 runs
    op = _switchover_drill(global_db, operator, writer)
    op = drive(op.pk, timeout=30, interval=0.05)
    # Then the writer moved and the probe measured the switchover's outage
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert (run.writer_before, run.writer_after) == ("us-east-1", "eu-west-1")
    assert run.client_downtime_seconds == pytest.approx(_dark_seconds(writer), abs=0.5)
    assert len(mutating_calls("SwitchoverGlobalCluster")) == 1


def test_global_failover_drill_promotes_the_secondary_and_measures_the_outage(
    global_db, admin_user, listeners
):
    # Given the global writer endpoint backed by a listener dark during the failover
    writer = listeners.back_endpoint("payments")
    # When an Admin runs an unplanned (data-loss) failover drill to eu-west-1
    op = start_operation(
        "global_failover_drill",
        global_db,
        _params(
            writer,
            "writer",
            target_region="eu-west-1",
            accept_data_loss="ACCEPT DATA LOSS",
            confirm=global_db.identifier,
        ),
        requested_by=admin_user,
    )
    op = drive(op.pk, timeout=30, interval=0.05)
    # Then the secondary became the writer through FailoverGlobalCluster, and the probe
    # measured the outage
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert (run.writer_before, run.writer_after) == ("us-east-1", "eu-west-1")
    assert run.client_downtime_seconds == pytest.approx(_dark_seconds(writer), abs=0.5)
    assert len(mutating_calls("FailoverGlobalCluster")) == 1
    assert mutating_calls("SwitchoverGlobalCluster") == []


def test_global_failover_drill_needs_the_data_loss_typed_and_an_admin(
    global_db, operator, admin_user, listeners
):
    from django.core.exceptions import PermissionDenied

    from operations.services import OperationRefused

    writer = listeners.back_endpoint("payments")
    params = _params(writer, "writer", target_region="eu-west-1", confirm=global_db.identifier)
    with pytest.raises(OperationRefused) as refused:
        start_operation("global_failover_drill", global_db, params, requested_by=admin_user)
    assert "accept_data_loss" in refused.value.errors
    with pytest.raises((OperationRefused, PermissionDenied)):
        start_operation(
            "global_failover_drill",
            global_db,
            {**params, "accept_data_loss": "ACCEPT DATA LOSS"},
            requested_by=operator,
        )
    assert mutating_calls("FailoverGlobalCluster") == []


def test_global_switchover_drill_to_a_region_without_secondary_fails_preflight(
    global_db, operator, listeners
):
    writer = listeners.back_endpoint("payments")
    op = _switchover_drill(global_db, operator, writer)
    # (the secondary vanished between the request and the drill)
    op.params["target_region"] = "ap-south-1"
    op.save(update_fields=["params"])
    op = drive(op.pk, timeout=10)
    assert op.state == State.FAILED
    assert "a secondary exists in the target region" in op.error
    assert mutating_calls("SwitchoverGlobalCluster") == []


def test_global_drill_stops_in_preflight_inside_a_member_clusters_backup_window(
    account, global_db, operator, listeners
):
    # Given the secondary cluster (as last synced) is inside its daily backup window,
    # and the primary has not been synced yet
    from datetime import timedelta

    from django.utils import timezone

    from estate.models import DbCluster

    now = timezone.now()
    window = f"{now - timedelta(minutes=10):%H:%M}-{now + timedelta(minutes=20):%H:%M}"
    live = aws.client(account, "eu-west-1", "rds").describe_db_clusters(
        DBClusterIdentifier="payments-euw1"
    )["DBClusters"][0]
    DbCluster.objects.create(
        account=account,
        region="eu-west-1",
        arn=live["DBClusterArn"],
        identifier="payments-euw1",
        status="available",
        engine="aurora-postgresql",
        preferred_backup_window=window,
        preferred_maintenance_window=quiet_windows()["PreferredMaintenanceWindow"],
    )
    writer = listeners.back_endpoint("payments")
    op = _switchover_drill(global_db, operator, writer)
    op = drive(op.pk, timeout=10)
    # Then the drill failed before touching anything, naming the member and its window
    assert op.state == State.FAILED
    assert "Preflight failed (outside the backup window)" in op.error
    run = DrillRun.objects.get(operation=op)
    checks = {c["check"]: c for c in run.preflight}
    assert checks["outside the backup window"]["detail"] == (
        f"payments-euw1 (eu-west-1): backup window {window} (UTC)"
    )
    # (the unsynced primary is named as such where nothing is inside a window)
    assert checks["outside the maintenance window"]["ok"]
    assert (
        "payments-use1 (us-east-1, not synced yet): no maintenance window"
        in (checks["outside the maintenance window"]["detail"])
    )
    assert mutating_calls("SwitchoverGlobalCluster") == []


def test_cache_shard_drill_changes_the_primary_and_measures_the_outage(
    sessions, operator, listeners
):
    primary = listeners.back_endpoint("sessions")
    op = start_operation(
        "cache_failover_drill",
        sessions,
        _params(primary, "primary", node_group_id="0001"),
        requested_by=operator,
    )
    op = drive(op.pk, timeout=30, interval=0.05)
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert run.writer_before != run.writer_after
    assert run.client_downtime_seconds == pytest.approx(_dark_seconds(primary), abs=0.5)
    assert run.api_failover_seconds is not None
    assert len(mutating_calls("TestFailover")) == 1
