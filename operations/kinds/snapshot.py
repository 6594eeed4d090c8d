"""Snapshot an instance or a cluster; copy a snapshot to another region."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate import aws
from estate.models import DbCluster, DbInstance, DbSnapshot
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
    ours_or_fail,
    poll_interval,
)
from operations.kinds.clone import valid_identifier


def _describe_snapshot(call: Any, scope: str, identifier: str) -> dict[str, Any] | None:
    try:
        if scope == "cluster":
            found = call("describe_db_cluster_snapshots", DBClusterSnapshotIdentifier=identifier)
            items = found.get("DBClusterSnapshots", [])
        else:
            found = call("describe_db_snapshots", DBSnapshotIdentifier=identifier)
            items = found.get("DBSnapshots", [])
    except aws.AwsNotFound:
        return None
    return items[0] if items else None


class SnapshotForm(KindForm):
    snapshot_identifier = forms.CharField(label="Snapshot name", max_length=255)

    def clean_snapshot_identifier(self) -> str:
        name = valid_identifier(self.cleaned_data["snapshot_identifier"].strip())
        taken = DbSnapshot.objects.live().filter(
            account=self.target.account, region=self.target.region, identifier=name
        )
        if taken.exists():
            raise ValidationError(
                f"A snapshot named {name} already exists in {self.target.region}."
            )
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.target.status != "available":
            raise ValidationError(
                f"{self.target.identifier} is {self.target.status}; it must be available."
            )
        return cleaned


class _Snapshot(Kind):
    form_class = SnapshotForm
    mutating = False  # the source is only read
    cannot_stop = "AWS cannot stop a snapshot once it has started"
    resync_kinds = ("snapshots",)
    scope: str
    steps = (
        Step("create", "Ask AWS to take the snapshot", mutating=True),
        Step("await_available", "Wait for the snapshot", settles=True, budget_seconds=7200),
    )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        if _describe_snapshot(ctx.call, cls.scope, params["snapshot_identifier"]) is not None:
            raise ValidationError(
                f"A snapshot named {params['snapshot_identifier']} already exists in AWS."
            )

    def step_create(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["snapshot_identifier"]
        existing = _describe_snapshot(ctx.call, self.scope, name)
        if existing is not None:
            return ours_or_fail(ctx, existing, "snapshot", name)
        ctx.checkpoint(mutation=True)
        if self.scope == "cluster":
            ctx.call(
                "create_db_cluster_snapshot",
                DBClusterSnapshotIdentifier=name,
                DBClusterIdentifier=ctx.op.target_label,
                Tags=creation_tags(ctx.op),
            )
        else:
            ctx.call(
                "create_db_snapshot",
                DBSnapshotIdentifier=name,
                DBInstanceIdentifier=ctx.op.target_label,
                Tags=creation_tags(ctx.op),
            )
        return Done(f"AWS is taking snapshot {name}.")

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        snapshot = _describe_snapshot(ctx.call, self.scope, ctx.params["snapshot_identifier"])
        if snapshot is None:
            return Fail("The snapshot disappeared while being created.")
        status = snapshot.get("Status")
        if status != "available":
            progress = snapshot.get("PercentProgress")
            return Wait(poll_interval(ctx.op), f"Snapshot is {status}.", progress=progress)
        arn = snapshot.get("DBClusterSnapshotArn") or snapshot.get("DBSnapshotArn")
        return Done("The snapshot is available.", result={"snapshot_arn": arn})


class SnapshotInstance(_Snapshot):
    name = "snapshot_instance"
    label = "Snapshot instance"
    description = "A manual snapshot of this DB instance."
    target_model = DbInstance
    scope = "instance"

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.cluster_id is None
            and resource.status == "available"
        )


class SnapshotCluster(_Snapshot):
    name = "snapshot_cluster"
    label = "Snapshot cluster"
    description = "A manual snapshot of this DB cluster."
    target_model = DbCluster
    scope = "cluster"

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.status == "available"


class CopySnapshotForm(KindForm):
    target_region = forms.ChoiceField(label="Copy to region")
    copy_identifier = forms.CharField(label="Copy name", max_length=255)
    kms_key_id = forms.CharField(
        required=False,
        label="KMS key in the target region",
        help_text="Required for an encrypted snapshot copied to another region.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        snapshot: DbSnapshot = self.target
        self.fields["target_region"].choices = [(r, r) for r in snapshot.account.regions or []]

    def clean_copy_identifier(self) -> str:
        return valid_identifier(self.cleaned_data["copy_identifier"].strip())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        snapshot: DbSnapshot = self.target
        if snapshot.status != "available":
            raise ValidationError(
                f"{snapshot.identifier} is {snapshot.status}; it must be available."
            )
        region = cleaned.get("target_region")
        if (
            snapshot.encrypted
            and region
            and region != snapshot.region
            and not cleaned.get("kms_key_id")
        ):
            self.add_error(
                "kms_key_id", "Choose a KMS key in the target region for an encrypted copy."
            )
        name = cleaned.get("copy_identifier")
        if (
            name
            and region
            and DbSnapshot.objects.live()
            .filter(account=snapshot.account, region=region, identifier=name)
            .exists()
        ):
            self.add_error(
                "copy_identifier", f"A snapshot named {name} already exists in {region}."
            )
        return cleaned


class CopySnapshot(Kind):
    name = "copy_snapshot"
    label = "Copy snapshot"
    description = "Copy this snapshot, e.g. to another region."
    target_model = DbSnapshot
    form_class = CopySnapshotForm
    mutating = False
    cannot_stop = "AWS cannot stop a snapshot copy once it has started"
    resync_kinds = ("snapshots",)
    steps = (
        Step("copy", "Ask AWS to copy the snapshot", mutating=True),
        Step("await_available", "Wait for the copy", settles=True, budget_seconds=14400),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.status == "available"

    def resync_regions(self, op: Any) -> list[str]:
        return list(dict.fromkeys([op.region, op.params.get("target_region") or op.region]))

    def _scope(self, ctx: StepContext) -> str:
        return "cluster" if ":cluster-snapshot:" in ctx.op.target_arn else "instance"

    def _call_in_target(self, ctx: StepContext) -> Any:
        return lambda op, **kw: ctx.call(op, region=ctx.params["target_region"], **kw)

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        scope = "cluster" if ":cluster-snapshot:" in target.arn else "instance"
        call = lambda op, **kw: ctx.call(op, region=params["target_region"], **kw)  # noqa: E731
        if _describe_snapshot(call, scope, params["copy_identifier"]) is not None:
            raise ValidationError(
                f"A snapshot named {params['copy_identifier']} already exists in "
                f"{params['target_region']}."
            )

    def step_copy(self, ctx: StepContext) -> Done | Wait | Fail:
        scope, name = self._scope(ctx), ctx.params["copy_identifier"]
        call = self._call_in_target(ctx)
        existing = _describe_snapshot(call, scope, name)
        if existing is not None:
            return ours_or_fail(ctx, existing, "snapshot copy", name)
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {"Tags": creation_tags(ctx.op)}
        if ctx.params["target_region"] != ctx.op.region:
            kwargs["SourceRegion"] = ctx.op.region
        if ctx.params.get("kms_key_id"):
            kwargs["KmsKeyId"] = ctx.params["kms_key_id"]
        if scope == "cluster":
            call(
                "copy_db_cluster_snapshot",
                SourceDBClusterSnapshotIdentifier=ctx.op.target_arn,
                TargetDBClusterSnapshotIdentifier=name,
                **kwargs,
            )
        else:
            call(
                "copy_db_snapshot",
                SourceDBSnapshotIdentifier=ctx.op.target_arn,
                TargetDBSnapshotIdentifier=name,
                **kwargs,
            )
        return Done(f"AWS is copying to {ctx.params['target_region']}.")

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        snapshot = _describe_snapshot(
            self._call_in_target(ctx), self._scope(ctx), ctx.params["copy_identifier"]
        )
        if snapshot is None:
            return Fail("The copy disappeared while being made.")
        if snapshot.get("Status") != "available":
            return Wait(
                poll_interval(ctx.op),
                f"Copy is {snapshot.get('Status')}.",
                progress=snapshot.get("PercentProgress"),
            )
        arn = snapshot.get("DBClusterSnapshotArn") or snapshot.get("DBSnapshotArn")
        return Done("The copy is available.", result={"copy_arn": arn})


KINDS = (SnapshotInstance, SnapshotCluster, CopySnapshot)
