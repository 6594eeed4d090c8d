"""Restore drills: restore the latest snapshot into a temporary instance, time it, and
always delete it — on success, on a restore that fails midway, and on cancel."""

from __future__ import annotations

import pytest

from drills.models import DrillRun, RunStatus
from estate.models import DbInstance
from operations import engine
from operations.models import State
from operations.services import cancel_operation, start_operation
from tests.driving import drive
from tests.factories.operations import (
    ACCOUNT_ID,
    REGION,
    create_instance,
    mirror,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(account, rds):
    create_instance(rds, "ledger", multi_az=False)
    wait_available(rds, instances=["ledger"])
    rds.create_db_snapshot(DBInstanceIdentifier="ledger", DBSnapshotIdentifier="ledger-manual")
    mirror(account, rds)
    return DbInstance.objects.get(identifier="ledger")


def _instances(rds) -> set[str]:
    return {i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]}


def _moto_instance(identifier: str):
    from moto.rds.models import rds_backends

    return rds_backends[ACCOUNT_ID][REGION].databases[identifier]


def test_restore_drill_restores_times_and_deletes_the_temporary_instance(ledger, operator, rds):
    # When an operator runs a restore drill of ledger
    op = start_operation("instance_restore_drill", ledger, {}, requested_by=operator)
    op = drive(op.pk, timeout=20)
    # Then it restored the latest snapshot, recorded the duration, and cleaned up
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert run.restore_seconds is not None
    assert run.restore_seconds >= 0
    assert run.cleaned_up is True
    assert run.temp_identifier not in _instances(rds)
    restores = mutating_calls("RestoreDBInstanceFromDBSnapshot")
    assert len(restores) == 1
    assert len(mutating_calls("DeleteDBInstance")) == 1
    assert any("Cleanup done" in e.message for e in op.events.all())


def test_restore_that_fails_midway_still_cleans_up(ledger, operator, rds, fast_sandbox):
    from sandbox.extensions import lifecycle_core

    # Given a restore that takes a while to create
    lifecycle_core.set_durations(default=0.05, create=30)
    op = start_operation("instance_restore_drill", ledger, {}, requested_by=operator)
    engine.advance(op.pk, force=True)  # choose the source, start the restore, wait
    op.refresh_from_db()
    assert op.current_step == "await_restore"
    temp = op.memory["temp"]
    assert temp in _instances(rds)
    # When the restore fails midway (AWS marks the new instance incompatible-restore)
    lifecycle_core.settle(_moto_instance(temp), force=True)
    _moto_instance(temp).status = "incompatible-restore"
    op = drive(op.pk, timeout=20)
    # Then the drill failed with the reason, and the temporary instance was deleted anyway
    assert op.state == State.FAILED
    assert "incompatible-restore" in op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.FAILED
    assert run.cleaned_up is True
    assert temp not in _instances(rds)
    assert len(mutating_calls("DeleteDBInstance")) == 1
    messages = [e.message for e in op.events.all()]
    assert any("cleaning up before failing" in m for m in messages)
    assert any("Cleanup done" in m for m in messages)


def test_cancelled_restore_drill_still_cleans_up(ledger, operator, rds, fast_sandbox):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(default=0.05, create=0.5)
    op = start_operation("instance_restore_drill", ledger, {}, requested_by=operator)
    engine.advance(op.pk, force=True)
    op.refresh_from_db()
    temp = op.memory["temp"]
    assert temp in _instances(rds)
    # When the operator cancels while AWS is restoring
    cancel_operation(op, by=operator)
    op = drive(op.pk, timeout=20)
    # Then the operation ends cancelled and the temporary instance is gone
    assert op.state == State.CANCELLED
    assert temp not in _instances(rds)
    run = DrillRun.objects.get(operation=op)
    assert run.cleaned_up is True
    assert run.status == RunStatus.CANCELLED


def test_restore_drill_without_any_snapshot_fails_before_touching_anything(account, rds, operator):
    # Given an instance without any snapshot (automated backups off)
    rds.create_db_instance(
        DBInstanceIdentifier="bare",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
        BackupRetentionPeriod=0,
    )
    # (moto takes an automated snapshot regardless: remove it)
    for snap in rds.describe_db_snapshots(DBInstanceIdentifier="bare")["DBSnapshots"]:
        rds.delete_db_snapshot(DBSnapshotIdentifier=snap["DBSnapshotIdentifier"])
    assert rds.describe_db_snapshots(DBInstanceIdentifier="bare")["DBSnapshots"] == []
    wait_available(rds, instances=["bare"])
    mirror(account, rds)
    bare = DbInstance.objects.get(identifier="bare")
    op = start_operation("instance_restore_drill", bare, {}, requested_by=operator)
    op = drive(op.pk, timeout=10)
    assert op.state == State.FAILED
    assert "no available snapshot" in op.error
    assert mutating_calls("RestoreDBInstanceFromDBSnapshot") == []


