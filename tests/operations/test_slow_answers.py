"""A slow answer from AWS never repeats a mutation.

The sandbox applies each mutating call, then keeps its answer back past the client's
read timeout (``faults.slow``): what AWS does when it accepts a failover but its answer
is lost. Each operation must end as it would have with a prompt answer, with exactly
one accepted call of the mutation in the sandbox's call log.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from estate import aws
from estate.models import CacheReplicationGroup, DbCluster, DbInstance
from operations.kinds.base import CALLING, forget_clients
from operations.models import Operation, State
from operations.services import start_operation
from tests.driving import drive
from tests.factories.operations import (
    create_cluster,
    create_instance,
    make_global_database,
    mirror,
    mutating_calls,
    wait_available,
)
from tests.operations.test_cache_failover import _group
from tests.operations.test_data_kinds import _mirror_snapshot
from tests.operations.test_dms import _task, dms  # noqa: F401 - the dms fixture

pytestmark = pytest.mark.django_db

# The client gives up after 0.5 s; the sandbox answers 1.5 s after it applied the call.
READ_TIMEOUT = 0.5
ANSWER_AFTER = 1.5


@pytest.fixture
def slow(fast_sandbox, settings):
    """``slow("FailoverDBCluster")``: that action's next answer comes too late."""
    settings.AWS_READ_TIMEOUT = READ_TIMEOUT
    settings.AWS_CONNECT_TIMEOUT = 0.5
    forget_clients()  # rebuilt with the short timeout

    def make_slow(*actions: str) -> None:
        for action in actions:
            fast_sandbox.faults.slow(action, ANSWER_AFTER, times=1)

    yield make_slow
    forget_clients()


def _unanswered(op: Operation) -> list[str]:
    return [e.message for e in op.events.all() if "No usable answer from AWS" in e.message]


def _assert_once(op: Operation, *actions: str) -> None:
    assert op.state == State.SUCCEEDED, op.error
    for action in actions:
        assert len(mutating_calls(action)) == 1, (action, mutating_calls(action))
    # The timeline says what happened.
    assert _unanswered(op), [e.message for e in op.events.all()]


@pytest.fixture
def orders(account, rds) -> DbCluster:
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="orders")


