"""Serverless v2 capacity, snapshots and copies, restores, end to end."""

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.models import DbCluster, DbInstance, DbSnapshot
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import (
    REGION,
    create_cluster,
    create_instance,
    mirror,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(account, rds):
    create_cluster(rds, "events", instances=1)
    wait_available(rds, clusters=["events"], instances=["events-1"])
    mirror(account, rds)
    cluster = DbCluster.objects.get(identifier="events")
    live = rds.describe_db_clusters(DBClusterIdentifier="events")["DBClusters"][0]
    cluster.earliest_restorable_time = live["EarliestRestorableTime"]
    cluster.latest_restorable_time = timezone.now() + timedelta(minutes=1)
    cluster.save()
    return cluster


def test_serverless_range_is_changed_and_verified(cluster, operator, rds):
    op = start_operation(
        "serverless_capacity", cluster, {"min_acu": "0.5", "max_acu": "16"}, requested_by=operator
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    live = rds.describe_db_clusters(DBClusterIdentifier="events")["DBClusters"][0]
    assert live["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 16.0
    assert (op.result["min_acu"], op.result["max_acu"]) == (0.5, 16.0)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"min_acu": "8", "max_acu": "2"}, "max_acu", "at least the minimum"),
        ({"min_acu": "0.3", "max_acu": "2"}, "min_acu", "multiple of 0.5"),
        ({"min_acu": "1", "max_acu": "300"}, "max_acu", "less than or equal to 256"),
    ],
)
def test_serverless_range_outside_awss_limits_is_refused(cluster, operator, params, field, message):
    with pytest.raises(OperationRefused) as refused:
        start_operation("serverless_capacity", cluster, params, requested_by=operator)
    assert message in " ".join(refused.value.errors[field])
    assert Operation.objects.count() == 0
    assert mutating_calls("ModifyDBCluster") == []


def test_cluster_snapshot_is_taken(cluster, operator, rds):
    op = start_operation(
        "snapshot_cluster",
        cluster,
        {"snapshot_identifier": "events-before-upgrade"},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert "events-before-upgrade" in op.result["snapshot_arn"]
    assert len(mutating_calls("CreateDBClusterSnapshot")) == 1


def _mirror_snapshot(account, rds, name: str) -> DbSnapshot:
    snap = rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"][0]
    synced = DbSnapshot.objects.filter(arn=snap["DBSnapshotArn"]).first()
    if synced is not None:  # the operation's targeted resync already mirrored it
        return synced
    return DbSnapshot.objects.create(
        account=account,
        region=REGION,
        arn=snap["DBSnapshotArn"],
        identifier=name,
        status=snap["Status"],
        scope=DbSnapshot.Scope.INSTANCE,
        snapshot_type="manual",
        source_identifier=snap["DBInstanceIdentifier"],
        encrypted=bool(snap.get("Encrypted")),
    )


def test_instance_snapshot_then_restore_into_a_new_instance(account, rds, operator):
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    mirror(account, rds)
    op = start_operation(
        "snapshot_instance",
        DbInstance.objects.get(identifier="crm"),
        {"snapshot_identifier": "crm-snap"},
        requested_by=operator,
    )
    assert drive(op.pk).state == State.SUCCEEDED
    snapshot = _mirror_snapshot(account, rds, "crm-snap")
    op = start_operation(
        "restore_instance_snapshot",
        snapshot,
        {"instance_identifier": "crm-restored"},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    restored = rds.describe_db_instances(DBInstanceIdentifier="crm-restored")["DBInstances"][0]
    assert restored["DBInstanceStatus"] == "available"
    assert len(mutating_calls("RestoreDBInstanceFromDBSnapshot")) == 1


def test_snapshot_copied_to_another_region(account, rds, operator):
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    rds.create_db_snapshot(DBSnapshotIdentifier="crm-snap", DBInstanceIdentifier="crm")
    snapshot = _mirror_snapshot(account, rds, "crm-snap")
    op = start_operation(
        "copy_snapshot",
        snapshot,
        {"target_region": "eu-west-1", "copy_identifier": "crm-snap-dr"},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert ":eu-west-1:" in op.result["copy_arn"]
    assert [c.region for c in mutating_calls("CopyDBSnapshot")] == ["eu-west-1"]


def test_encrypted_copy_across_regions_needs_a_kms_key(account, rds, operator):
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    rds.create_db_snapshot(DBSnapshotIdentifier="crm-snap", DBInstanceIdentifier="crm")
    snapshot = _mirror_snapshot(account, rds, "crm-snap")
    snapshot.encrypted = True
    snapshot.save()
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "copy_snapshot",
            snapshot,
            {"target_region": "eu-west-1", "copy_identifier": "crm-snap-dr"},
            requested_by=operator,
        )
    assert "KMS key" in refused.value.errors["kms_key_id"][0]
    assert mutating_calls("CopyDBSnapshot") == []


def test_point_in_time_restore_inside_the_window(cluster, operator, rds):
    live = rds.describe_db_clusters(DBClusterIdentifier="events")["DBClusters"][0]
    when = live["EarliestRestorableTime"]  # inside the window, whatever its width
    op = start_operation(
        "restore_cluster_pitr",
        cluster,
        {
            "clone_identifier": "events-at-noon",
            "instance_class": "db.r6g.large",
            "restore_time": when.isoformat(),
        },
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    restored = rds.describe_db_clusters(DBClusterIdentifier="events-at-noon")["DBClusters"][0]
    assert restored["Status"] == "available"
    assert len(restored["DBClusterMembers"]) == 1


def test_point_in_time_restore_outside_the_window_is_refused(cluster, operator):
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "restore_cluster_pitr",
            cluster,
            {
                "clone_identifier": "events-old",
                "instance_class": "db.r6g.large",
                "restore_time": (timezone.now() - timedelta(days=30)).isoformat(),
            },
            requested_by=operator,
        )
    # Judged against AWS's window of now (check_live), never the mirror's.
    assert "outside the restorable window in AWS" in refused.value.errors["__all__"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBClusterToPointInTime") == []