def test_cluster_restore_drill_restores_a_cluster_with_an_instance_and_deletes_both(
    account, rds, operator
):
    from estate.models import DbCluster
    from tests.factories.operations import create_cluster

    # Given an Aurora cluster with a manual cluster snapshot
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="orders", DBClusterSnapshotIdentifier="orders-manual"
    )
    mirror(account, rds)
    cluster = DbCluster.objects.get(identifier="orders")
    # When a restore drill runs
    op = start_operation("cluster_restore_drill", cluster, {}, requested_by=operator)
    op = drive(op.pk, timeout=20)
    # Then the snapshot was restored into a temporary cluster with an instance, timed,
    # and both were deleted
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert run.restore_seconds is not None
    clusters = {c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]}
    assert run.temp_identifier not in clusters
    assert not [i for i in _instances(rds) if i.startswith(run.temp_identifier)]
    assert len(mutating_calls("RestoreDBClusterFromSnapshot")) == 1
    assert len(mutating_calls("DeleteDBCluster")) == 1
    assert len(mutating_calls("DeleteDBInstance")) == 1


def test_restore_drill_runs_the_sql_check_with_the_dsn_from_the_environment(
    ledger, operator, rds, monkeypatch
):
    # Given a DSN (reaching a real PostgreSQL) in an environment variable
    monkeypatch.setenv("LEDGER_CHECK_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    op = start_operation(
        "instance_restore_drill",
        ledger,
        {"check_dsn_env": "LEDGER_CHECK_DSN"},
        requested_by=operator,
    )
    op = drive(op.pk, timeout=20)
    assert op.state == State.SUCCEEDED, op.error
    assert any("SELECT 1 answered" in e.message for e in op.events.all())
    # And the DSN itself was stored nowhere
    assert "postgresql://" not in str(op.params) + str(op.memory) + str(op.result)


def test_failed_sql_check_fails_the_drill_after_cleanup(ledger, operator, rds, monkeypatch):
    from sandbox.listeners import LoopbackListener

    with LoopbackListener() as closed:
        port = closed.port
    monkeypatch.setenv("LEDGER_CHECK_DSN", f"postgresql://postgres@127.0.0.1:{port}/postgres")
    op = start_operation(
        "instance_restore_drill",
        ledger,
        {"check_dsn_env": "LEDGER_CHECK_DSN"},
        requested_by=operator,
    )
    op = drive(op.pk, timeout=20)
    assert op.state == State.FAILED
    assert "SQL check failed" in op.error
    run = DrillRun.objects.get(operation=op)
    assert run.cleaned_up is True
    assert run.temp_identifier not in _instances(rds)


def _started(kind: str, target, params: dict, operator):
    """A drill started and advanced until AWS is creating its copy (which then takes
    30 s: long enough to look at it)."""
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(default=0.05, create=30)
    op = start_operation(kind, target, params, requested_by=operator)
    engine.advance(op.pk, force=True)
    op.refresh_from_db()
    assert op.current_step in ("await_restore", "add_instance"), op.error
    return op


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("TagList", [])}


@pytest.fixture
def requests(monkeypatch):
    """The parameters of every AWS request Estate makes (the sandbox drops some)."""
    from estate import aws

    seen: list[tuple[str, dict]] = []
    real = aws.call

    def spy(client, operation, **kwargs):
        seen.append((operation, kwargs))
        return real(client, operation, **kwargs)

    monkeypatch.setattr(aws, "call", spy)
    return seen


def _asked(requests, operation: str) -> dict:
    (kwargs,) = [kw for op, kw in requests if op == operation]
    return kwargs


def test_the_snapshot_is_restored_by_the_restore_kind_as_a_private_single_az_copy(
    ledger, operator, rds, fast_sandbox, requests
):
    # When a restore drill of ledger's latest snapshot has asked AWS for the copy
    op = _started("instance_restore_drill", ledger, {}, operator)
    # Then the restore kind asked for it (its tags: where from, which operation), as the
    # drill's temporary copy: tagged so, single-AZ, not public, of the drill's class
    asked = _asked(requests, "restore_db_instance_from_db_snapshot")
    snapshot = rds.describe_db_snapshots(DBSnapshotIdentifier=op.memory["snapshot"])
    assert asked["DBSnapshotIdentifier"] == op.memory["snapshot"]
    assert asked["DBInstanceIdentifier"] == op.memory["temp"]
    assert (asked["MultiAZ"], asked["PubliclyAccessible"]) == (False, False)
    assert asked["DBInstanceClass"] == "db.t3.micro"
    copy = rds.describe_db_instances(DBInstanceIdentifier=op.memory["temp"])["DBInstances"][0]
    tags = _tags(copy)
    assert tags["estate:restored-from"] == snapshot["DBSnapshots"][0]["DBSnapshotArn"]
    assert tags["estate:operation"] == str(op.pk)
    assert tags["estate:restore-drill"] == str(op.pk)
    assert DrillRun.objects.get(operation=op).wrapped_kind == "restore_instance_snapshot"
    assert len(mutating_calls("RestoreDBInstanceFromDBSnapshot")) == 1


