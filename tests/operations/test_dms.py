"""DMS task start/stop/resume and endpoint connection tests, end to end."""

import json

import pytest

from estate import aws
from estate.models import DmsEndpoint, DmsReplicationInstance, DmsReplicationTask
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import REGION, mutating_calls

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


# --- reload-target is destructive; the start form defaults to what AWS accepts -------


def _run_once_then_stop(client, account, rows, ri, operator) -> DmsReplicationTask:
    """A CDC task that has run and is stopped, mirrored as such."""
    task = _task(client, account, rows, ri, "full-load-and-cdc")
    op = drive(
        start_operation(
            "dms_start_task", task, {"start_type": "start-replication"}, requested_by=operator
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    task.status = "running"
    task.save()
    assert drive(start_operation("dms_stop_task", task, {}, requested_by=operator).pk).state == (
        State.SUCCEEDED
    )
    task.status = "stopped"
    task.started_time = task.first_seen_at
    task.save()
    return task


def test_start_form_defaults_to_the_start_type_aws_accepts(dms, account, operator, client):
    from django.urls import reverse

    from operations.kinds.dms import StartReplicationTask, StartTaskForm

    aws_client, ri, rows = dms
    fresh = _task(aws_client, account, rows, ri, "full-load")
    form = StartTaskForm(target=fresh, kind=StartReplicationTask)
    assert form.fields["start_type"].initial == "start-replication"
    # Reload is not a start type any more: it is its own, destructive kind.
    assert [v for v, _ in form.fields["start_type"].choices] == [
        "start-replication",
        "resume-processing",
    ]
    ran = _run_once_then_stop(aws_client, account, rows, ri, operator)
    form = StartTaskForm(target=ran, kind=StartReplicationTask)
    assert form.fields["start_type"].initial == "resume-processing"
    # And on the page
    client.force_login(operator)
    page = client.get(reverse("operations:new", args=["dms_start_task"]), {"target": ran.arn})
    assert page.status_code == 200
    assert '<option value="resume-processing" selected>' in page.content.decode()


def test_resuming_a_task_that_never_ran_is_refused(dms, account, operator):
    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load")
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "dms_start_task", task, {"start_type": "resume-processing"}, requested_by=operator
        )
    assert "never run" in refused.value.errors["start_type"][0]
    assert Operation.objects.count() == 0


def test_reload_target_is_not_a_start_type(dms, account, operator):
    client, ri, rows = dms
    task = _run_once_then_stop(client, account, rows, ri, operator)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "dms_start_task", task, {"start_type": "reload-target"}, requested_by=operator
        )
    assert "start_type" in refused.value.errors


def test_reload_needs_an_admin_and_the_typed_identifier(
    dms, account, operator, admin_user, monkeypatch
):
    from django.core.exceptions import PermissionDenied

    from operations import registry

    client, ri, rows = dms
    task = _run_once_then_stop(client, account, rows, ri, operator)
    start_types: list[str] = []
    real = aws.call

    def recording(client, operation, **kw):
        if operation == "start_replication_task":
            start_types.append(kw["StartReplicationTaskType"])
        return real(client, operation, **kw)

    monkeypatch.setattr(aws, "call", recording)
    assert "dms_reload_task" in [k.name for k in registry.applicable_to(task)]
    before = len(mutating_calls("StartReplicationTask"))
    with pytest.raises(PermissionDenied):
        start_operation(
            "dms_reload_task", task, {"confirm": task.identifier}, requested_by=operator
        )
    with pytest.raises(OperationRefused) as refused:
        start_operation("dms_reload_task", task, {"confirm": "t-other"}, requested_by=admin_user)
    assert "confirm" in refused.value.errors
    assert len(mutating_calls("StartReplicationTask")) == before

    op = drive(
        start_operation(
            "dms_reload_task", task, {"confirm": task.identifier}, requested_by=admin_user
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    assert op.destructive
    assert start_types == ["reload-target"]


def test_reload_is_not_offered_for_a_task_that_never_ran(dms, account):
    from operations import registry

    client, ri, rows = dms
    task = _task(client, account, rows, ri, "full-load")
    assert "dms_reload_task" not in [k.name for k in registry.applicable_to(task)]


def test_reload_in_production_waits_for_a_second_admin(dms, account, operator, admin_user):
    from estate.models import Environment

    client, ri, rows = dms
    task = _run_once_then_stop(client, account, rows, ri, operator)
    account.environment = Environment.PRODUCTION
    account.save()
    before = len(mutating_calls("StartReplicationTask"))
    op = start_operation(
        "dms_reload_task", task, {"confirm": task.identifier}, requested_by=admin_user
    )
    assert op.state == State.AWAITING_APPROVAL
    assert len(mutating_calls("StartReplicationTask")) == before
