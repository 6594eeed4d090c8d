"""DMS in the sandbox as sync reads it, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import client

REGION = "eu-west-1"
ACCOUNT = "123456789012"


@pytest.fixture
def task(sandbox) -> dict:
    dms = client("dms", REGION)
    instance = dms.create_replication_instance(
        ReplicationInstanceIdentifier="migrate-1", ReplicationInstanceClass="dms.r5.large"
    )["ReplicationInstance"]
    source = dms.create_endpoint(
        EndpointIdentifier="legacy-mysql",
        EndpointType="source",
        EngineName="mysql",
        ServerName="legacy.internal",
        Port=3306,
        Username="dms",
        Password="pw",
    )["Endpoint"]
    target = dms.create_endpoint(
        EndpointIdentifier="orders-aurora",
        EndpointType="target",
        EngineName="aurora",
        ServerName="orders.cluster.example",
        Port=3306,
        Username="dms",
        Password="pw",
    )["Endpoint"]
    created = dms.create_replication_task(
        ReplicationTaskIdentifier="orders-cutover",
        SourceEndpointArn=source["EndpointArn"],
        TargetEndpointArn=target["EndpointArn"],
        ReplicationInstanceArn=instance["ReplicationInstanceArn"],
        MigrationType="full-load-and-cdc",
        TableMappings='{"rules": []}',
    )["ReplicationTask"]
    return {"dms": dms, "arn": created["ReplicationTaskArn"]}


def _seed_stats(task_arn: str, tables: list[tuple[str, str, str]]) -> None:
    from moto.dms.models import dms_backends

    from sandbox.extensions.dms import new_table_stat, table_statistics

    rows = table_statistics(dms_backends[ACCOUNT][REGION], task_arn)
    for schema, table, table_state in tables:
        row = new_table_stat(schema, table, table_state)
        row["FullLoadRows"] = 1000
        rows.append(row)


def test_endpoints_are_active_once_created(task):
    statuses = [e["Status"] for e in task["dms"].describe_endpoints()["Endpoints"]]
    assert statuses == ["active", "active"]


def test_table_statistics_are_reported_from_backend_state(task):
    # Given two tables of the task in backend state
    _seed_stats(
        task["arn"], [("shop", "orders", "Table completed"), ("shop", "items", "Full load")]
    )
    # When they are described
    stats = task["dms"].describe_table_statistics(ReplicationTaskArn=task["arn"])
    # Then both are returned with AWS's fields
    rows = [(s["TableName"], s["TableState"], s["FullLoadRows"]) for s in stats["TableStatistics"]]
    assert rows == [("orders", "Table completed", 1000), ("items", "Full load", 1000)]
    assert stats["TableStatistics"][0]["LastUpdateTime"] is not None
    # And they can be filtered by state
    completed = task["dms"].describe_table_statistics(
        ReplicationTaskArn=task["arn"],
        Filters=[{"Name": "table-state", "Values": ["Table completed"]}],
    )["TableStatistics"]
    assert [s["TableName"] for s in completed] == ["orders"]


def test_table_statistics_paginate(task):
    _seed_stats(task["arn"], [("shop", f"t{i:02d}", "Table completed") for i in range(45)])
    paginator = task["dms"].get_paginator("describe_table_statistics")
    pages = list(
        paginator.paginate(ReplicationTaskArn=task["arn"], PaginationConfig={"PageSize": 20})
    )
    assert [len(p["TableStatistics"]) for p in pages] == [20, 20, 5]


def test_a_task_without_statistics_has_none_and_unknown_tasks_are_not_found(task):
    assert (
        task["dms"].describe_table_statistics(ReplicationTaskArn=task["arn"])["TableStatistics"]
        == []
    )
    with pytest.raises(ClientError) as caught:
        task["dms"].describe_table_statistics(ReplicationTaskArn=task["arn"] + "x")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundFault"


def test_task_and_instance_dates_are_timezone_aware(task):
    described = task["dms"].describe_replication_tasks()["ReplicationTasks"][0]
    assert described["ReplicationTaskCreationDate"].tzinfo is not None
    instance = task["dms"].describe_replication_instances()["ReplicationInstances"][0]
    assert instance["InstanceCreateTime"].tzinfo is not None