@pytest.fixture
def ledger(account, rds) -> DbCluster:
    create_cluster(rds, "ledger", engine="aurora-mysql", instances=2, backtrack_window=7200)
    wait_available(rds, clusters=["ledger"], instances=["ledger-1", "ledger-2"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="ledger")


@pytest.fixture
def billing(account, rds) -> DbInstance:
    create_instance(rds, "billing", multi_az=True)
    wait_available(rds, instances=["billing"])
    mirror(account, rds)
    return DbInstance.objects.get(identifier="billing")


def test_slow_cluster_failover_is_sent_once(orders, operator, slow):
    slow("FailoverDBCluster")
    op = drive(start_operation("cluster_failover", orders, {}, requested_by=operator).pk)
    _assert_once(op, "FailoverDBCluster")
    assert op.result["new_writer"] == "orders-2"


def test_slow_reboot_with_failover_is_sent_once(billing, operator, slow):
    slow("RebootDBInstance")
    op = drive(start_operation("instance_failover", billing, {}, requested_by=operator).pk)
    _assert_once(op, "RebootDBInstance")


def test_slow_backtrack_is_sent_once(ledger, admin_user, slow):
    slow("BacktrackDBCluster")
    op = start_operation(
        "backtrack",
        ledger,
        {"backtrack_to": timezone.now().isoformat(), "confirm": "ledger"},
        requested_by=admin_user,
    )
    _assert_once(drive(op.pk), "BacktrackDBCluster")


def test_slow_clone_creation_recognises_its_own_cluster_and_instance(ledger, operator, rds, slow):
    slow("RestoreDBClusterToPointInTime", "CreateDBInstance")
    op = start_operation(
        "clone_cluster",
        ledger,
        {"clone_identifier": "ledger-debug", "instance_class": "db.r6g.large"},
        requested_by=operator,
    )
    op = drive(op.pk)
    _assert_once(op, "RestoreDBClusterToPointInTime")
    created = [c.target for c in mutating_calls("CreateDBInstance")]
    assert created.count("ledger-debug-instance-1") == 1, created
    assert len(_unanswered(op)) == 2
    assert any("created by this operation" in e.message for e in op.events.all())
    # Both resources carry the operation's id, which is how the re-runs knew them.
    instance = rds.describe_db_instances(DBInstanceIdentifier="ledger-debug-instance-1")
    tags = {t["Key"]: t["Value"] for t in instance["DBInstances"][0]["TagList"]}
    assert tags["estate:operation"] == str(op.pk)


def test_slow_read_replica_creation_is_sent_once(billing, operator, slow):
    slow("CreateDBInstanceReadReplica")
    op = start_operation(
        "create_read_replica",
        billing,
        {"replica_identifier": "billing-ro", "region": "us-east-1"},
        requested_by=operator,
    )
    _assert_once(drive(op.pk), "CreateDBInstanceReadReplica")


def test_slow_point_in_time_restore_is_sent_once(account, rds, operator, slow):
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    mirror(account, rds)
    slow("RestoreDBInstanceToPointInTime")
    op = start_operation(
        "restore_instance_pitr",
        DbInstance.objects.get(identifier="crm"),
        {"instance_identifier": "crm-restored"},
        requested_by=operator,
    )
    _assert_once(drive(op.pk), "RestoreDBInstanceToPointInTime")


def test_slow_snapshot_is_sent_once(orders, operator, slow):
    slow("CreateDBClusterSnapshot")
    op = start_operation(
        "snapshot_cluster", orders, {"snapshot_identifier": "orders-before"}, requested_by=operator
    )
    _assert_once(drive(op.pk), "CreateDBClusterSnapshot")


def test_slow_cache_shard_failover_is_sent_once(account, operator, slow):
    group: CacheReplicationGroup = _group(account)
    slow("TestFailover")
    op = start_operation(
        "cache_test_failover", group, {"node_group_id": "0001"}, requested_by=operator
    )
    _assert_once(drive(op.pk), "TestFailover")


def test_slow_dms_start_is_sent_once(dms, account, operator, slow):  # noqa: F811
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load")
    slow("StartReplicationTask")
    op = start_operation(
        "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
    )
    _assert_once(drive(op.pk), "StartReplicationTask")


def test_slow_promotion_is_sent_once(billing, admin_user, rds, account, slow):
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="billing-ro", SourceDBInstanceIdentifier="billing"
    )
    wait_available(rds, instances=["billing-ro"])
    mirror(account, rds)
    replica = DbInstance.objects.get(identifier="billing-ro")
    slow("PromoteReadReplica")
    op = start_operation(
        "promote_read_replica", replica, {"confirm": "billing-ro"}, requested_by=admin_user
    )
    _assert_once(drive(op.pk), "PromoteReadReplica")


def test_slow_serverless_capacity_change_is_sent_once(orders, operator, slow):
    slow("ModifyDBCluster")
    op = start_operation(
        "serverless_capacity", orders, {"min_acu": "0.5", "max_acu": "16"}, requested_by=operator
    )
    _assert_once(drive(op.pk), "ModifyDBCluster")


def test_slow_global_switchover_is_sent_once(account, fast_sandbox, operator, slow):
    global_db = make_global_database(account)
    slow("SwitchoverGlobalCluster")
    op = start_operation(
        "global_switchover", global_db, {"target_region": "eu-west-1"}, requested_by=operator
    )
    _assert_once(drive(op.pk), "SwitchoverGlobalCluster")


def test_slow_cluster_point_in_time_restore_is_sent_once(orders, operator, rds, slow):
    slow("RestoreDBClusterToPointInTime", "CreateDBInstance")
    op = start_operation(
        "restore_cluster_pitr",
        orders,
        {"clone_identifier": "orders-before", "instance_class": "db.r6g.large"},
        requested_by=operator,
    )
    op = drive(op.pk)
    _assert_once(op, "RestoreDBClusterToPointInTime")
    created = [c.target for c in mutating_calls("CreateDBInstance")]
    assert created.count("orders-before-instance-1") == 1, created


