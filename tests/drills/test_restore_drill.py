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
from tests.operations.conftest import (
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
    from tests.operations.conftest import create_cluster

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
    assert f"{run.temp_identifier}-1" not in _instances(rds)
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
