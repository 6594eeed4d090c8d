"""Multi-AZ instance failover, read replica creation and promotion, end to end."""

import pytest
from django.core.exceptions import PermissionDenied

from estate.models import DbInstance
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import create_instance, mirror, mutating_calls, wait_available

pytestmark = pytest.mark.django_db


@pytest.fixture
def primary(account, rds):
    create_instance(rds, "billing", multi_az=True)
    wait_available(rds, instances=["billing"])
    mirror(account, rds)
    return DbInstance.objects.get(identifier="billing")


def test_multi_az_failover_swaps_primary_and_standby_azs(primary, operator, rds):
    before = rds.describe_db_instances(DBInstanceIdentifier="billing")["DBInstances"][0]
    op = drive(start_operation("instance_failover", primary, {}, requested_by=operator).pk)
    assert op.state == State.SUCCEEDED, op.error
    after = rds.describe_db_instances(DBInstanceIdentifier="billing")["DBInstances"][0]
    assert after["AvailabilityZone"] == before["SecondaryAvailabilityZone"]
    assert after["SecondaryAvailabilityZone"] == before["AvailabilityZone"]
    assert op.result["new_primary_az"] == after["AvailabilityZone"]
    assert len(mutating_calls("RebootDBInstance")) == 1
    events = rds.describe_events(SourceIdentifier="billing", SourceType="db-instance")["Events"]
    assert "Multi-AZ instance failover completed." in [e["Message"] for e in events]


def test_single_az_instance_failover_is_refused(account, rds, operator):
    create_instance(rds, "single", multi_az=False)
    wait_available(rds, instances=["single"])
    mirror(account, rds)
    with pytest.raises(OperationRefused, match="Single-AZ"):
        start_operation(
            "instance_failover",
            DbInstance.objects.get(identifier="single"),
            {},
            requested_by=operator,
        )
    assert Operation.objects.count() == 0
    assert mutating_calls("RebootDBInstance") == []


def test_read_replica_is_created_and_reported(primary, operator, rds):
    op = start_operation(
        "create_read_replica",
        primary,
        {"replica_identifier": "billing-ro", "region": "us-east-1"},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    replica = rds.describe_db_instances(DBInstanceIdentifier="billing-ro")["DBInstances"][0]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == "billing"
    assert op.result["replica_identifier"] == "billing-ro"
    assert len(mutating_calls("CreateDBInstanceReadReplica")) == 1


def test_replica_name_taken_is_refused_with_no_aws_call(primary, operator, rds, account):
    create_instance(rds, "taken", multi_az=False)
    mirror(account, rds)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "create_read_replica",
            primary,
            {"replica_identifier": "taken", "region": "us-east-1"},
            requested_by=operator,
        )
    assert "already exists" in refused.value.errors["replica_identifier"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("CreateDBInstanceReadReplica") == []


def test_promoted_replica_is_standalone_afterwards(primary, admin_user, rds, account):
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-ro", SourceDBInstanceIdentifier="billing"
    )
    wait_available(rds, instances=["billing-ro"])
    mirror(account, rds)
    replica = DbInstance.objects.get(identifier="billing-ro")
    op = start_operation(
        "promote_read_replica", replica, {"confirm": "billing-ro"}, requested_by=admin_user
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    live = rds.describe_db_instances(DBInstanceIdentifier="billing-ro")["DBInstances"][0]
    assert not live.get("ReadReplicaSourceDBInstanceIdentifier")
    source = rds.describe_db_instances(DBInstanceIdentifier="billing")["DBInstances"][0]
    assert "billing-ro" not in source["ReadReplicaDBInstanceIdentifiers"]
    assert op.result == {"former_source": "billing"}


def test_promote_of_a_non_replica_is_refused(primary, admin_user):
    with pytest.raises(OperationRefused, match="not a read replica"):
        start_operation(
            "promote_read_replica", primary, {"confirm": "billing"}, requested_by=admin_user
        )
    assert Operation.objects.count() == 0
    assert mutating_calls("PromoteReadReplica") == []


def test_promote_needs_the_identifier_typed(primary, admin_user, rds, account):
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-ro", SourceDBInstanceIdentifier="billing"
    )
    wait_available(rds, instances=["billing-ro"])
    mirror(account, rds)
    replica = DbInstance.objects.get(identifier="billing-ro")
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "promote_read_replica", replica, {"confirm": "billing"}, requested_by=admin_user
        )
    assert "confirm" in refused.value.errors
    assert Operation.objects.count() == 0


def test_promote_is_an_admins_call_not_an_operators(primary, operator, rds, account):
    from operations.services import OperationRefused as Refused

    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-ro", SourceDBInstanceIdentifier="billing"
    )
    wait_available(rds, instances=["billing-ro"])
    mirror(account, rds)
    replica = DbInstance.objects.get(identifier="billing-ro")
    with pytest.raises((Refused, PermissionDenied)):
        start_operation(
            "promote_read_replica", replica, {"confirm": "billing-ro"}, requested_by=operator
        )
    assert Operation.objects.count() == 0
    assert mutating_calls("PromoteReadReplica") == []


def test_cross_region_read_replica_is_created_in_the_chosen_region(primary, operator, account):
    from estate import aws

    op = start_operation(
        "create_read_replica",
        primary,
        {"replica_identifier": "billing-dr", "region": "eu-west-1"},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    west = aws.client(account, "eu-west-1", "rds")
    replica = west.describe_db_instances(DBInstanceIdentifier="billing-dr")["DBInstances"][0]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == primary.arn
    assert op.result["region"] == "eu-west-1"
    assert [c.region for c in mutating_calls("CreateDBInstanceReadReplica")] == ["eu-west-1"]
