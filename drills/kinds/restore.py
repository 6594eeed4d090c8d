"""Restore drills of a DB instance and of a cluster, on top of the restore kinds.

A restore drill restores the latest snapshot (or the latest restorable time) into a
temporary resource, waits until it is available, optionally runs a SQL check, records
the restore duration, and deletes the temporary resource.

The restore itself is the restore kind's: the drill runs that kind's own checks and
steps (``operations.kinds.restore``), as failover drills run the failover kinds' — so a
drill measures the path an operator's restore takes, and what those kinds learn (names,
tags, placement, failure statuses) the drills get too:

* instance, latest snapshot: ``restore_instance_snapshot`` (its target: the snapshot);
* instance, latest restorable time: ``restore_instance_pitr``;
* cluster, latest restorable time: ``restore_cluster_pitr`` (a cluster, then an instance);
* cluster, latest snapshot: no kind restores a cluster snapshot, so the drill's own
  ``RestoreDBClusterFromSnapshot`` stands in for ``restore_cluster_pitr``'s first step,
  and that kind's instance step follows.

What a drill's copy differs in is said once, in its calls (``_AsWrapped.call``): it is
single-AZ and never public, and tagged as a drill's.

Cleanup is not optional: a failure after the restore call is carried to the cleanup
step instead of failing the operation at once, and a cancel is honoured by the waiting
steps running the cleanup themselves (the engine ends a cancelled operation after a
settling step).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
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
    members_status,
    poll_interval,
)
from operations.kinds.restore import (
    DELETABLE,
    RESTORE_FAILED,
    RestoreClusterToPointInTime,
    RestoreInstanceFromSnapshot,
    RestoreInstanceToPointInTime,
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
        cleaned["instance_class"] = (
            cleaned.get("instance_class") or self.fields["instance_class"].initial
        )
        return cleaned


class ClusterRestoreDrillForm(RestoreDrillForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Aurora has no db.t3.micro: the smallest class both engines take.
        self.fields["instance_class"].initial = "db.t4g.medium"


_RETRYABLE = (aws.AwsThrottled, aws.AwsUnavailable)

# The tag that marks a drill's temporary resource (its value: the drill's operation).
DRILL_TAG = "estate:restore-drill"
_INSTANCE_RESTORES = frozenset(
    {"restore_db_instance_from_db_snapshot", "restore_db_instance_to_point_in_time"}
)
_CREATES = _INSTANCE_RESTORES | {
    "restore_db_cluster_from_snapshot",
    "restore_db_cluster_to_point_in_time",
    "create_db_instance",
}


# --- the drill's context, as a wrapped restore kind expects it -------------------------


class _Retargeted:
    """The drill's operation with another target: the snapshot a restore kind restores
    (``restore_instance_snapshot`` is started on a snapshot, a drill on its source)."""

    def __init__(self, op: Any, label: str, arn: str) -> None:
        self._op = op
        self.target_label = label
        self.target_arn = arn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._op, name)


class _AsWrapped:
    """The drill's step context seen by a wrapped restore kind: the kind's own
    parameters (the temporary name, the instance class, no restore time: the latest),
    the drill's memory, result, timeline and checkpoint — and the drill's calls, in
    which every resource created is a drill's temporary copy."""

    def __init__(
        self, ctx: StepContext, params: dict[str, Any], *, target: tuple[str, str] | None = None
    ) -> None:
        self._ctx = ctx
        self.params = params
        self.op = ctx.op if target is None else _Retargeted(ctx.op, *target)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    def call(self, operation: str, service: str = "rds", region: str | None = None, **kw: Any):
        if operation in _CREATES:
            kw = {**kw, "Tags": [*kw.get("Tags", []), {"Key": DRILL_TAG, "Value": str(self.op.pk)}]}
        if operation in _INSTANCE_RESTORES:
            # Single-AZ: half the cost, and the restore time hardly depends on it. Never
            # public: it holds a copy of the data (unasked, AWS makes a non-Aurora
            # instance without a subnet group, or in the default one, public).
            kw.update(MultiAZ=False, PubliclyAccessible=False)
        return self._ctx.call(operation, service, region, **kw)


# --- the shared steps --------------------------------------------------------------------


