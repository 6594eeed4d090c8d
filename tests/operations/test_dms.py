"""DMS task start/stop/resume and endpoint connection tests, end to end."""

import json

import pytest

from estate import aws
from estate.models import DmsEndpoint, DmsReplicationInstance, DmsReplicationTask
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.operations.conftest import REGION, mutating_calls

pytestmark = pytest.mark.django_db

MAPPINGS = json.dumps(
    {
        "rules": [
            {
                "rule-type": "selection",
                "rule-id": "1",
                "rule-name": "1",
                "object-locator": {"schema-name": "shop", "table-name": "orders"},
                "rule-action": "include",
            },
            {
                "rule-type": "selection",
                "rule-id": "2",
                "rule-name": "2",
                "object-locator": {"schema-name": "shop", "table-name": "customers"},
                "rule-action": "include",
            },
        ]
    }
)


@pytest.fixture
def dms(account, fast_sandbox):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(default=0.05, full_load=0.6)
    client = aws.client(account, REGION, "dms")
    instance = client.create_replication_instance(
        ReplicationInstanceIdentifier="ri", ReplicationInstanceClass="dms.t3.medium"
    )["ReplicationInstance"]
    endpoints = {}
    for name, kind, server in (
        ("src", "source", "db.internal"),
        ("dst", "target", "warehouse.internal"),
        ("dead", "source", "old-db.unreachable"),
    ):
        endpoints[name] = client.create_endpoint(
            EndpointIdentifier=name,
            EndpointType=kind,
            EngineName="postgres",
            ServerName=server,
            Port=5432,
            DatabaseName="shop",
            Username="u",
            Password="p",
        )["Endpoint"]
    ri = DmsReplicationInstance.objects.create(
        account=account,
        region=REGION,
        arn=instance["ReplicationInstanceArn"],
        identifier="ri",
        status="available",
    )
    rows = {
        name: DmsEndpoint.objects.create(
            account=account,
            region=REGION,
            arn=e["EndpointArn"],
            identifier=name,
            status="active",
            endpoint_type=e["EndpointType"].lower(),
            server_name=e.get("ServerName", ""),
        )
        for name, e in endpoints.items()
    }
    return client, ri, rows


def _until_ready(client, arn: str) -> None:
    import threading
    import time

    deadline, pause = time.monotonic() + 5, threading.Event()
    while time.monotonic() < deadline:
        tasks = client.describe_replication_tasks()["ReplicationTasks"]
        if any(t["ReplicationTaskArn"] == arn and t["Status"] == "ready" for t in tasks):
            return
        pause.wait(0.02)
    raise TimeoutError(arn)


def _task(client, account, rows, ri, migration_type: str) -> DmsReplicationTask:
    task = client.create_replication_task(
        ReplicationTaskIdentifier=f"t-{migration_type}",
        SourceEndpointArn=rows["src"].arn,
        TargetEndpointArn=rows["dst"].arn,
        ReplicationInstanceArn=ri.arn,
        MigrationType=migration_type,
        TableMappings=MAPPINGS,
    )["ReplicationTask"]
    _until_ready(client, task["ReplicationTaskArn"])
    return DmsReplicationTask.objects.create(
        account=account,
        region=REGION,
        arn=task["ReplicationTaskArn"],
        identifier=task["ReplicationTaskIdentifier"],
        status="ready",
        migration_type=migration_type,
        replication_instance=ri,
    )


def test_full_load_task_is_followed_to_completion_with_table_statistics(dms, account, operator):
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load")
    op = start_operation(
        "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["full_load_percent"] == 100
    assert {t["table"]: t["full_load_rows"] for t in op.result["tables"]} == {
        "shop.orders": 1000,
        "shop.customers": 2000,
    }
    # progress was reported on the way
    assert any("full load" in e.message and "%" in e.message for e in op.events.all())
    live = client.describe_replication_tasks()["ReplicationTasks"][0]
    assert live["Status"] == "stopped"
    assert "FULL_LOAD_ONLY_FINISHED" in live["StopReason"]


def test_cdc_task_stop_then_resume(dms, account, operator):
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load-and-cdc")
    op = drive(
        start_operation(
            "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["full_load_percent"] == 100  # CDC is running now
    task.status = "running"
    task.save()
    stopped = drive(start_operation("dms_stop_task", task, {}, requested_by=operator).pk)
    assert stopped.state == State.SUCCEEDED, stopped.error
    task.status = "stopped"
    task.started_time = task.first_seen_at
    task.save()
    # A task that ran before cannot "start-replication" again: the form says so
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
        )
    assert "resume it" in refused.value.errors["start_type"][0]
    resumed = drive(
        start_operation(
            "dms_start_task", task, {"start_type": "resume-processing"}, requested_by=operator
        ).pk
    )
    assert resumed.state == State.SUCCEEDED, resumed.error
    assert [c.action for c in mutating_calls() if c.service == "dms" and "Task" in c.action][
        -3:
    ] == [
        "StartReplicationTask",
        "StopReplicationTask",
        "StartReplicationTask",
    ]


def test_starting_a_running_task_is_refused(dms, account, operator):
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load-and-cdc")
    task.status = "running"
    task.save()
    with pytest.raises(OperationRefused, match="running"):
        start_operation(
            "dms_start_task", task, {"start_type": "resume-processing"}, requested_by=operator
        )
    assert Operation.objects.count() == 0


def test_connection_test_succeeds_or_fails_with_awss_message(dms, operator):
    _, ri, rows = dms
    ok = drive(
        start_operation(
            "dms_test_connection",
            rows["src"],
            {"replication_instance": ri.pk},
            requested_by=operator,
        ).pk
    )
    assert ok.state == State.SUCCEEDED, ok.error
    bad = drive(
        start_operation(
            "dms_test_connection",
            rows["dead"],
            {"replication_instance": ri.pk},
            requested_by=operator,
        ).pk
    )
    assert bad.state == State.FAILED
    assert "could not connect to server old-db.unreachable" in bad.error
    assert "security groups" in bad.error
