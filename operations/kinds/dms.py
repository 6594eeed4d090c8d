"""DMS: test an endpoint's connection; start, stop and resume a replication task and
follow it until its full load completes (or CDC runs), with a progress bar from the
task's statistics and the per-table statistics in the result."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate.models import DmsEndpoint, DmsReplicationInstance, DmsReplicationTask
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    poll_interval,
)

STARTABLE = ("ready", "stopped", "failed")


def _describe_task(call: Any, arn: str) -> dict[str, Any]:
    found = call(
        "describe_replication_tasks",
        service="dms",
        Filters=[{"Name": "replication-task-arn", "Values": [arn]}],
    )["ReplicationTasks"]
    if not found:
        from estate import aws

        raise aws.AwsNotFound("ResourceNotFoundFault", f"Replication task {arn} not found.")
    return found[0]


def _table_statistics(ctx: StepContext) -> list[dict[str, Any]]:
    rows = ctx.call(
        "describe_table_statistics", service="dms", ReplicationTaskArn=ctx.op.target_arn
    ).get("TableStatistics", [])
    return [
        {
            "table": f"{r.get('SchemaName')}.{r.get('TableName')}",
            "state": r.get("TableState", ""),
            "full_load_rows": r.get("FullLoadRows", 0),
            "inserts": r.get("Inserts", 0),
            "updates": r.get("Updates", 0),
            "deletes": r.get("Deletes", 0),
            "errors": r.get("FullLoadErrorRows", 0),
        }
        for r in rows
    ]


def has_run(task: DmsReplicationTask) -> bool:
    """Has the task run before (as mirrored)? Then AWS refuses ``start-replication``:
    it is resumed, or reloaded (the ``dms_reload_task`` kind)."""
    return task.started_time is not None or task.status == "stopped"


class StartTaskForm(KindForm):
    start_type = forms.ChoiceField(
        choices=[
            ("start-replication", "Start (first run)"),
            ("resume-processing", "Resume where it stopped"),
        ],
        help_text='To load the target again from scratch, use "Reload DMS task target" '
        "(Admin: it truncates or drops the target's tables).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The one start type AWS accepts for this task now.
        self.fields["start_type"].initial = (
            "resume-processing" if has_run(self.target) else "start-replication"
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        task: DmsReplicationTask = self.target
        if task.status not in STARTABLE:
            raise ValidationError(
                f"{task.identifier} is {task.status}; it can be started when ready, stopped or failed."
            )
        start_type = cleaned.get("start_type")
        if start_type == "start-replication" and has_run(task):
            self.add_error(
                "start_type",
                "This task has run before: resume it (or reload the target, an Admin's operation).",
            )
        elif start_type == "resume-processing" and not has_run(task):
            self.add_error("start_type", "This task has never run: start it (first run).")
        return cleaned


class StartReplicationTask(Kind):
    name = "dms_start_task"
    label = "Start / resume DMS task"
    description = "Run the task and follow it until the full load completes or CDC runs."
    target_model = DmsReplicationTask
    form_class = StartTaskForm
    cannot_stop = "AWS keeps a started task running until it is stopped"
    resync_kinds = ("dms",)
    steps = (
        Step("request_start", "Ask AWS to start the task", mutating=True),
        Step("follow", "Follow the task", settles=True, budget_seconds=86400),
    )

    def start_type(self, ctx: StepContext) -> str:
        return ctx.params["start_type"]

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.status in STARTABLE

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        task = _describe_task(ctx.call, target.arn)
        if task["Status"] not in STARTABLE:
            raise ValidationError(f"{target.identifier} is {task['Status']} in AWS right now.")
        # The mirror may not know yet that the task has run (AWS keeps its start date).
        ran = bool(task.get("ReplicationTaskStartDate")) or task["Status"] == "stopped"
        start_type = params.get("start_type")
        if start_type == "start-replication" and ran:
            raise ValidationError(
                f"{target.identifier} has run before (AWS says so): resume it instead."
            )
        if start_type == "resume-processing" and not ran:
            raise ValidationError(
                f"{target.identifier} has never run (AWS says so): start it (first run)."
            )
        ctx.memory["status_before"] = task["Status"]

    def step_request_start(self, ctx: StepContext) -> Done | Wait | Fail:
        task = _describe_task(ctx.call, ctx.op.target_arn)
        if task["Status"] in ("starting", "running"):
            ctx.checkpoint(mutation=True)
            return Done("The task is already starting or running: not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call(
            "start_replication_task",
            service="dms",
            ReplicationTaskArn=ctx.op.target_arn,
            StartReplicationTaskType=self.start_type(ctx),
        )
        return Done(f"AWS accepted {self.start_type(ctx)}.")

    def step_follow(self, ctx: StepContext) -> Done | Wait | Fail:
        task = _describe_task(ctx.call, ctx.op.target_arn)
        status = task["Status"]
        stats = task.get("ReplicationTaskStats") or {}
        percent = float(stats.get("FullLoadProgressPercent") or 0)
        migration = task.get("MigrationType", "")
        if status == "failed":
            return Fail(
                f"The task failed: {task.get('LastFailureMessage') or 'no message from AWS'}",
                "Check the task's CloudWatch logs, fix the cause, then resume it (or have an "
                "Admin reload the target).",
            )
        if status == "stopped":
            reason = task.get("StopReason", "")
            if "FULL_LOAD_ONLY_FINISHED" in reason:
                return self._done(ctx, "Full load complete.", percent)
            return Fail(f"The task stopped: {reason or 'no reason given'}.")
        if status == "running" and (migration == "cdc" or percent >= 100):
            return self._done(
                ctx,
                "Full load complete; CDC is running." if migration != "cdc" else "CDC is running.",
                percent,
            )
        loaded = stats.get("TablesLoaded", 0)
        total = loaded + stats.get("TablesLoading", 0) + stats.get("TablesQueued", 0)
        return Wait(
            poll_interval(ctx.op),
            f"Task {status}: full load {percent:.0f}% ({loaded}/{total} tables).",
            progress=percent,
        )

    def _done(self, ctx: StepContext, message: str, percent: float) -> Done:
        tables = _table_statistics(ctx)
        return Done(
            message,
            result={"full_load_percent": percent, "tables": tables},
        )


class ReloadTaskForm(KindForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        task: DmsReplicationTask = self.target
        if task.status not in STARTABLE:
            raise ValidationError(
                f"{task.identifier} is {task.status}; it can be reloaded when stopped or failed."
            )
        return cleaned


class ReloadReplicationTask(StartReplicationTask):
    """``StartReplicationTask`` with ``reload-target``: AWS prepares the target's tables
    as the task's ``TargetTablePrepMode`` says (drop and create, or truncate) and loads
    everything again, so whatever the target held is lost. Hence a kind of its own:
    destructive (Admin, typed confirmation, four-eyes in production)."""

    name = "dms_reload_task"
    label = "Reload DMS task target from scratch"
    description = (
        "Start the task with reload-target: the target's tables are dropped or truncated "
        "and loaded again from the source."
    )
    form_class = ReloadTaskForm
    destructive = True
    confirm_identifier = True
    confirm_help = (
        "AWS drops or truncates the target's tables (the task's target table preparation "
        "mode) and loads them again: data in the target is lost."
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        # A first run loads the target anyway: "reload" means a task that has run.
        return super().applies_to(resource) and has_run(resource)

    def start_type(self, ctx: StepContext) -> str:
        return "reload-target"


class StopTaskForm(KindForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.target.status != "running":
            raise ValidationError(f"{self.target.identifier} is {self.target.status}, not running.")
        return cleaned


class StopReplicationTask(Kind):
    name = "dms_stop_task"
    label = "Stop DMS task"
    description = "Stop the task (it can be resumed later)."
    target_model = DmsReplicationTask
    form_class = StopTaskForm
    cannot_stop = "AWS cannot take back a stop request"
    resync_kinds = ("dms",)
    steps = (
        Step("request_stop", "Ask AWS to stop the task", mutating=True),
        Step("await_stopped", "Wait until it has stopped", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.status == "running"

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        task = _describe_task(ctx.call, target.arn)
        if task["Status"] != "running":
            raise ValidationError(f"{target.identifier} is {task['Status']} in AWS, not running.")

    def step_request_stop(self, ctx: StepContext) -> Done | Wait | Fail:
        task = _describe_task(ctx.call, ctx.op.target_arn)
        if task["Status"] in ("stopping", "stopped"):
            ctx.checkpoint(mutation=True)
            return Done("The task is already stopping or stopped: not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call("stop_replication_task", service="dms", ReplicationTaskArn=ctx.op.target_arn)
        return Done("AWS accepted the stop.")

    def step_await_stopped(self, ctx: StepContext) -> Done | Wait | Fail:
        task = _describe_task(ctx.call, ctx.op.target_arn)
        if task["Status"] != "stopped":
            return Wait(poll_interval(ctx.op), f"Task is {task['Status']}.")
        stats = task.get("ReplicationTaskStats") or {}
        return Done(
            f"Stopped at {stats.get('FullLoadProgressPercent', 0)}% of the full load.",
            result={
                "full_load_percent": stats.get("FullLoadProgressPercent", 0),
                "tables": _table_statistics(ctx),
            },
        )


class TestConnectionForm(KindForm):
    replication_instance = forms.ModelChoiceField(queryset=DmsReplicationInstance.objects.none())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        endpoint: DmsEndpoint = self.target
        self.fields["replication_instance"].queryset = DmsReplicationInstance.objects.live().filter(
            account=endpoint.account, region=endpoint.region
        )


class TestEndpointConnection(Kind):
    name = "dms_test_connection"
    label = "Test DMS endpoint connection"
    description = "Ask a replication instance to connect to this endpoint."
    target_model = DmsEndpoint
    form_class = TestConnectionForm
    mutating = False  # probes only
    steps = (
        # Testing changes nothing in AWS: repeating it after a crash is harmless.
        Step("request_test", "Ask AWS to test the connection"),
        Step("await_result", "Wait for the result", settles=True),
    )

    def _instance_arn(self, ctx: StepContext) -> str:
        return DmsReplicationInstance.objects.get(pk=ctx.params["replication_instance"]).arn

    def _connection(self, ctx: StepContext) -> dict[str, Any] | None:
        found = ctx.call(
            "describe_connections",
            service="dms",
            Filters=[
                {"Name": "endpoint-arn", "Values": [ctx.op.target_arn]},
                {"Name": "replication-instance-arn", "Values": [self._instance_arn(ctx)]},
            ],
        ).get("Connections", [])
        instance = self._instance_arn(ctx)
        # Match client-side too: the filters are not applied by every implementation.
        return next(
            (
                c
                for c in found
                if c.get("EndpointArn") == ctx.op.target_arn
                and c.get("ReplicationInstanceArn") == instance
            ),
            None,
        )

    def step_request_test(self, ctx: StepContext) -> Done | Wait | Fail:
        ctx.checkpoint(mutation=True)
        ctx.call(
            "test_connection",
            service="dms",
            ReplicationInstanceArn=self._instance_arn(ctx),
            EndpointArn=ctx.op.target_arn,
        )
        return Done("AWS is testing the connection.")

    def step_await_result(self, ctx: StepContext) -> Done | Wait | Fail:
        connection = self._connection(ctx)
        status = (connection or {}).get("Status", "testing")
        if status == "testing":
            return Wait(poll_interval(ctx.op), "Testing the connection.")
        if status != "successful":
            return Fail(
                f"Connection test {status}: {connection.get('LastFailureMessage') or 'no message'}",
                "Check the endpoint's server, port, credentials and the security groups "
                "between the replication instance and the database.",
            )
        return Done("The connection test succeeded.", result={"status": status})


KINDS = (
    StartReplicationTask,
    ReloadReplicationTask,
    StopReplicationTask,
    TestEndpointConnection,
)
