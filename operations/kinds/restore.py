"""Restore into a new resource: a cluster or a DB instance to a point in time inside its
restorable window, or an instance from a snapshot. Verified available afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import lazy

from estate import aws
from estate.models import DbInstance, DbSnapshot
from estate.when import WhenField
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    creation_tags,
    describe_cluster,
    describe_instance,
    ours_or_fail,
    parse_time,
    poll_interval,
)
from operations.kinds.clone import INSTANCE_CLASSES, CloneCluster, CloneForm, valid_identifier

# Statuses of a restored DB instance or cluster that mean the restore failed: it will
# not become available (AWS's DB instance status table).
RESTORE_FAILED = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "inaccessible-encryption-credentials",
    }
)
# Statuses in which AWS accepts the deletion of a restored resource.
DELETABLE = RESTORE_FAILED | {"available", "storage-full", "stopped"}


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "unknown"


def _aware(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else timezone.make_aware(value, timezone.get_default_timezone())


class PitrForm(CloneForm):
    """The cluster PITR form. The restore time is checked against AWS's window of now in
    ``check_live``, never against the mirror's: sync rewrites the mirrored latest
    restorable time only past ``SYNC_TIME_DRIFT_SECONDS``, so it may be minutes behind
    the time an operator needs in an incident (and the earliest moves too)."""

    restore_time = WhenField(
        required=False,
        label="Restore to (UTC)",
        help_text="Empty: the latest restorable time.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clone_identifier"].label = "New cluster name"
        self.fields["deletion_protection"].help_text = (
            "Off by default (AWS's default for a restored cluster): turn it on if the new "
            "cluster is to stay."
        )
        for name in ("expires_at", "final_snapshot_on_expiry"):
            self.fields.pop(name)
        cluster = self.target
        self.fields["restore_time"].help_text = live_window_help(
            self,
            lambda ctx: _cluster_live_window(ctx, cluster.identifier),
            (cluster.earliest_restorable_time, cluster.latest_restorable_time),
        )

    def clean(self) -> dict[str, Any]:
        # The clone's checks (Aurora, available) apply; copy-on-write does not.
        return super().clean()


Window = tuple[datetime | None, datetime | None]


def _window_text(window: Window) -> str:
    return f"{_fmt(window[0])} to {_fmt(window[1])}"


def live_window_help(form: Any, read: Callable[[LiveContext], Window], mirrored: Window) -> str:
    """The restore time's help text: AWS's restorable window of now, read when an empty
    form is rendered (a form about to act may describe its target; built lazily so
    that listing a kind's fields costs no AWS call). A submitted form, valid or not,
    says the mirrored window (validating must cost no call: Django's BoundField reads
    the help text; ``check_live`` judges the time against AWS's window anyway). If AWS
    cannot be asked, the mirrored window, said to be the mirror's."""
    if form.is_bound:
        return (
            f"Window as last mirrored: {_window_text(mirrored)}; the time is checked "
            "against AWS's window when you submit. Empty: the latest restorable time."
        )
    target = form.target
    answer: list[str] = []

    def text() -> str:
        if not answer:
            try:
                window = read(LiveContext(target.account, target.region))
            except aws.AwsError as exc:
                answer.append(
                    f"Window as last mirrored: {_window_text(mirrored)} (AWS could not be "
                    f"asked now: {exc.code}); the time is checked against AWS's window when "
                    "you submit. Empty: the latest restorable time."
                )
            else:
                answer.append(
                    f"Window in AWS now: {_window_text(window)}. Empty: the latest restorable time."
                )
        return answer[0]

    return lazy(text, str)()  # type: ignore[return-value]


def _cluster_live_window(ctx: LiveContext, identifier: str) -> Window:
    cluster = describe_cluster(ctx.call, identifier)
    return _aware(cluster.get("EarliestRestorableTime")), _aware(
        cluster.get("LatestRestorableTime")
    )


class RestoreClusterToPointInTime(CloneCluster):
    name = "restore_cluster_pitr"
    label = "Restore cluster to a point in time"
    description = "A new cluster with the data as it was at a chosen time."
    form_class = PitrForm
    cannot_stop = "AWS cannot stop a restore once it has started"
    steps = (
        Step("restore_clone", "Ask AWS to restore into a new cluster", mutating=True),
        Step("await_cluster", "Wait for the new cluster", settles=True, budget_seconds=14400),
        Step("create_instance", "Create the new cluster's instance", mutating=True),
        Step(
            "remove_partial",
            "Remove the new cluster if AWS refused its instance",
            mutating=True,
            settles=True,
        ),
        Step("await_instance", "Wait for the instance", settles=True, budget_seconds=3600),
    )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        super().check_live(target, params, ctx)
        when = parse_time(params.get("restore_time"))
        if when is None:
            return
        # Both ends from AWS now: the mirror's may be up to SYNC_TIME_DRIFT_SECONDS old.
        earliest, latest = _cluster_live_window(ctx, target.identifier)
        if _outside(when, earliest, latest):
            raise ValidationError(
                f"{_fmt(when)} is outside the restorable window in AWS ({_fmt(earliest)} to "
                f"{_fmt(latest)})."
            )

    def step_restore_clone(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["clone_identifier"]
        try:
            existing = describe_cluster(ctx.call, name)
        except aws.AwsNotFound:
            existing = None
        if existing is not None:
            return ours_or_fail(ctx, existing, "cluster", name)
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {
            "DBClusterIdentifier": name,
            "SourceDBClusterIdentifier": ctx.op.target_label,
            "Tags": creation_tags(ctx.op, **{"estate:restored-from": ctx.op.target_arn}),
            # Explicit, as asked in the form (AWS's default is off).
            "DeletionProtection": bool(ctx.params.get("deletion_protection")),
        }
        when = parse_time(ctx.params.get("restore_time"))
        if when is None:
            kwargs["UseLatestRestorableTime"] = True
        else:
            kwargs["RestoreToTime"] = when
        ctx.call("restore_db_cluster_to_point_in_time", **kwargs)
        return Done(f"AWS is restoring into {name}.")


class NewInstanceForm(KindForm):
    """A new DB instance's name (free in the target's account and region, as mirrored)
    and class."""

    instance_identifier = forms.CharField(label="New instance name", max_length=63)
    instance_class = forms.CharField(required=False, max_length=64)

    def clean_instance_identifier(self) -> str:
        name = valid_identifier(self.cleaned_data["instance_identifier"].strip())
        target = self.target
        if (
            DbInstance.objects.live()
            .filter(account=target.account, region=target.region, identifier=name)
            .exists()
        ):
            raise ValidationError(f"An instance named {name} already exists in {target.region}.")
        return name


def _check_name_free(ctx: LiveContext, name: str) -> None:
    try:
        describe_instance(ctx.call, name)
    except aws.AwsNotFound:
        return
    raise ValidationError(f"An instance named {name} already exists in AWS.")


def _restore_steps(request_label: str) -> tuple[Step, ...]:
    return (
        Step("restore", request_label, mutating=True),
        Step("await_available", "Wait for the new instance", settles=True, budget_seconds=14400),
    )


class _RestoreIntoNewInstance(Kind):
    """A restore into a new DB instance: one request (skipped when a previous run's
    request got through), then the wait until the instance is available."""

    # Reads its target only: another operation may run on it meanwhile.
    mutating = False
    cannot_stop = "AWS cannot stop a restore once it has started"
    resync_kinds = ("instances",)

    def _tags(self, ctx: StepContext) -> list[dict[str, str]]:
        return creation_tags(ctx.op, **{"estate:restored-from": ctx.op.target_arn})

    def _request(self, ctx: StepContext) -> Done | Fail | None:
        """Re-describe the new name: ``None`` when the restore is still to be asked for
        (then checkpointed), or the outcome when a previous run asked already."""
        try:
            existing = describe_instance(ctx.call, ctx.params["instance_identifier"])
        except aws.AwsNotFound:
            ctx.checkpoint(mutation=True)
            return None
        return ours_or_fail(ctx, existing, "DB instance", existing["DBInstanceIdentifier"])

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = describe_instance(ctx.call, ctx.params["instance_identifier"])
        if instance["DBInstanceStatus"] in RESTORE_FAILED:
            return Fail(
                f"The restore failed: {instance['DBInstanceIdentifier']} is "
                f"{instance['DBInstanceStatus']}.",
                "AWS will not make it available: delete it, then restore again (check the "
                "parameter group and the KMS key the copy needs).",
            )
        if instance["DBInstanceStatus"] != "available":
            return Wait(poll_interval(ctx.op), f"Instance is {instance['DBInstanceStatus']}.")
        return Done(
            f"{instance['DBInstanceIdentifier']} is available.",
            result={"instance_arn": instance["DBInstanceArn"]},
        )


class RestoreFromSnapshotForm(NewInstanceForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instance_class"].help_text = "Empty: as the snapshot's."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        snapshot: DbSnapshot = self.target
        if snapshot.scope != DbSnapshot.Scope.INSTANCE:
            raise ValidationError(
                "This restores instance snapshots; restore a cluster snapshot as a cluster."
            )
        if snapshot.status != "available":
            raise ValidationError(
                f"{snapshot.identifier} is {snapshot.status}; it must be available."
            )
        return cleaned


class RestoreInstanceFromSnapshot(_RestoreIntoNewInstance):
    name = "restore_instance_snapshot"
    label = "Restore instance from snapshot"
    description = "A new DB instance from this snapshot."
    target_model = DbSnapshot
    form_class = RestoreFromSnapshotForm
    steps = _restore_steps("Ask AWS to restore the snapshot")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.scope == DbSnapshot.Scope.INSTANCE
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        _check_name_free(ctx, params["instance_identifier"])

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["instance_identifier"]
        done = self._request(ctx)
        if done is not None:
            return done
        kwargs: dict[str, Any] = {
            "DBInstanceIdentifier": name,
            "DBSnapshotIdentifier": ctx.op.target_label,
            "Tags": self._tags(ctx),
        }
        if ctx.params.get("instance_class"):
            kwargs["DBInstanceClass"] = ctx.params["instance_class"]
        ctx.call("restore_db_instance_from_db_snapshot", **kwargs)
        return Done(f"AWS is restoring {name}.")


# --- a DB instance to a point in time -------------------------------------------------


def instance_window(instance: DbInstance) -> tuple[datetime | None, datetime | None]:
    """The restorable window as mirrored: AWS keeps ``retention`` days of automated
    backups (never before the instance was created) up to the latest restorable time."""
    latest = instance.latest_restorable_time
    days = instance.backup_retention_period or 0
    if not days or latest is None:
        return None, latest
    earliest = timezone.now() - timedelta(days=days)
    if instance.created_time and instance.created_time > earliest:
        earliest = instance.created_time
    return earliest, latest


def _live_window(ctx: LiveContext, identifier: str) -> tuple[datetime | None, datetime | None]:
    """AWS's window: the automated backup's RestoreWindow (DescribeDBInstances has only
    the latest restorable time)."""
    backups = ctx.call(
        "describe_db_instance_automated_backups", DBInstanceIdentifier=identifier
    ).get("DBInstanceAutomatedBackups", [])
    active = [b for b in backups if b.get("Status") == "active"] or backups
    if not active:
        return None, None
    window = active[0].get("RestoreWindow") or {}
    return _aware(window.get("EarliestTime")), _aware(window.get("LatestTime"))


def _earliest_by_retention(source: dict[str, Any]) -> datetime | None:
    """Where AWS reports no RestoreWindow: retention days back from now, never before
    the instance was created (AWS keeps no older backups)."""
    days = source.get("BackupRetentionPeriod") or 0
    if not days:
        return None
    earliest = timezone.now() - timedelta(days=days)
    created = _aware(source.get("InstanceCreateTime"))
    return max(earliest, created) if created else earliest


def _instance_live_window(ctx: LiveContext, identifier: str) -> Window:
    """The window in AWS now, as ``check_live`` judges it."""
    source = describe_instance(ctx.call, identifier)
    earliest, latest = _live_window(ctx, identifier)
    return (
        earliest or _earliest_by_retention(source),
        latest or _aware(source.get("LatestRestorableTime")),
    )


def _outside(when: datetime, earliest: datetime | None, latest: datetime | None) -> bool:
    # AWS restores to the second: compare at that precision.
    when = when.replace(microsecond=0)
    return bool(
        (earliest and when < earliest.replace(microsecond=0))
        or (latest and when > latest.replace(microsecond=0))
    )


class InstancePitrForm(NewInstanceForm):
    """The instance PITR form; as ``PitrForm``, the restore time is checked against
    AWS's window in ``check_live`` (the mirror's latest restorable time lags)."""

    restore_time = WhenField(required=False, label="Restore to (UTC)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance: DbInstance = self.target
        self.fields[
            "instance_class"
        ].help_text = f"Empty: as the source's ({instance.instance_class or 'unknown'})."
        self.fields["restore_time"].help_text = live_window_help(
            self,
            lambda ctx: _instance_live_window(ctx, instance.identifier),
            instance_window(instance),
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance: DbInstance = self.target
        if instance.cluster_id or instance.engine.startswith("aurora"):
            raise ValidationError(
                f"{instance.identifier} belongs to an Aurora cluster: restore the cluster to "
                "a point in time instead."
            )
        if not instance.backup_retention_period:
            raise ValidationError(
                f"{instance.identifier} has automated backups turned off (retention 0 days): "
                "there is no point in time to restore to."
            )
        return cleaned


class RestoreInstanceToPointInTime(_RestoreIntoNewInstance):
    name = "restore_instance_pitr"
    label = "Restore instance to a point in time"
    description = (
        "A new DB instance with the data as it was at a chosen time, beside its source "
        "(same subnet group, security groups and parameter group)."
    )
    target_model = DbInstance
    form_class = InstancePitrForm
    steps = _restore_steps("Ask AWS to restore into a new instance")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.cluster_id is None
            and not resource.engine.startswith("aurora")
            and bool(resource.backup_retention_period)
            and resource.latest_restorable_time is not None
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        source = describe_instance(ctx.call, target.identifier)
        if source.get("DBClusterIdentifier"):
            raise ValidationError(
                f"{target.identifier} is a member of {source['DBClusterIdentifier']} in AWS: "
                "restore the cluster to a point in time instead."
            )
        if not source.get("BackupRetentionPeriod"):
            raise ValidationError(
                f"{target.identifier} has automated backups turned off in AWS right now: "
                "there is no point in time to restore to."
            )
        _check_name_free(ctx, params["instance_identifier"])
        when = parse_time(params.get("restore_time"))
        earliest, latest = _live_window(ctx, target.identifier)
        latest = latest or _aware(source.get("LatestRestorableTime"))
        if earliest is None and when is not None:
            earliest = _earliest_by_retention(source)
        if when is not None and _outside(when, earliest, latest):
            raise ValidationError(
                f"{_fmt(when)} is outside the restorable window in AWS ({_fmt(earliest)} to "
                f"{_fmt(latest)})."
            )
        # Where the copy goes: beside its source (without these, AWS would put it in the
        # default VPC with the default security group and parameter group).
        placement: dict[str, Any] = {}
        subnet_group = (source.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
        if subnet_group:
            placement["DBSubnetGroupName"] = subnet_group
        groups = [
            g["VpcSecurityGroupId"]
            for g in source.get("VpcSecurityGroups", [])
            if g.get("Status", "active") == "active"
        ]
        if groups:
            placement["VpcSecurityGroupIds"] = groups
        parameter_groups = source.get("DBParameterGroups") or []
        if parameter_groups:
            placement["DBParameterGroupName"] = parameter_groups[0]["DBParameterGroupName"]
        ctx.memory["placement"] = placement
        ctx.memory["latest_at_request"] = latest.isoformat() if latest else None

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["instance_identifier"]
        done = self._request(ctx)
        if done is not None:
            return done
        kwargs: dict[str, Any] = {
            "SourceDBInstanceIdentifier": ctx.op.target_label,
            "TargetDBInstanceIdentifier": name,
            "Tags": self._tags(ctx),
            **ctx.memory.get("placement", {}),
        }
        if ctx.params.get("instance_class"):
            kwargs["DBInstanceClass"] = ctx.params["instance_class"]
        when = parse_time(ctx.params.get("restore_time"))
        if when is None:
            kwargs["UseLatestRestorableTime"] = True
            target_time = (
                f"the latest restorable time (about {ctx.memory.get('latest_at_request')})"
            )
        else:
            kwargs["RestoreTime"] = when
            target_time = when.isoformat()
        ctx.call("restore_db_instance_to_point_in_time", **kwargs)
        ctx.result["restored_to"] = target_time
        placement = ctx.memory.get("placement", {})
        beside = ", ".join(
            f"{label} {', '.join(value) if isinstance(value, list) else value}"
            for label, value in (
                ("subnet group", placement.get("DBSubnetGroupName")),
                ("security groups", placement.get("VpcSecurityGroupIds")),
                ("parameter group", placement.get("DBParameterGroupName")),
            )
            if value
        )
        return Done(
            f"AWS is restoring {ctx.op.target_label} as of {target_time} into {name}"
            + (f" ({beside}, as the source)." if beside else ".")
        )


KINDS = (RestoreClusterToPointInTime, RestoreInstanceFromSnapshot, RestoreInstanceToPointInTime)
__all__ = ["DELETABLE", "INSTANCE_CLASSES", "KINDS", "RESTORE_FAILED"]