class RestoreDrill(Kind):
    """Shared restore-drill steps; subclasses name the restore kinds they wrap and say
    how to read and delete the temporary resource."""

    # method ("snapshot", "pitr") -> the restore kind whose checks and steps run.
    wrapped_for: ClassVar[dict[str, type[Kind]]]
    # The restore kind's step that asks AWS for the restore.
    restore_step: ClassVar[str]
    form_class = RestoreDrillForm
    mutating = False  # it never changes the target itself; a parallel restore is fine
    destructive = False
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

    # subclass hooks
    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        raise NotImplementedError

    def temp_name(self, ctx: StepContext) -> str:
        return f"estate-rd-{ctx.op.pk}-{ctx.op.target_label}"[:63].rstrip("-")

    def wrapped_params(self, ctx: StepContext) -> dict[str, Any]:
        """The wrapped kind's parameters (as its form would have cleaned them)."""
        raise NotImplementedError

    def latest_snapshot(self, ctx: StepContext) -> dict[str, Any] | None:
        """The newest available snapshot of the target, as AWS describes it."""
        raise NotImplementedError

    def snapshot_target(self, ctx: StepContext) -> tuple[str, str] | None:
        """(identifier, ARN) the wrapped kind takes for its target, when it restores a
        snapshot (``None``: the drill's target)."""
        return None

    def restore_progress(self, ctx: StepContext) -> Done | Wait | Fail:
        """Done once the restored resource can be used; Fail: the restore failed (the
        cleanup follows)."""
        raise NotImplementedError

    def temp_status(self, ctx: StepContext) -> str | None:
        raise NotImplementedError

    def delete_temp(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        raise NotImplementedError

    # --- running the wrapped kind -----------------------------------------------------

    def wrapped(self, ctx: StepContext) -> type[Kind]:
        return self.wrapped_for[ctx.params.get("method") or "snapshot"]

    def as_wrapped(self, ctx: StepContext) -> _AsWrapped:
        return _AsWrapped(ctx, self.wrapped_params(ctx), target=self.snapshot_target(ctx))

    def run_wrapped(self, ctx: StepContext, step: str) -> Done | Wait | Fail:
        kind = self.wrapped(ctx)
        return kind().run(kind.step_named(step), self.as_wrapped(ctx))

    def check_wrapped(self, ctx: StepContext) -> None:
        """The wrapped kind's own fresh-describe checks (the name is free, the source
        can be restored, ...) against the temporary name; raises ``ValidationError``.
        What they learn (the engine, where the copy goes) lands in the drill's memory,
        where the kind's steps look for it."""
        target = self.target_model.objects.filter(arn=ctx.op.target_arn).first()
        if target is None:
            raise ValidationError(f"{ctx.op.target_label} is not in the mirror any more.")
        self.wrapped(ctx).check_live(target, self.wrapped_params(ctx), self.as_wrapped(ctx))

    # --- the failure carried to cleanup -----------------------------------------------

    def _carry(self, ctx: StepContext, reason: str) -> Done:
        """Remember a failure and go on to the cleanup (which fails the operation)."""
        ctx.memory["failure"] = reason
        ctx.checkpoint()
        ctx.log(f"{reason} — cleaning up before failing.", level="error")
        return Done()

    def _guarded(
        self, ctx: StepContext, body: Callable[[], Done | Wait | Fail]
    ) -> Done | Wait | Fail:
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

    # --- steps ------------------------------------------------------------------------

    def step_choose_source(self, ctx: StepContext) -> Done | Wait | Fail:
        run = run_for(ctx)
        run.drill_type = DrillType.RESTORE
        run.temp_identifier = self.temp_name(ctx)
        run.wrapped_kind = self.wrapped(ctx).name
        save_run(run, "drill_type", "temp_identifier", "wrapped_kind")
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
            ctx.memory["snapshot"] = snapshot.get("DBSnapshotIdentifier") or snapshot.get(
                "DBClusterSnapshotIdentifier"
            )
            ctx.memory["snapshot_arn"] = snapshot.get("DBSnapshotArn") or snapshot.get(
                "DBClusterSnapshotArn"
            )
        try:
            self.check_wrapped(ctx)
        except ValidationError as exc:
            reason = f"The restore cannot start: {' '.join(exc.messages)}"
            self._finish_run(ctx, RunStatus.FAILED, reason)
            return Fail(reason, "Nothing was created.")
        if method == "snapshot":
            return Done(f"Restoring snapshot {ctx.memory['snapshot']} into {run.temp_identifier}.")
        return Done(f"Restoring the latest restorable time into {run.temp_identifier}.")

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        # The clock starts at the first attempt (a re-run after a crash keeps it; the
        # wrapped kind's checkpoint saves it before its call).
        ctx.memory.setdefault("restore_started_at", timezone.now().isoformat())
        try:
            outcome = self.request_restore(ctx)
        except _RETRYABLE:
            raise
        except aws.AwsError as exc:
            # Nothing may exist yet, but AWS may have created it before refusing:
            # the cleanup step looks and deletes whatever is there.
            return self._carry(ctx, f"The restore was refused: {exc.code}: {exc.message}")
        if isinstance(outcome, Fail):
            # A resource of the temporary name that this drill did not create: it is
            # not the drill's to delete, so no cleanup.
            self._finish_run(ctx, RunStatus.FAILED, outcome.reason)
        return outcome

    def request_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        return self.run_wrapped(ctx, self.restore_step)

    def step_await_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            outcome = self.restore_progress(ctx)
            if isinstance(outcome, Fail):
                return self._carry(ctx, outcome.reason)
            if isinstance(outcome, Wait):
                return outcome
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
                if status not in DELETABLE:
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


def _newest_available(snapshots: list[dict[str, Any]]) -> dict[str, Any] | None:
    ready = [s for s in snapshots if s.get("Status") == "available"]
    if not ready:
        return None
    oldest = datetime.min.replace(tzinfo=UTC)
    return max(ready, key=lambda s: s.get("SnapshotCreateTime") or oldest)


# --- a DB instance ---------------------------------------------------------------------


class InstanceRestoreDrill(RestoreDrill):
    name = "instance_restore_drill"
    label = "Restore drill (instance)"
    description = "Restore the latest backup into a temporary instance, time it, delete it."
    target_model = DbInstance
    wrapped_for: ClassVar[dict[str, type[Kind]]] = {
        "snapshot": RestoreInstanceFromSnapshot,
        "pitr": RestoreInstanceToPointInTime,
    }
    restore_step = "restore"

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.cluster_id is None

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_instance(call, identifier)

    def wrapped_params(self, ctx: StepContext) -> dict[str, Any]:
        return {
            "instance_identifier": ctx.memory["temp"],
            "instance_class": ctx.params.get("instance_class") or "db.t3.micro",
            "restore_time": None,
        }

    def snapshot_target(self, ctx: StepContext) -> tuple[str, str] | None:
        if ctx.memory.get("snapshot"):
            return ctx.memory["snapshot"], ctx.memory.get("snapshot_arn") or ""
        return None

    def latest_snapshot(self, ctx: StepContext) -> dict[str, Any] | None:
        return _newest_available(
            ctx.call("describe_db_snapshots", DBInstanceIdentifier=ctx.op.target_label)[
                "DBSnapshots"
            ]
        )

    def restore_progress(self, ctx: StepContext) -> Done | Wait | Fail:
        try:
            return self.run_wrapped(ctx, "await_available")
        except aws.AwsNotFound:
            return Fail(f"The restored resource {ctx.memory['temp']} vanished.")

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_instance(ctx.call, ctx.memory["temp"])["DBInstanceStatus"]
        except aws.AwsNotFound:
            return None

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


# --- a cluster -------------------------------------------------------------------------


class ClusterRestoreDrill(RestoreDrill):
    """Restore a cluster snapshot (or the latest restorable time) into a temporary
    cluster with one instance — a cluster without an instance accepts no connections,
    so the RTO includes the instance — then delete both."""

    name = "cluster_restore_drill"
    label = "Restore drill (cluster)"
    description = "Restore the latest backup into a temporary cluster, time it, delete it."
    target_model = DbCluster
    form_class = ClusterRestoreDrillForm
    # Both methods end with restore_cluster_pitr's instance steps; for a snapshot the
    # drill asks for the restore itself (no kind restores a cluster snapshot).
    wrapped_for: ClassVar[dict[str, type[Kind]]] = {
        "snapshot": RestoreClusterToPointInTime,
        "pitr": RestoreClusterToPointInTime,
    }
    restore_step = "restore_clone"
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

    def temp_name(self, ctx: StepContext) -> str:
        # Room for the instance the restore kind adds, named after the cluster
        # ("<cluster>-instance-1"), within AWS's 63 characters.
        return super().temp_name(ctx)[:40].rstrip("-")

    def wrapped_params(self, ctx: StepContext) -> dict[str, Any]:
        return {
            "clone_identifier": ctx.memory["temp"],
            "instance_class": ctx.params.get("instance_class") or "db.t4g.medium",
            "restore_time": None,
        }

    def latest_snapshot(self, ctx: StepContext) -> dict[str, Any] | None:
        return _newest_available(
            ctx.call("describe_db_cluster_snapshots", DBClusterIdentifier=ctx.op.target_label)[
                "DBClusterSnapshots"
            ]
        )

    def check_wrapped(self, ctx: StepContext) -> None:
        if ctx.memory.get("snapshot"):
            # The snapshot is restored whatever state the source is in: only what the
            # instance step needs is read here.
            source = describe_cluster(ctx.call, ctx.op.target_label)
            ctx.memory["engine"] = source.get("Engine", "")
            ctx.memory["engine_version"] = source.get("EngineVersion", "")
            return
        super().check_wrapped(ctx)

    def request_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        if not ctx.memory.get("snapshot"):
            return super().request_restore(ctx)
        # As restore_cluster_pitr's request, from the snapshot: re-describe first, and
        # recognise the cluster a previous run got created by its tag.
        scoped = self.as_wrapped(ctx)
        name = ctx.memory["temp"]
        try:
            existing = describe_cluster(scoped.call, name)
        except aws.AwsNotFound:
            existing = None
        if existing is not None:
            tags = {t["Key"]: t["Value"] for t in existing.get("TagList", [])}
            if tags.get("estate:operation") != str(ctx.op.pk):
                return Fail(f"A cluster named {name} appeared that this operation did not create.")
            return Done("The restored cluster already exists: not asking again.")
        ctx.checkpoint(mutation=True)
        scoped.call(
            "restore_db_cluster_from_snapshot",
            DBClusterIdentifier=name,
            SnapshotIdentifier=ctx.memory["snapshot"],
            Engine=ctx.memory["engine"],
            Tags=[
                {"Key": "estate:restored-from", "Value": ctx.memory.get("snapshot_arn") or ""},
                {"Key": "estate:operation", "Value": str(ctx.op.pk)},
            ],
        )
        return Done(f"AWS is restoring {ctx.memory['snapshot']} into {name}.")

    def step_add_instance(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            status = self.temp_status(ctx)
            if status is None:
                return self._carry(ctx, f"The restored cluster {ctx.memory['temp']} vanished.")
            if status in RESTORE_FAILED:
                return self._carry(ctx, f"The restore failed: {ctx.memory['temp']} is {status}.")
            if status != "available":
                return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is {status}.")
            return self.run_wrapped(ctx, "create_instance")

        return self._guarded(ctx, body)

    def _members(self, ctx: StepContext) -> dict[str, str]:
        """The temporary cluster's instances (found by cluster, whatever their names)."""
        return members_status(ctx.call, {"DBClusterIdentifier": ctx.memory["temp"]})

    def restore_progress(self, ctx: StepContext) -> Done | Wait | Fail:
        status = self.temp_status(ctx)
        if status is None:
            return Fail(f"The restored resource {ctx.memory['temp']} vanished.")
        if status in RESTORE_FAILED:
            return Fail(f"The restore failed: {ctx.memory['temp']} is {status}.")
        members = self._members(ctx)
        failed = {k: v for k, v in members.items() if v in RESTORE_FAILED}
        if failed:
            return Fail(
                "The restored instance is "
                + ", ".join(f"{k} {v}" for k, v in sorted(failed.items()))
                + "."
            )
        busy = {k: v for k, v in members.items() if v != "available"}
        if status != "available" or busy or not members:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(busy.items()))
            return Wait(
                poll_interval(ctx.op),
                f"{ctx.memory['temp']} is {status}" + (f"; {detail}." if detail else "."),
            )
        return Done()

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_cluster(ctx.call, ctx.memory["temp"])["Status"]
        except aws.AwsNotFound:
            return None

    def step_cleanup(self, ctx: StepContext, *, cancelling: bool = False) -> Done | Wait | Fail:
        # The instances first (AWS refuses to delete a cluster that has any), one
        # request per run.
        members = self._members(ctx)
        asked = set(ctx.memory.get("instances_delete_requested", []))
        for member, status in sorted(members.items()):
            if status == "deleting" or member in asked:
                continue
            if status not in DELETABLE:
                return Wait(poll_interval(ctx.op), f"Waiting to delete {member} ({status}).")
            ctx.memory["instances_delete_requested"] = sorted(asked | {member})
            ctx.checkpoint(mutation=True)
            ctx.call("delete_db_instance", DBInstanceIdentifier=member, SkipFinalSnapshot=True)
            ctx.log(f"Deleting the temporary {member}.")
            return Wait(poll_interval(ctx.op), f"Deleting {member}.")
        if members:
            return Wait(poll_interval(ctx.op), f"Deleting {', '.join(sorted(members))}.")
        return super().step_cleanup(ctx, cancelling=cancelling)

    def delete_temp(self, ctx: StepContext) -> None:
        ctx.call(
            "delete_db_cluster", DBClusterIdentifier=ctx.memory["temp"], SkipFinalSnapshot=True
        )

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        live = describe_cluster(ctx.call, ctx.memory["temp"])
        return live.get("Endpoint", ""), int(live.get("Port") or 0)


KINDS = (InstanceRestoreDrill, ClusterRestoreDrill)