def test_slow_snapshot_restore_and_copy_are_sent_once(account, rds, operator, slow):
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    rds.create_db_snapshot(DBSnapshotIdentifier="crm-snap", DBInstanceIdentifier="crm")
    snapshot = _mirror_snapshot(account, rds, "crm-snap")
    slow("RestoreDBInstanceFromDBSnapshot", "CopyDBSnapshot")
    restore = start_operation(
        "restore_instance_snapshot",
        snapshot,
        {"instance_identifier": "crm-restored"},
        requested_by=operator,
    )
    _assert_once(drive(restore.pk), "RestoreDBInstanceFromDBSnapshot")
    copy = start_operation(
        "copy_snapshot",
        snapshot,
        {"target_region": "eu-west-1", "copy_identifier": "crm-snap-dr"},
        requested_by=operator,
    )
    _assert_once(drive(copy.pk), "CopyDBSnapshot")


def test_slow_custom_endpoint_changes_are_sent_once(ledger, operator, admin_user, slow):
    from estate.models import DbEndpoint

    slow("CreateDBClusterEndpoint", "ModifyDBClusterEndpoint", "DeleteDBClusterEndpoint")
    created = start_operation(
        "create_custom_endpoint",
        ledger,
        {"endpoint_identifier": "ledger-reports", "endpoint_type": "ANY"},
        requested_by=operator,
    )
    _assert_once(drive(created.pk), "CreateDBClusterEndpoint")
    endpoint = DbEndpoint.objects.get(identifier="ledger-reports")
    modified = start_operation(
        "modify_custom_endpoint",
        endpoint,
        {"endpoint_type": "ANY", "static_members": ["ledger-1", "ledger-2"]},
        requested_by=operator,
    )
    _assert_once(drive(modified.pk), "ModifyDBClusterEndpoint")
    deleted = start_operation(
        "delete_custom_endpoint", endpoint, {"confirm": "ledger-reports"}, requested_by=admin_user
    )
    _assert_once(drive(deleted.pk), "DeleteDBClusterEndpoint")


def test_slow_dms_stop_is_sent_once(dms, account, operator, slow):  # noqa: F811
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load-and-cdc")
    started = drive(
        start_operation(
            "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
        ).pk
    )
    assert started.state == State.SUCCEEDED, started.error
    task.status = "running"
    task.save()
    slow("StopReplicationTask")
    op = start_operation("dms_stop_task", task, {}, requested_by=operator)
    _assert_once(drive(op.pk), "StopReplicationTask")


def test_slow_clone_deletion_is_sent_once(ledger, admin_user, rds, slow):
    rds.add_tags_to_resource(
        ResourceName=ledger.arn, Tags=[{"Key": "estate:clone-source", "Value": "x"}]
    )
    mirror(rds=rds, account=ledger.account)
    ledger.refresh_from_db()
    slow("DeleteDBInstance", "DeleteDBCluster")
    op = start_operation("delete_clone", ledger, {"confirm": "ledger"}, requested_by=admin_user)
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert sorted(c.target for c in mutating_calls("DeleteDBInstance")) == ["ledger-1", "ledger-2"]
    assert len(mutating_calls("DeleteDBCluster")) == 1
    assert _unanswered(op)


def test_a_call_that_may_have_been_sent_is_never_sent_again(orders, operator, settings, rds):
    # Given a worker that checkpointed a failover and died before AWS answered (here:
    # before it could send it, so AWS never shows a failover)
    settings.OPERATIONS_AMBIGUOUS_GRACE_SECONDS = 0.5
    op = start_operation("cluster_failover", orders, {}, requested_by=operator)
    Operation.objects.filter(pk=op.pk).update(
        mutation_started=True,
        current_step="request_failover",
        step_started_at=timezone.now(),
        memory={
            **op.memory,
            "_mutating_step": "request_failover",
            CALLING: {
                "step": "request_failover",
                "operation": "failover_db_cluster",
                "target": "orders",
            },
        },
    )
    # When workers run the step again
    op = drive(op.pk)
    # Then it watched the cluster for the grace period and failed, asking nothing
    assert op.state == State.FAILED
    assert "Estate did not send it again" in op.error
    assert "orders shows no sign" in op.error
    assert mutating_calls("FailoverDBCluster") == []
    messages = [e.message for e in op.events.all()]
    assert any("watching orders" in m for m in messages)


