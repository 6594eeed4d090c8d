"""Restore drills of a DB instance and of a cluster.

A restore drill restores the latest snapshot (or the latest restorable time) into a
temporary resource, waits until it is available, optionally runs a SQL check, records
the restore duration, and deletes the temporary resource. Cleanup is not optional: a
failure after the restore call is carried to the cleanup step instead of failing the
operation at once, and a cancel is honoured by the waiting steps running the cleanup
themselves (the engine ends a cancelled operation after a settling step).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import forms
from django.utils import timezone

from drills.kinds.base import run_for, save_run
from drills.models import DrillType, RunStatus
from drills.probes import ProbeConfigError, ProbeTarget
from estate import aws
from estate.models import DbCluster, DbInstance
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    describe_cluster,
    describe_instance,
    poll_interval,
)


class RestoreDrillForm(KindForm):
    method = forms.ChoiceField(
        label="Restore from",
        choices=[("snapshot", "Latest snapshot"), ("pitr", "Latest restorable time")],
        initial="snapshot",
        required=False,
    )
    instance_class = forms.CharField(
        required=False,
        initial="db.t3.micro",
        help_text="Of the temporary instance (the restore time does not depend on it much).",
    )
    check_dsn_env = forms.CharField(
        label="Connection check: DSN variable",
        required=False,
        help_text="Run SELECT 1 with the DSN in this environment variable once restored "
        "({host} and {port} in it are replaced by the restored resource's address).",
    )
    schedule_id = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["method"] = cleaned.get("method") or "snapshot"
        cleaned["instance_class"] = cleaned.get("instance_class") or "db.t3.micro"
        return cleaned


_RETRYABLE = (aws.AwsThrottled, aws.AwsUnavailable)
_RESTORE_FAILED = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "inaccessible-encryption-credentials",
    }
)
_DELETABLE = _RESTORE_FAILED | {"available", "storage-full", "stopped"}


class RestoreDrill(Kind):
    """Shared restore-drill steps; subclasses say how to restore/describe/delete."""

    form_class = RestoreDrillForm
    cannot_stop = (
        "a restore cannot be stopped once AWS started it; Estate deletes it when it is done"
    )
    steps = (
        Step("choose_source", "Choose what to restore"),
        Step("restore", "Start the restore", mutating=True),
        Step("await_restore", "Wait for the restored resource", settles=True, budget_seconds=7200),
        Step("check", "Check the restored database", settles=True, budget_seconds=300),
        Step("cleanup", "Delete the temporary resource", settles=True, budget_seconds=3600),
    )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cls.describe_source(ctx.call, target.identifier)

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        raise NotImplementedError

    def temp_status(self, ctx: StepContext) -> str | None:
        raise NotImplementedError

    # --- the failure carried to cleanup ---------------------------------------------

    def _carry(self, ctx: StepContext, reason: str) -> Done:
        """Remember a failure and go on to the cleanup (which fails the operation)."""
        ctx.memory["failure"] = reason
        ctx.checkpoint()
        ctx.log(f"{reason} — cleaning up before failing.", level="error")
        return Done()

    def _guarded(self, ctx: StepContext, body: Any) -> Done | Wait | Fail:
        """Run a step after the restore call: skip it if a failure is being carried or a
        cancel was asked for (then clean up here, since the engine ends a cancelled
        operation after this settling step), and carry AWS errors to the cleanup."""
        if ctx.op.cancel_requested:
            return self.step_cleanup(ctx, cancelling=True)
        if ctx.memory.get("failure"):
            return Done()
        try:
            return body()
        except _RETRYABLE:
            raise
        except aws.AwsError as exc:
            return self._carry(
                ctx, f"AWS refused {exc.operation or 'a call'}: {exc.code}: {exc.message}"
            )

    def _finish_run(self, ctx: StepContext, status: str, reason: str = "") -> None:
        from drills import services

        run = run_for(ctx)
        run.status, run.reason, run.finished_at = status, reason, timezone.now()
        save_run(run, "status", "reason", "finished_at")
        if status == RunStatus.FAILED:
            services.notify(run, f"Restore drill failed: {reason}")

    def step_choose_source(self, ctx: StepContext) -> Done | Wait | Fail:
        run = run_for(ctx)
        run.drill_type = DrillType.RESTORE
        run.temp_identifier = f"estate-rd-{ctx.op.pk}-{ctx.op.target_label}"[:63].rstrip("-")
        save_run(run, "drill_type", "temp_identifier")
        ctx.memory["temp"] = run.temp_identifier
        method = ctx.params.get("method") or "snapshot"
        if method == "snapshot":
            snapshot = self.latest_snapshot(ctx)
            if snapshot is None:
                reason = f"{ctx.op.target_label} has no available snapshot to restore."
                self._finish_run(ctx, RunStatus.FAILED, reason)
                return Fail(
                    reason,
                    "Take a snapshot or enable automated backups, or restore to a point in time.",
                )
            ctx.memory["snapshot"] = snapshot
            return Done(f"Restoring snapshot {snapshot} into {run.temp_identifier}.")
        return Done(f"Restoring the latest restorable time into {run.temp_identifier}.")

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        if ctx.memory.get("restore_started_at") or self.temp_status(ctx) is not None:
            # A previous run got the call through: don't restore twice.
            ctx.checkpoint(mutation=True)
            return Done("The restore was already started.")
        ctx.memory["restore_started_at"] = timezone.now().isoformat()
        ctx.checkpoint(mutation=True)
        try:
            self.start_restore(ctx)
        except _RETRYABLE:
            raise
        except aws.AwsError as exc:
            # Nothing may exist yet, but AWS may have created it before refusing:
            # the cleanup step looks and deletes whatever is there.
            return self._carry(ctx, f"The restore was refused: {exc.code}: {exc.message}")
        return Done(f"AWS accepted the restore into {ctx.memory['temp']}.")

    def step_await_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            status = self.temp_status(ctx)
            if status is None:
                return self._carry(ctx, f"The restored resource {ctx.memory['temp']} vanished.")
            if status in (
                "failed",
                "incompatible-restore",
                "incompatible-parameters",
                "inaccessible-encryption-credentials",
            ):
                return self._carry(ctx, f"The restore failed: {ctx.memory['temp']} is {status}.")
            if status != "available":
                return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is {status}.")
            started = datetime.fromisoformat(ctx.memory["restore_started_at"])
            seconds = (timezone.now() - started).total_seconds()
            run = run_for(ctx)
            run.restore_seconds = seconds
            save_run(run, "restore_seconds")
            return Done(
                f"Restored and available after {seconds:.1f} s.",
                result={"restore_seconds": seconds},
            )

        return self._guarded(ctx, body)

    def step_check(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            env = ctx.params.get("check_dsn_env")
            if not env:
                return Done("No SQL check configured.")
            from drills import probes

            host, port = self.temp_address(ctx)
            target = ProbeTarget(
                host=host or "localhost", port=port or 5432, kind="postgres", dsn_env=env
            )
            try:
                creds = probes.resolve_credentials(target)
            except ProbeConfigError as exc:
                return self._carry(ctx, f"SQL check not possible: {exc}")
            # The DSN may name the restored resource with {host} and {port}: its
            # address is only known now.
            dsn = creds.dsn.replace("{host}", target.host).replace("{port}", str(target.port))
            kind = "mysql" if dsn.startswith(("mysql://", "mariadb://")) else "postgres"
            target = ProbeTarget(host=target.host, port=target.port, kind=kind, dsn_env=env)
            sample = probes.probe_once(target, probes.Credentials(dsn=dsn))
            if not sample.ok:
                return self._carry(ctx, f"SQL check failed: {sample.error}")
            return Done(f"SELECT 1 answered in {sample.latency_ms:.0f} ms.")

        return self._guarded(ctx, body)

    def step_cleanup(self, ctx: StepContext, *, cancelling: bool = False) -> Done | Wait | Fail:
        status = self.temp_status(ctx)
        run = run_for(ctx)
        if status is not None and status != "deleting":
            if not ctx.memory.get("delete_requested"):
                if status not in (
                    "available",
                    "failed",
                    "incompatible-restore",
                    "storage-full",
                    "incompatible-parameters",
                    "inaccessible-encryption-credentials",
                ):
                    return Wait(
                        poll_interval(ctx.op), f"Waiting to delete {ctx.memory['temp']} ({status})."
                    )
                ctx.memory["delete_requested"] = True
                ctx.checkpoint(mutation=True)
                self.delete_temp(ctx)
                ctx.log(
                    f"Deleting the temporary {ctx.memory['temp']}.",
                    level="warning" if cancelling else "info",
                )
            return Wait(poll_interval(ctx.op), f"Deleting {ctx.memory['temp']}.")
        if status == "deleting":
            return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is deleting.")
        run.cleaned_up = True
        save_run(run, "cleaned_up")
        ctx.log(f"Cleanup done: {ctx.memory.get('temp')} is gone.", level="success", cleanup=True)
        if cancelling:
            self._finish_run(
                ctx, RunStatus.CANCELLED, "Cancelled; the temporary resource was deleted."
            )
            return Done("Temporary resource deleted after the cancel.")
        if ctx.memory.get("failure"):
            self._finish_run(ctx, RunStatus.FAILED, ctx.memory["failure"])
            return Fail(ctx.memory["failure"], "The temporary resource was deleted.")
        self._finish_run(ctx, RunStatus.PASSED)
        return Done("Temporary resource deleted.")

    # subclass hooks
    def latest_snapshot(self, ctx: StepContext) -> str | None:
        raise NotImplementedError

    def start_restore(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def delete_temp(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        raise NotImplementedError


class InstanceRestoreDrill(RestoreDrill):
    name = "instance_restore_drill"
    label = "Restore drill (instance)"
    description = "Restore the latest backup into a temporary instance, time it, delete it."
    target_model = DbInstance
    mutating = False  # it never changes the target itself; a parallel restore is fine
    destructive = False

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.cluster_id is None

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_instance(call, identifier)

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_instance(ctx.call, ctx.memory["temp"])["DBInstanceStatus"]
        except aws.AwsNotFound:
            return None

    def latest_snapshot(self, ctx: StepContext) -> str | None:
        found = ctx.call("describe_db_snapshots", DBInstanceIdentifier=ctx.op.target_label)[
            "DBSnapshots"
        ]
        ready = [s for s in found if s.get("Status") == "available"]
        if not ready:
            return None
        oldest = datetime.min.replace(tzinfo=UTC)
        newest = max(ready, key=lambda s: s.get("SnapshotCreateTime") or oldest)
        return newest["DBSnapshotIdentifier"]

    def start_restore(self, ctx: StepContext) -> None:
        common = {
            "DBInstanceClass": ctx.params.get("instance_class") or "db.t3.micro",
            "MultiAZ": False,
            "PubliclyAccessible": False,
            "Tags": [{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}],
        }
        if ctx.memory.get("snapshot"):
            ctx.call(
                "restore_db_instance_from_db_snapshot",
                DBInstanceIdentifier=ctx.memory["temp"],
                DBSnapshotIdentifier=ctx.memory["snapshot"],
                **common,
            )
        else:
            ctx.call(
                "restore_db_instance_to_point_in_time",
                SourceDBInstanceIdentifier=ctx.op.target_label,
                TargetDBInstanceIdentifier=ctx.memory["temp"],
                UseLatestRestorableTime=True,
                **common,
            )

    def delete_temp(self, ctx: StepContext) -> None:
        ctx.call(
            "delete_db_instance",
            DBInstanceIdentifier=ctx.memory["temp"],
            SkipFinalSnapshot=True,
            DeleteAutomatedBackups=True,
        )

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        live = describe_instance(ctx.call, ctx.memory["temp"])
        endpoint = live.get("Endpoint") or {}
        return endpoint.get("Address", ""), int(endpoint.get("Port") or 0)


class ClusterRestoreDrill(RestoreDrill):
    """Restore a cluster snapshot (or the latest restorable time) into a temporary
    cluster with one instance — a cluster without an instance accepts no connections,
    so the RTO includes the instance — then delete both."""

    name = "cluster_restore_drill"
    label = "Restore drill (cluster)"
    description = "Restore the latest backup into a temporary cluster, time it, delete it."
    target_model = DbCluster
    mutating = False
    destructive = False
    steps = (
        Step("choose_source", "Choose what to restore"),
        Step("restore", "Start the restore", mutating=True),
        Step("add_instance", "Add an instance to the restored cluster", settles=True),
        Step("await_restore", "Wait for the restored cluster", settles=True, budget_seconds=7200),
        Step("check", "Check the restored database", settles=True, budget_seconds=300),
        Step("cleanup", "Delete the temporary resources", settles=True, budget_seconds=3600),
    )

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_cluster(call, identifier)

    def _instance_id(self, ctx: StepContext) -> str:
        return f"{ctx.memory['temp']}-1"[:63]

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_cluster(ctx.call, ctx.memory["temp"])["Status"]
        except aws.AwsNotFound:
            return None

    def _instance_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_instance(ctx.call, self._instance_id(ctx))["DBInstanceStatus"]
        except aws.AwsNotFound:
            return None

    def latest_snapshot(self, ctx: StepContext) -> str | None:
        source = describe_cluster(ctx.call, ctx.op.target_label)
        ctx.memory["engine"] = source.get("Engine", "")
        ctx.memory["engine_version"] = source.get("EngineVersion", "")
        found = ctx.call("describe_db_cluster_snapshots", DBClusterIdentifier=ctx.op.target_label)[
            "DBClusterSnapshots"
        ]
        ready = [s for s in found if s.get("Status") == "available"]
        if not ready:
            return None
        oldest = datetime.min.replace(tzinfo=UTC)
        newest = max(ready, key=lambda s: s.get("SnapshotCreateTime") or oldest)
        return newest["DBClusterSnapshotIdentifier"]

    def step_choose_source(self, ctx: StepContext) -> Done | Wait | Fail:
        if "engine" not in ctx.memory:
            source = describe_cluster(ctx.call, ctx.op.target_label)
            ctx.memory["engine"] = source.get("Engine", "")
            ctx.memory["engine_version"] = source.get("EngineVersion", "")
        return super().step_choose_source(ctx)

    def start_restore(self, ctx: StepContext) -> None:
        tags = [{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}]
        if ctx.memory.get("snapshot"):
            ctx.call(
                "restore_db_cluster_from_snapshot",
                DBClusterIdentifier=ctx.memory["temp"],
                SnapshotIdentifier=ctx.memory["snapshot"],
                Engine=ctx.memory["engine"],
                Tags=tags,
            )
        else:
            ctx.call(
                "restore_db_cluster_to_point_in_time",
                DBClusterIdentifier=ctx.memory["temp"],
                SourceDBClusterIdentifier=ctx.op.target_label,
                UseLatestRestorableTime=True,
                Tags=tags,
            )

    def step_add_instance(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            if self._instance_status(ctx) is not None:
                return Done(f"{self._instance_id(ctx)} already exists.")
            status = self.temp_status(ctx)
            if status is None:
                return self._carry(ctx, f"The restored cluster {ctx.memory['temp']} vanished.")
            if status in _RESTORE_FAILED:
                return self._carry(ctx, f"The restore failed: {ctx.memory['temp']} is {status}.")
            if status != "available":
                return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is {status}.")
            ctx.call(
                "create_db_instance",
                DBInstanceIdentifier=self._instance_id(ctx),
                DBClusterIdentifier=ctx.memory["temp"],
                Engine=ctx.memory["engine"],
                DBInstanceClass=ctx.params.get("instance_class") or "db.r6g.large",
                Tags=[{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}],
            )
            return Done(f"Adding {self._instance_id(ctx)} to {ctx.memory['temp']}.")

        return self._guarded(ctx, body)

    def step_await_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        if not ctx.op.cancel_requested and not ctx.memory.get("failure"):
            status = self._instance_status(ctx)
            if status in _RESTORE_FAILED:
                return self._carry(ctx, f"The restored instance is {status}.")
            if status is not None and status != "available":
                return Wait(poll_interval(ctx.op), f"{self._instance_id(ctx)} is {status}.")
        return super().step_await_restore(ctx)

    def step_cleanup(self, ctx: StepContext, *, cancelling: bool = False) -> Done | Wait | Fail:
        status = self._instance_status(ctx)
        if status is not None:
            if status == "deleting" or ctx.memory.get("instance_delete_requested"):
                return Wait(poll_interval(ctx.op), f"Deleting {self._instance_id(ctx)}.")
            if status not in _DELETABLE:
                return Wait(poll_interval(ctx.op), f"Waiting to delete {self._instance_id(ctx)}.")
            ctx.memory["instance_delete_requested"] = True
            ctx.checkpoint(mutation=True)
            ctx.call(
                "delete_db_instance",
                DBInstanceIdentifier=self._instance_id(ctx),
                SkipFinalSnapshot=True,
            )
            ctx.log(f"Deleting the temporary {self._instance_id(ctx)}.")
            return Wait(poll_interval(ctx.op), f"Deleting {self._instance_id(ctx)}.")
        return super().step_cleanup(ctx, cancelling=cancelling)

    def delete_temp(self, ctx: StepContext) -> None:
        ctx.call(
            "delete_db_cluster", DBClusterIdentifier=ctx.memory["temp"], SkipFinalSnapshot=True
        )

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        live = describe_cluster(ctx.call, ctx.memory["temp"])
        return live.get("Endpoint", ""), int(live.get("Port") or 0)


KINDS = (InstanceRestoreDrill, ClusterRestoreDrill)
