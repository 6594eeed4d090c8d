"""Point-in-time restore of a single DB instance into a new one, end to end."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from moto.rds.models import rds_backends

from estate.models import DbInstance
from operations import engine
from operations.kinds import restore
from operations.models import Operation, OperationEvent, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import (
    ACCOUNT_ID,
    REGION,
    create_cluster,
    create_instance,
    mirror,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


def _backdate(identifier: str, days: int) -> None:
    """Make the sandbox instance ``days`` old, so its restorable window is that wide
    (capped by its 7-day retention), as the demo seed does."""
    instance = rds_backends[ACCOUNT_ID][REGION].databases[identifier]
    created = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    instance.created = instance.instance_create_time = created


@pytest.fixture
def crm(account, rds) -> DbInstance:
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    _backdate("crm", 30)
    mirror(account, rds)
    return DbInstance.objects.get(identifier="crm")


def _params(**overrides):
    return {"instance_identifier": "crm-before-incident", **overrides}


def test_restore_to_a_time_inside_the_window(crm, operator, rds):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(create=0.3)  # long enough to be seen creating
    when = timezone.now() - timedelta(days=2)
    op = start_operation(
        "restore_instance_pitr",
        crm,
        _params(restore_time=when.isoformat(), instance_class="db.t3.small"),
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    restored = rds.describe_db_instances(DBInstanceIdentifier="crm-before-incident")
    restored = restored["DBInstances"][0]
    assert restored["DBInstanceStatus"] == "available"
    assert restored["DBInstanceClass"] == "db.t3.small"
    # A standalone copy, tagged with where it came from, not a replica of the source.
    assert not restored.get("ReadReplicaSourceDBInstanceIdentifier")
    tags = {t["Key"]: t["Value"] for t in restored["TagList"]}
    assert tags["estate:restored-from"] == crm.arn
    assert tags["estate:operation"] == str(op.pk)
    # placed beside its source (AWS would use the default VPC and groups): the request
    # named the source's security groups and parameter group
    source = rds.describe_db_instances(DBInstanceIdentifier="crm")["DBInstances"][0]
    for key in ("VpcSecurityGroups", "DBParameterGroups"):
        assert restored.get(key) == source.get(key), key
    asked = OperationEvent.objects.get(operation=op, message__startswith="AWS is restoring")
    assert source["VpcSecurityGroups"][0]["VpcSecurityGroupId"] in asked.message
    assert source["DBParameterGroups"][0]["DBParameterGroupName"] in asked.message
    calls = mutating_calls("RestoreDBInstanceToPointInTime")
    assert len(calls) == 1
    assert op.result["instance_arn"] == restored["DBInstanceArn"]
    assert restore.parse_time(op.result["restored_to"]) == when
    # The new instance passed through "creating" (the timeline says so) and the
    # targeted resync mirrored it.
    messages = list(OperationEvent.objects.filter(operation=op).values_list("message", flat=True))
    assert any("AWS is restoring crm as of" in m for m in messages)
    assert "Instance is creating." in messages
    assert DbInstance.objects.get(identifier="crm-before-incident").status == "available"


def test_restore_to_the_latest_restorable_time_by_default(crm, operator, rds):
    op = drive(start_operation("restore_instance_pitr", crm, _params(), requested_by=operator).pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["restored_to"].startswith("the latest restorable time")
    assert rds.describe_db_instances(DBInstanceIdentifier="crm-before-incident")["DBInstances"]


def test_a_time_before_the_window_is_refused_without_any_mutating_call(crm, operator):
    # Retention is 7 days: ten days ago is gone.
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "restore_instance_pitr",
            crm,
            _params(restore_time=(timezone.now() - timedelta(days=10)).isoformat()),
            requested_by=operator,
        )
    # Judged against AWS's window of now (check_live), never the mirror's.
    assert "outside the restorable window in AWS" in refused.value.errors["__all__"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


def test_the_live_window_is_checked_too(crm, operator):
    # The mirror is stale (says the instance is 30 days old); AWS knows it is 1 day old.
    _backdate("crm", 1)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "restore_instance_pitr",
            crm,
            _params(restore_time=(timezone.now() - timedelta(days=3)).isoformat()),
            requested_by=operator,
        )
    assert "outside the restorable window in AWS" in " ".join(refused.value.errors["__all__"])
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


def test_a_taken_name_is_refused(crm, operator, rds):
    create_instance(rds, "crm-copy", multi_az=False)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "restore_instance_pitr",
            crm,
            _params(instance_identifier="crm-copy"),
            requested_by=operator,
        )
    assert "already exists in AWS" in " ".join(refused.value.errors["__all__"])
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


def test_an_instance_without_automated_backups_is_refused(account, rds, operator):
    create_instance(rds, "scratch", multi_az=False)
    rds.modify_db_instance(
        DBInstanceIdentifier="scratch", BackupRetentionPeriod=0, ApplyImmediately=True
    )
    wait_available(rds, instances=["scratch"])
    mirror(account, rds)
    scratch = DbInstance.objects.get(identifier="scratch")
    assert not restore.RestoreInstanceToPointInTime.applies_to(scratch)
    with pytest.raises(OperationRefused) as refused:
        start_operation("restore_instance_pitr", scratch, _params(), requested_by=operator)
    assert "automated backups turned off" in " ".join(refused.value.errors["__all__"])
    assert Operation.objects.count() == 0


def test_an_aurora_member_is_pointed_to_the_cluster_restore(account, rds, operator):
    create_cluster(rds, "events", instances=1)
    wait_available(rds, clusters=["events"], instances=["events-1"])
    mirror(account, rds)
    member = DbInstance.objects.get(identifier="events-1")
    assert not restore.RestoreInstanceToPointInTime.applies_to(member)
    with pytest.raises(OperationRefused) as refused:
        start_operation("restore_instance_pitr", member, _params(), requested_by=operator)
    assert "restore the cluster" in " ".join(refused.value.errors["__all__"])


def test_a_rerun_after_a_crash_does_not_restore_twice(crm, operator, rds):
    op = start_operation("restore_instance_pitr", crm, _params(), requested_by=operator)
    engine.advance(op.pk, force=True)  # the restore is requested
    # The worker "died" before saving: the step runs again from the start.
    Operation.objects.filter(pk=op.pk).update(step_index=0, current_step="")
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("RestoreDBInstanceToPointInTime")) == 1


def test_someone_elses_instance_with_the_name_fails_the_operation(crm, operator, rds):
    op = start_operation("restore_instance_pitr", crm, _params(), requested_by=operator)
    create_instance(rds, "crm-before-incident", multi_az=False)  # created meanwhile
    op = drive(op.pk)
    assert op.state == State.FAILED
    assert "did not create" in op.error
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


def test_a_restore_that_aws_reports_failed_fails_the_operation(crm, operator, rds, fast_sandbox):
    from sandbox.extensions import lifecycle_core

    # Given a restore that AWS is still creating
    lifecycle_core.set_durations(default=0.05, create=30)
    op = start_operation("restore_instance_pitr", crm, _params(), requested_by=operator)
    engine.advance(op.pk, force=True)
    op.refresh_from_db()
    assert op.current_step == "await_available"
    # When AWS gives up on it (a restore whose parameters cannot be applied)
    created = rds_backends[ACCOUNT_ID][REGION].databases["crm-before-incident"]
    lifecycle_core.settle(created, force=True)
    created.status = "incompatible-restore"
    op = drive(op.pk)
    # Then the operation fails at once, saying so, instead of waiting out its budget
    assert op.state == State.FAILED
    assert "crm-before-incident is incompatible-restore" in op.error