def test_a_point_in_time_drill_restores_beside_its_source_and_cleans_up(
    ledger, operator, rds, fast_sandbox, requests
):
    from sandbox.extensions import lifecycle_core

    # When a restore drill of the latest restorable time has asked AWS for the copy
    op = _started("instance_restore_drill", ledger, {"method": "pitr"}, operator)
    copy = rds.describe_db_instances(DBInstanceIdentifier=op.memory["temp"])["DBInstances"][0]
    # Then the point-in-time restore kind placed it beside its source (its security
    # and parameter groups, not the default VPC's)
    source = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
    for key in ("VpcSecurityGroups", "DBParameterGroups"):
        assert copy.get(key) == source.get(key), key
    assert _tags(copy)["estate:restored-from"] == ledger.arn
    asked = _asked(requests, "restore_db_instance_to_point_in_time")
    assert (asked["MultiAZ"], asked["PubliclyAccessible"]) == (False, False)
    # And when the copy is ready, the drill times it and deletes it
    lifecycle_core.set_durations(default=0.05)
    lifecycle_core.settle(_moto_instance(op.memory["temp"]), force=True)
    op = drive(op.pk, timeout=20)
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert (run.status, run.cleaned_up, run.wrapped_kind) == (
        RunStatus.PASSED,
        True,
        "restore_instance_pitr",
    )
    assert op.memory["temp"] not in _instances(rds)
    assert len(mutating_calls("RestoreDBInstanceToPointInTime")) == 1
    assert mutating_calls("RestoreDBInstanceFromDBSnapshot") == []


def test_a_point_in_time_drill_without_automated_backups_fails_before_any_restore(
    account, rds, operator
):
    # Given an instance whose automated backups are off
    create_instance(rds, "scratch", multi_az=False)
    rds.modify_db_instance(
        DBInstanceIdentifier="scratch", BackupRetentionPeriod=0, ApplyImmediately=True
    )
    wait_available(rds, instances=["scratch"])
    mirror(account, rds)
    scratch = DbInstance.objects.get(identifier="scratch")
    # When a point-in-time restore drill runs
    op = start_operation(
        "instance_restore_drill", scratch, {"method": "pitr"}, requested_by=operator
    )
    op = drive(op.pk, timeout=10)
    # Then the restore kind's own check stopped it, and nothing was asked of AWS
    assert op.state == State.FAILED
    assert "automated backups turned off" in op.error
    assert DrillRun.objects.get(operation=op).status == RunStatus.FAILED
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


def test_someone_elses_instance_with_the_temporary_name_is_left_alone(ledger, operator, rds):
    # Given an instance that already has the drill's temporary name (not the drill's)
    op = start_operation("instance_restore_drill", ledger, {}, requested_by=operator)
    create_instance(rds, f"estate-rd-{op.pk}-ledger", multi_az=False)
    # When the drill runs
    op = drive(op.pk, timeout=10)
    # Then it failed without restoring, and without deleting what is not its own
    assert op.state == State.FAILED
    assert "already exists in AWS" in op.error
    assert mutating_calls("RestoreDBInstanceFromDBSnapshot") == []
    assert mutating_calls("DeleteDBInstance") == []
    assert f"estate-rd-{op.pk}-ledger" in _instances(rds)


def test_a_cluster_point_in_time_drill_runs_the_cluster_restore_kind(
    account, rds, operator, requests
):
    from estate.models import DbCluster
    from tests.factories.operations import create_cluster

    # Given an Aurora cluster with a long name (61 characters: "<name>-1" is its instance)
    name = "orders-" + "x" * 54
    create_cluster(rds, name, instances=1)
    wait_available(rds, clusters=[name])
    mirror(account, rds)
    cluster = DbCluster.objects.get(identifier=name)
    # When a restore drill of its latest restorable time runs
    op = start_operation(
        "cluster_restore_drill", cluster, {"method": "pitr"}, requested_by=operator
    )
    op = drive(op.pk, timeout=20)
    # Then the cluster restore kind restored a cluster and its instance, both tagged as
    # the drill's, with names AWS accepts; and both were deleted
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert run.wrapped_kind == "restore_cluster_pitr"
    (restored,) = mutating_calls("RestoreDBClusterToPointInTime")
    (instance,) = [
        c for c in mutating_calls("CreateDBInstance") if c.target.startswith(run.temp_identifier)
    ]
    assert restored.target == run.temp_identifier
    assert max(len(restored.target), len(instance.target)) <= 63
    drill_tag = {"Key": "estate:restore-drill", "Value": str(op.pk)}
    assert drill_tag in _asked(requests, "restore_db_cluster_to_point_in_time")["Tags"]
    created = [kw for o, kw in requests if o == "create_db_instance"]
    assert [kw["DBClusterIdentifier"] for kw in created] == [run.temp_identifier]
    assert drill_tag in created[0]["Tags"]
    # (of a class Aurora has: the drill form's default for a cluster)
    assert created[0]["DBInstanceClass"] == "db.t4g.medium"
    assert [c.target for c in mutating_calls("DeleteDBInstance")] == [instance.target]
    assert [c.target for c in mutating_calls("DeleteDBCluster")] == [run.temp_identifier]
    assert mutating_calls("RestoreDBClusterFromSnapshot") == []
