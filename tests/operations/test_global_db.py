"""Global Database switchover and failover, end to end."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied

from estate import aws
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import make_global_database, mutating_calls

pytestmark = pytest.mark.django_db


@pytest.fixture
def global_db(account, fast_sandbox):
    return make_global_database(account)


def _writer_region(account) -> str:
    live = aws.client(account, "us-east-1", "rds").describe_global_clusters()["GlobalClusters"][0]
    return next(
        m["DBClusterArn"].split(":")[3] for m in live["GlobalClusterMembers"] if m["IsWriter"]
    )


def test_switchover_moves_the_writer_to_the_chosen_region(global_db, operator, account):
    op = start_operation(
        "global_switchover", global_db, {"target_region": "eu-west-1"}, requested_by=operator
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["new_writer_region"] == "eu-west-1"
    assert op.result["old_writer_region"] == "us-east-1"
    assert _writer_region(account) == "eu-west-1"
    assert len(mutating_calls("SwitchoverGlobalCluster")) == 1


def test_failover_reports_the_replication_lag_as_potential_data_loss(
    global_db, admin_user, account
):
    aws.client(account, "eu-west-1", "cloudwatch").put_metric_data(
        Namespace="AWS/RDS",
        MetricData=[
            {
                "MetricName": "AuroraGlobalDBReplicationLag",
                "Dimensions": [{"Name": "DBClusterIdentifier", "Value": "payments-euw1"}],
                "Timestamp": datetime.now(UTC),
                "Value": 850.0,
                "Unit": "Milliseconds",
            }
        ],
    )
    op = start_operation(
        "global_failover",
        global_db,
        {
            "target_region": "eu-west-1",
            "accept_data_loss": "ACCEPT DATA LOSS",
            "confirm": "payments",
        },
        requested_by=admin_user,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["replication_lag_ms_at_failover"] == 850.0
    assert any("Replication lag at failover: 850 ms" in e.message for e in op.events.all())
    assert _writer_region(account) == "eu-west-1"
    assert len(mutating_calls("FailoverGlobalCluster")) == 1


def test_failover_needs_the_data_loss_typed_and_the_admin_role(global_db, operator, admin_user):
    with pytest.raises(PermissionDenied):
        start_operation(
            "global_failover",
            global_db,
            {
                "target_region": "eu-west-1",
                "accept_data_loss": "ACCEPT DATA LOSS",
                "confirm": "payments",
            },
            requested_by=operator,
        )
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "global_failover",
            global_db,
            {"target_region": "eu-west-1", "accept_data_loss": "yes", "confirm": "payments"},
            requested_by=admin_user,
        )
    assert "ACCEPT DATA LOSS" in refused.value.errors["accept_data_loss"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("FailoverGlobalCluster") == []


def test_switchover_to_a_region_without_a_secondary_is_refused(global_db, operator):
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "global_switchover", global_db, {"target_region": "us-east-1"}, requested_by=operator
        )
    assert "target_region" in refused.value.errors
    assert mutating_calls("SwitchoverGlobalCluster") == []
