"""The sandbox's RDS lifecycle: transitional states, AWS's events and end states."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox import calllog
from sandbox.extensions import lifecycle_core
from tests.sandbox.helpers import until


@pytest.fixture
def rds(sandbox):
    # Long enough for a busy machine to see every transitional state (0.3 s was missed
    # once on a loaded CI run), short enough to keep the file quick.
    lifecycle_core.set_durations(default=1.0)
    yield boto3.client(
        "rds",
        region_name="us-east-1",
        endpoint_url=sandbox.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    lifecycle_core.reset_durations()


def _cluster(rds, name):
    return rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]


def _instance(rds, name):
    return rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]


def _aurora(rds, name, instances=2, **kw):
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine=kw.pop("Engine", "aurora-mysql"),
        MasterUsername="admin",
        MasterUserPassword="password123",
        **kw,
    )
    for i in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{name}-{i + 1}",
            DBClusterIdentifier=name,
            Engine="aurora-mysql",
            DBInstanceClass="db.r6g.large",
        )
    until(lambda: _cluster(rds, name)["Status"] == "available")
    for i in range(instances):
        until(lambda i=i: _instance(rds, f"{name}-{i + 1}")["DBInstanceStatus"] == "available")


def _writer(cluster):
    return [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if m["IsClusterWriter"]]


def test_new_resources_are_creating_for_the_configured_duration(rds):
    rds.create_db_cluster(
        DBClusterIdentifier="c",
        Engine="aurora-mysql",
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    assert _cluster(rds, "c")["Status"] == "creating"
    until(lambda: _cluster(rds, "c")["Status"] == "available")


def test_cluster_failover_is_failing_over_then_moves_the_writer(rds):
    _aurora(rds, "c")
    rds.failover_db_cluster(DBClusterIdentifier="c")
    during = _cluster(rds, "c")
    assert during["Status"] == "failing-over"
    assert _writer(during) == ["c-1"]  # AWS moves the writer at the end
    with pytest.raises(ClientError, match="InvalidDBClusterStateFault"):
        rds.failover_db_cluster(DBClusterIdentifier="c")
    until(lambda: _cluster(rds, "c")["Status"] == "available")
    assert _writer(_cluster(rds, "c")) == ["c-2"]


def test_reboot_with_failover_swaps_the_azs_of_a_multi_az_instance(rds):
    rds.create_db_instance(
        DBInstanceIdentifier="m",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="a",
        MasterUserPassword="password123",
        MultiAZ=True,
    )
    until(lambda: _instance(rds, "m")["DBInstanceStatus"] == "available")
    before = _instance(rds, "m")
    rds.reboot_db_instance(DBInstanceIdentifier="m", ForceFailover=True)
    assert _instance(rds, "m")["DBInstanceStatus"] == "rebooting"
    until(lambda: _instance(rds, "m")["DBInstanceStatus"] == "available")
    after = _instance(rds, "m")
    assert (after["AvailabilityZone"], after["SecondaryAvailabilityZone"]) == (
        before["SecondaryAvailabilityZone"],
        before["AvailabilityZone"],
    )


def test_reboot_with_failover_of_a_single_az_instance_is_refused(rds):
    rds.create_db_instance(
        DBInstanceIdentifier="s",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    until(lambda: _instance(rds, "s")["DBInstanceStatus"] == "available")
    with pytest.raises(ClientError, match="InvalidParameterCombination"):
        rds.reboot_db_instance(DBInstanceIdentifier="s", ForceFailover=True)


def test_promote_detaches_the_replica_from_its_source(rds):
    rds.create_db_instance(
        DBInstanceIdentifier="p",
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="a",
        MasterUserPassword="password123",
    )
    until(lambda: _instance(rds, "p")["DBInstanceStatus"] == "available")
    rds.create_db_instance_read_replica(DBInstanceIdentifier="r", SourceDBInstanceIdentifier="p")
    assert _instance(rds, "r")["DBInstanceStatus"] == "creating"
    until(lambda: _instance(rds, "r")["DBInstanceStatus"] == "available")
    rds.promote_read_replica(DBInstanceIdentifier="r")
    assert _instance(rds, "r")["DBInstanceStatus"] == "modifying"
    until(lambda: _instance(rds, "r")["DBInstanceStatus"] == "available")
    assert not _instance(rds, "r").get("ReadReplicaSourceDBInstanceIdentifier")
    assert _instance(rds, "p")["ReadReplicaDBInstanceIdentifiers"] == []
    with pytest.raises(ClientError, match="not a read replica"):
        rds.promote_read_replica(DBInstanceIdentifier="r")


def test_backtrack_inside_the_window_only(rds):
    _aurora(rds, "bt", BacktrackWindow=3600)
    with pytest.raises(ClientError, match="earlier than the earliest backtrack time"):
        rds.backtrack_db_cluster(
            DBClusterIdentifier="bt", BacktrackTo=datetime.now(UTC) - timedelta(hours=2)
        )
    answer = rds.backtrack_db_cluster(DBClusterIdentifier="bt", BacktrackTo=datetime.now(UTC))
    assert answer["Status"] == "applying"
    assert _cluster(rds, "bt")["Status"] == "backtracking"
    until(lambda: _cluster(rds, "bt")["Status"] == "available")
    listed = rds.describe_db_cluster_backtracks(DBClusterIdentifier="bt")["DBClusterBacktracks"]
    assert [(b["BacktrackIdentifier"], b["Status"]) for b in listed] == [
        (answer["BacktrackIdentifier"], "completed")
    ]


def test_backtrack_needs_a_window(rds):
    _aurora(rds, "nobt")
    with pytest.raises(ClientError, match="Backtrack is not enabled"):
        rds.backtrack_db_cluster(DBClusterIdentifier="nobt", BacktrackTo=datetime.now(UTC))


def test_clone_shares_a_clone_group_and_pitr_outside_the_window_is_refused(rds):
    _aurora(rds, "src", instances=1)
    rds.restore_db_cluster_to_point_in_time(
        DBClusterIdentifier="cl",
        SourceDBClusterIdentifier="src",
        RestoreType="copy-on-write",
        UseLatestRestorableTime=True,
    )
    assert _cluster(rds, "cl")["Status"] == "creating"
    assert _cluster(rds, "cl")["CloneGroupId"] == _cluster(rds, "src")["CloneGroupId"]
    with pytest.raises(ClientError, match="DBClusterAlreadyExistsFault"):
        rds.restore_db_cluster_to_point_in_time(
            DBClusterIdentifier="cl",
            SourceDBClusterIdentifier="src",
            RestoreType="copy-on-write",
            UseLatestRestorableTime=True,
        )
    with pytest.raises(ClientError, match="outside the restorable window"):
        rds.restore_db_cluster_to_point_in_time(
            DBClusterIdentifier="old",
            SourceDBClusterIdentifier="src",
            RestoreToTime=datetime.now(UTC) - timedelta(days=40),
        )


def test_serverless_v2_range_change_is_modifying_and_checked(rds):
    _aurora(rds, "sv", instances=0)
    with pytest.raises(ClientError, match="ServerlessV2ScalingConfiguration"):
        rds.modify_db_cluster(
            DBClusterIdentifier="sv",
            ServerlessV2ScalingConfiguration={"MinCapacity": 8, "MaxCapacity": 2},
        )
    rds.modify_db_cluster(
        DBClusterIdentifier="sv",
        ServerlessV2ScalingConfiguration={"MinCapacity": 1, "MaxCapacity": 16},
        ApplyImmediately=True,
    )
    assert _cluster(rds, "sv")["Status"] == "modifying"
    until(lambda: _cluster(rds, "sv")["Status"] == "available")


def test_reboot_cluster_is_rebooting_then_available(rds):
    _aurora(rds, "rb", instances=1)
    rds.reboot_db_cluster(DBClusterIdentifier="rb")
    assert _cluster(rds, "rb")["Status"] == "rebooting"
    until(lambda: _cluster(rds, "rb")["Status"] == "available")


def test_call_log_records_mutating_calls_in_process_and_over_http(rds, sandbox):
    calllog.clear()
    rds.describe_db_clusters()
    _aurora(rds, "logged", instances=1)
    actions = [(c.action, c.target, c.status) for c in calllog.calls()]
    assert actions == [("CreateDBCluster", "logged", 200), ("CreateDBInstance", "logged-1", 200)]
    with urllib.request.urlopen(f"{sandbox.url}{calllog.HTTP_PATH}") as response:
        listed = json.load(response)["calls"]
    assert [c["action"] for c in listed] == ["CreateDBCluster", "CreateDBInstance"]
    assert listed[0]["account"] == "123456789012"
    assert listed[0]["region"] == "us-east-1"
