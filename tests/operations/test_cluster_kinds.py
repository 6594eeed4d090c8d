"""Backtrack, clone (with expiry), custom endpoints, end to end."""

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.models import DbCluster, DbEndpoint
from operations import services
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from sandbox.extensions import lifecycle_core
from tests.driving import drive
from tests.factories.operations import create_cluster, mirror, mutating_calls, wait_available

pytestmark = pytest.mark.django_db


@pytest.fixture
def mysql_cluster(account, rds):
    create_cluster(rds, "ledger", engine="aurora-mysql", instances=2, backtrack_window=7200)
    wait_available(rds, clusters=["ledger"], instances=["ledger-1", "ledger-2"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="ledger")


def test_backtrack_inside_the_window_completes_and_records_its_identifier(
    mysql_cluster, admin_user, rds
):
    when = timezone.now()
    op = start_operation(
        "backtrack",
        mysql_cluster,
        {"backtrack_to": when.isoformat(), "confirm": "ledger"},
        requested_by=admin_user,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    backtracks = rds.describe_db_cluster_backtracks(DBClusterIdentifier="ledger")[
        "DBClusterBacktracks"
    ]
    assert [b["BacktrackIdentifier"] for b in backtracks] == [op.result["backtrack_id"]]
    assert backtracks[0]["Status"] == "completed"
    assert len(mutating_calls("BacktrackDBCluster")) == 1


def test_backtrack_before_the_window_is_refused_with_no_aws_call(mysql_cluster, admin_user):
    too_early = mysql_cluster.earliest_backtrack_time - timedelta(hours=1)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "backtrack",
            mysql_cluster,
            {"backtrack_to": too_early.isoformat(), "confirm": "ledger"},
            requested_by=admin_user,
        )
    assert "before the start of the backtrack window" in refused.value.errors["backtrack_to"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("BacktrackDBCluster") == []


def test_backtrack_is_not_offered_without_a_window(account, rds, admin_user):
    create_cluster(rds, "nobt", engine="aurora-mysql", instances=1)
    wait_available(rds, clusters=["nobt"])
    mirror(account, rds)
    cluster = DbCluster.objects.get(identifier="nobt")
    from operations import registry

    assert "backtrack" not in [k.name for k in registry.applicable_to(cluster)]
    with pytest.raises(OperationRefused, match="cannot backtrack"):
        start_operation(
            "backtrack",
            cluster,
            {"backtrack_to": timezone.now().isoformat(), "confirm": "nobt"},
            requested_by=admin_user,
        )


def test_clone_creates_a_copy_on_write_cluster_with_lineage(mysql_cluster, operator, rds):
    expires = timezone.now() + timedelta(hours=4)
    op = start_operation(
        "clone_cluster",
        mysql_cluster,
        {
            "clone_identifier": "ledger-debug",
            "instance_class": "db.r6g.large",
            "expires_at": expires.isoformat(),
        },
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    clone = rds.describe_db_clusters(DBClusterIdentifier="ledger-debug")["DBClusters"][0]
    source = rds.describe_db_clusters(DBClusterIdentifier="ledger")["DBClusters"][0]
    assert clone["CloneGroupId"] == source["CloneGroupId"] == op.result["clone_group_id"]
    tags = {t["Key"]: t["Value"] for t in clone["TagList"]}
    assert tags["estate:clone-source"] == mysql_cluster.arn
    assert [m["DBInstanceIdentifier"] for m in clone["DBClusterMembers"]] == [
        "ledger-debug-instance-1"
    ]
    assert op.result["expires_at"] == expires.isoformat()
    assert len(mutating_calls("RestoreDBClusterToPointInTime")) == 1


def test_clone_name_taken_is_refused_with_no_aws_call(mysql_cluster, operator, rds, account):
    create_cluster(rds, "ledger-copy", instances=0)
    mirror(account, rds)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "clone_cluster",
            mysql_cluster,
            {"clone_identifier": "ledger-copy", "instance_class": "db.r6g.large"},
            requested_by=operator,
        )
    assert "already exists" in refused.value.errors["clone_identifier"][0]
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBClusterToPointInTime") == []


def test_expired_clone_is_deleted_by_a_scheduled_operation(mysql_cluster, operator, rds, account):
    op = start_operation(
        "clone_cluster",
        mysql_cluster,
        {
            "clone_identifier": "ledger-tmp",
            "instance_class": "db.r6g.large",
            "expires_at": (timezone.now() + timedelta(minutes=5)).isoformat(),
        },
        requested_by=operator,
    )
    drive(op.pk)
    mirror(account, rds)
    # Not yet expired: nothing happens
    assert services.expire_clones() == []
    # Once expired, a delete operation runs (started by the schedule, not a person)
    started = services.expire_clones(now=timezone.now() + timedelta(minutes=6))
    assert len(started) == 1
    assert started[0].kind == "delete_clone"
    assert started[0].requester_name.startswith("schedule:")
    deleted = drive(started[0].pk)
    assert deleted.state == State.SUCCEEDED, deleted.error
    assert "ledger-tmp" not in [
        c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]
    ]
    # And it is not started twice
    assert services.expire_clones(now=timezone.now() + timedelta(minutes=7)) == []


def test_custom_endpoint_create_change_delete(mysql_cluster, operator, admin_user, rds, account):
    op = start_operation(
        "create_custom_endpoint",
        mysql_cluster,
        {
            "endpoint_identifier": "ledger-reports",
            "endpoint_type": "ANY",
            "static_members": ["ledger-2"],
        },
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["static_members"] == ["ledger-2"]
    mirror(account, rds)
    endpoint = DbEndpoint.objects.get(identifier="ledger-reports")
    op = start_operation(
        "modify_custom_endpoint",
        endpoint,
        {"endpoint_type": "ANY", "static_members": ["ledger-1", "ledger-2"]},
        requested_by=operator,
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    live = rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="ledger-reports")[
        "DBClusterEndpoints"
    ][0]
    assert sorted(live["StaticMembers"]) == ["ledger-1", "ledger-2"]
    op = start_operation(
        "delete_custom_endpoint", endpoint, {"confirm": "ledger-reports"}, requested_by=admin_user
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("DeleteDBClusterEndpoint")) == 1


def test_custom_endpoint_timelines_show_the_transitional_states(
    mysql_cluster, operator, admin_user, rds, account
):
    # Given endpoint transitions long enough for the operations to see them
    lifecycle_core.set_durations(endpoint=0.3)  # fast_sandbox resets durations
    # When an endpoint is created, changed and deleted
    created = drive(
        start_operation(
            "create_custom_endpoint",
            mysql_cluster,
            {"endpoint_identifier": "ledger-reports", "endpoint_type": "ANY"},
            requested_by=operator,
        ).pk
    )
    assert created.state == State.SUCCEEDED, created.error
    mirror(account, rds)
    endpoint = DbEndpoint.objects.get(identifier="ledger-reports")
    modified = drive(
        start_operation(
            "modify_custom_endpoint",
            endpoint,
            {"endpoint_type": "ANY", "static_members": ["ledger-2"]},
            requested_by=operator,
        ).pk
    )
    assert modified.state == State.SUCCEEDED, modified.error
    assert modified.result["static_members"] == ["ledger-2"]
    mirror(account, rds)
    deleted = drive(
        start_operation(
            "delete_custom_endpoint",
            DbEndpoint.objects.get(identifier="ledger-reports"),
            {"confirm": "ledger-reports"},
            requested_by=admin_user,
        ).pk
    )
    assert deleted.state == State.SUCCEEDED, deleted.error
    # Then each timeline tells the endpoint's transitional state, as AWS reports it
    assert "Endpoint is creating." in [e.message for e in created.events.all()]
    assert "Endpoint is modifying." in [e.message for e in modified.events.all()]
    assert "Endpoint is deleting." in [e.message for e in deleted.events.all()]
    assert (
        rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="ledger-reports")[
            "DBClusterEndpoints"
        ]
        == []
    )


def test_custom_endpoint_with_unknown_member_is_refused(mysql_cluster, operator):
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "create_custom_endpoint",
            mysql_cluster,
            {"endpoint_identifier": "bad", "endpoint_type": "ANY", "static_members": ["nope"]},
            requested_by=operator,
        )
    assert "static_members" in refused.value.errors
    assert Operation.objects.count() == 0
    assert mutating_calls("CreateDBClusterEndpoint") == []
