"""Restore into a new resource: a cluster to a point in time inside its restorable
window, or an instance from a snapshot. Verified available afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate import aws
from estate.models import DbInstance, DbSnapshot
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
    parse_time,
    poll_interval,
)
from operations.kinds.clone import INSTANCE_CLASSES, CloneCluster, CloneForm, valid_identifier


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "unknown"


def _aware(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else timezone.make_aware(value, timezone.get_default_timezone())


class PitrForm(CloneForm):
    restore_time = forms.DateTimeField(
        required=False,
        label="Restore to (UTC)",
        help_text="Empty: the latest restorable time.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clone_identifier"].label = "New cluster name"
        for name in ("expires_at", "final_snapshot_on_expiry"):
            self.fields.pop(name)
        cluster = self.target
        self.fields["restore_time"].help_text = (
            f"Window: {_fmt(cluster.earliest_restorable_time)} to "
            f"{_fmt(cluster.latest_restorable_time)}. Empty: the latest restorable time."
        )

    def clean_restore_time(self) -> datetime | None:
        when = self.cleaned_data.get("restore_time")
        if when is None:
            return None
        cluster = self.target
        earliest, latest = cluster.earliest_restorable_time, cluster.latest_restorable_time
        if (earliest and when < earliest) or (latest and when > latest):
            raise ValidationError(
                f"{_fmt(when)} is outside the restorable window ({_fmt(earliest)} to "
                f"{_fmt(latest)}). Choose a time inside it."
            )
        return when

    def clean(self) -> dict[str, Any]:
        # The clone's checks (Aurora, available) apply; copy-on-write does not.
        return super().clean()


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
        Step("await_instance", "Wait for the instance", settles=True, budget_seconds=3600),
    )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        super().check_live(target, params, ctx)
        when = parse_time(params.get("restore_time"))
        if when is None:
            return
        cluster = describe_cluster(ctx.call, target.identifier)
        earliest = _aware(cluster.get("EarliestRestorableTime"))
        latest = _aware(cluster.get("LatestRestorableTime"))
        # AWS restores to the second: compare at that precision.
        when = when.replace(microsecond=0)
        if (earliest and when < earliest.replace(microsecond=0)) or (
            latest and when > latest.replace(microsecond=0)
        ):
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
            tags = {t["Key"]: t["Value"] for t in existing.get("TagList", [])}
            if tags.get("estate:operation") != str(ctx.op.pk):
                return Fail(f"A cluster named {name} appeared that this operation did not create.")
            return Done("The restored cluster already exists: not asking again.")
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {
            "DBClusterIdentifier": name,
            "SourceDBClusterIdentifier": ctx.op.target_label,
            "Tags": [
                {"Key": "estate:restored-from", "Value": ctx.op.target_arn},
                {"Key": "estate:operation", "Value": str(ctx.op.pk)},
            ],
        }
        when = parse_time(ctx.params.get("restore_time"))
        if when is None:
            kwargs["UseLatestRestorableTime"] = True
        else:
            kwargs["RestoreToTime"] = when
        ctx.call("restore_db_cluster_to_point_in_time", **kwargs)
        return Done(f"AWS is restoring into {name}.")


class RestoreFromSnapshotForm(KindForm):
    instance_identifier = forms.CharField(label="New instance name", max_length=63)
    instance_class = forms.CharField(
        required=False, max_length=64, help_text="Empty: as the snapshot's."
    )

    def clean_instance_identifier(self) -> str:
        name = valid_identifier(self.cleaned_data["instance_identifier"].strip())
        snapshot: DbSnapshot = self.target
        if (
            DbInstance.objects.live()
            .filter(account=snapshot.account, region=snapshot.region, identifier=name)
            .exists()
        ):
            raise ValidationError(f"An instance named {name} already exists in {snapshot.region}.")
        return name

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


class RestoreInstanceFromSnapshot(Kind):
    name = "restore_instance_snapshot"
    label = "Restore instance from snapshot"
    description = "A new DB instance from this snapshot."
    target_model = DbSnapshot
    form_class = RestoreFromSnapshotForm
    mutating = False
    cannot_stop = "AWS cannot stop a restore once it has started"
    resync_kinds = ("instances",)
    steps = (
        Step("restore", "Ask AWS to restore the snapshot", mutating=True),
        Step("await_available", "Wait for the new instance", settles=True, budget_seconds=14400),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.scope == DbSnapshot.Scope.INSTANCE
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        try:
            describe_instance(ctx.call, params["instance_identifier"])
        except aws.AwsNotFound:
            return
        raise ValidationError(
            f"An instance named {params['instance_identifier']} already exists in AWS."
        )

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["instance_identifier"]
        try:
            describe_instance(ctx.call, name)
        except aws.AwsNotFound:
            pass
        else:
            return Done(f"{name} already exists (requested before a restart): not asking again.")
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {
            "DBInstanceIdentifier": name,
            "DBSnapshotIdentifier": ctx.op.target_label,
        }
        if ctx.params.get("instance_class"):
            kwargs["DBInstanceClass"] = ctx.params["instance_class"]
        ctx.call("restore_db_instance_from_db_snapshot", **kwargs)
        return Done(f"AWS is restoring {name}.")

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = describe_instance(ctx.call, ctx.params["instance_identifier"])
        if instance["DBInstanceStatus"] != "available":
            return Wait(poll_interval(ctx.op), f"Instance is {instance['DBInstanceStatus']}.")
        return Done(
            f"{instance['DBInstanceIdentifier']} is available.",
            result={"instance_arn": instance["DBInstanceArn"]},
        )


KINDS = (RestoreClusterToPointInTime, RestoreInstanceFromSnapshot)
__all__ = ["INSTANCE_CLASSES", "KINDS"]