def test_the_same_step_may_still_make_other_calls_after_an_unanswered_one(
    ledger, admin_user, rds, settings
):
    # A delete-clone step deletes one member per run: an unanswered delete of the
    # first member must not block the delete of the second.
    settings.OPERATIONS_AMBIGUOUS_GRACE_SECONDS = 30
    rds.add_tags_to_resource(
        ResourceName=ledger.arn, Tags=[{"Key": "estate:clone-source", "Value": "x"}]
    )
    mirror(rds=rds, account=ledger.account)
    ledger.refresh_from_db()
    op = start_operation("delete_clone", ledger, {"confirm": "ledger"}, requested_by=admin_user)
    Operation.objects.filter(pk=op.pk).update(
        mutation_started=True,
        current_step="delete_instances",
        step_started_at=timezone.now(),
        memory={
            "_mutating_step": "delete_instances",
            CALLING: {
                "step": "delete_instances",
                "operation": "delete_db_instance",
                "target": "ledger-1",
            },
        },
    )
    # ledger-1's deletion got through before the worker died
    rds.delete_db_instance(DBInstanceIdentifier="ledger-1", SkipFinalSnapshot=True)
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    deleted = [c.target for c in mutating_calls("DeleteDBInstance")]
    assert deleted == ["ledger-1", "ledger-2"]  # (the first is the test's own)


def test_mutating_calls_have_one_attempt_and_reads_keep_retrying(account, fast_sandbox):
    reads = aws.client(account, "us-east-1", "rds")
    writes = aws.client(account, "us-east-1", "rds", mutating=True)
    assert writes.meta.config.retries["total_max_attempts"] == 1
    assert reads.meta.config.retries["mode"] == "adaptive"
    # A mutating call on a retrying client is a programming error, refused before AWS.
    with pytest.raises(RuntimeError, match="mutating=True"):
        aws.call(reads, "failover_db_cluster", DBClusterIdentifier="x")
    assert mutating_calls("FailoverDBCluster") == []


@pytest.mark.parametrize(
    ("error", "mutating", "expected"),
    [
        ("read_timeout", True, aws.AwsAmbiguous),
        ("read_timeout", False, aws.AwsUnavailable),
        ("connection_closed", True, aws.AwsAmbiguous),
        ("connect_timeout", True, aws.AwsUnavailable),
        ("endpoint_unreachable", True, aws.AwsUnavailable),
        ("internal_failure", True, aws.AwsAmbiguous),
        ("internal_failure", False, aws.AwsUnavailable),
        ("throttled", True, aws.AwsThrottled),
    ],
)
def test_only_errors_after_which_aws_may_have_acted_are_ambiguous(error, mutating, expected):
    import botocore.exceptions as be

    errors = {
        "read_timeout": be.ReadTimeoutError(endpoint_url="https://rds"),
        "connection_closed": be.ConnectionClosedError(endpoint_url="https://rds"),
        "connect_timeout": be.ConnectTimeoutError(endpoint_url="https://rds"),
        "endpoint_unreachable": be.EndpointConnectionError(endpoint_url="https://rds"),
        "internal_failure": be.ClientError(
            {
                "Error": {"Code": "InternalFailure", "Message": "boom"},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            },
            "FailoverDBCluster",
        ),
        "throttled": be.ClientError(
            {
                "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "FailoverDBCluster",
        ),
    }
    translated = aws.translate(errors[error], "FailoverDBCluster", mutating=mutating)
    assert type(translated) is expected


def test_the_slow_answer_fault_is_switched_over_http(fast_sandbox):
    import json
    import urllib.request

    body = json.dumps({"slow": [{"action": "FailoverDBCluster", "seconds": 2, "times": 1}]})
    request = urllib.request.Request(
        f"{fast_sandbox.url}/estate-sandbox/faults", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        state = json.loads(answer.read())
    assert state["slow"] == [
        {"action": "FailoverDBCluster", "seconds": 2.0, "times": 1, "answered": 0}
    ]
