"""Clone a cluster (copy-on-write, same region), and delete an expired clone.

A clone is ``RestoreDBClusterToPointInTime`` with ``RestoreType=copy-on-write`` and the
latest restorable time, then one instance in it. Lineage is recorded in the result and
as tags on the clone (``estate:clone-source``, ``estate:operation``,
``estate:expires-at``); a clone with an expiry is deleted by a scheduled
``delete_clone`` operation (``services.expire_clones``), with a final snapshot if asked.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate import aws
from estate.models import DbCluster
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
    poll_interval,
)

IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")
INSTANCE_CLASSES = (
    "db.t4g.medium",
    "db.t3.medium",
    "db.r6g.large",
    "db.r6g.xlarge",
    "db.r7g.large",
    "db.r7g.xlarge",
    "db.serverless",
)


def valid_identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValidationError(
            "Use 1-63 letters, digits or hyphens, starting with a letter, without two "
            "consecutive hyphens or a trailing hyphen."
        )
    return value.lower()


class CloneForm(KindForm):
    clone_identifier = forms.CharField(label="Clone name", max_length=63)
    instance_class = forms.ChoiceField(choices=[(c, c) for c in INSTANCE_CLASSES])
    expires_at = forms.DateTimeField(
        required=False,
        label="Delete automatically at (UTC)",
        help_text="Optional. An expired clone is deleted by a scheduled operation.",
    )
    final_snapshot_on_expiry = forms.BooleanField(
        required=False, label="Take a final snapshot when it expires"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        writer = self.target.instances.filter(is_cluster_writer=True).first()
        if writer is not None and writer.instance_class in INSTANCE_CLASSES:
            self.fields["instance_class"].initial = writer.instance_class

    def clean_clone_identifier(self) -> str:
        name = valid_identifier(self.cleaned_data["clone_identifier"].strip())
        cluster: DbCluster = self.target
        taken = DbCluster.objects.live().filter(
            account=cluster.account, region=cluster.region, identifier=name
        )
        if taken.exists():
            raise ValidationError(f"A cluster named {name} already exists in {cluster.region}.")
        return name

    def clean_expires_at(self) -> Any:
        when = self.cleaned_data.get("expires_at")
        if when is not None and when <= timezone.now():
            raise ValidationError("The expiry must be in the future.")
        return when

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if not cluster.is_aurora:
            raise ValidationError("Only Aurora clusters can be cloned (copy-on-write).")
        if cluster.status != "available":
            raise ValidationError(
                f"{cluster.identifier} is {cluster.status}; it must be available."
            )
        return cleaned


class CloneCluster(Kind):
    name = "clone_cluster"
    label = "Clone cluster"
    description = "Copy-on-write clone in the same region, with an optional expiry."
    target_model = DbCluster
    form_class = CloneForm
    mutating = False  # creates a new resource; the source is only read
    cannot_stop = "AWS cannot stop a clone that is being created"
    resync_kinds = ("clusters", "instances")
    steps = (
        Step("restore_clone", "Create the copy-on-write clone", mutating=True),
        Step("await_cluster", "Wait for the clone cluster", settles=True, budget_seconds=3600),
        Step("create_instance", "Create the clone's instance", mutating=True),
        Step("await_instance", "Wait for the clone's instance", settles=True, budget_seconds=3600),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource) and resource.is_aurora and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        if cluster["Status"] != "available":
            raise ValidationError(f"{target.identifier} is {cluster['Status']} in AWS right now.")
        name = params["clone_identifier"]
        try:
            describe_cluster(ctx.call, name)
        except aws.AwsNotFound:
            pass
        else:
            raise ValidationError(
                f"A cluster named {name} already exists in AWS. Choose another name."
            )
        ctx.memory["engine"] = cluster["Engine"]
        ctx.memory["engine_version"] = cluster.get("EngineVersion", "")

    def _instance_id(self, ctx: StepContext) -> str:
        return f"{ctx.params['clone_identifier']}-instance-1"

    def step_restore_clone(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["clone_identifier"]
        try:
            existing = describe_cluster(ctx.call, name)
        except aws.AwsNotFound:
            existing = None
        if existing is not None:
            return ours_or_fail(ctx, existing, "cluster", name)
        ctx.checkpoint(mutation=True)
        lineage = {"estate:clone-source": ctx.op.target_arn}
        if ctx.params.get("expires_at"):
            lineage["estate:expires-at"] = ctx.params["expires_at"]
        tags = creation_tags(ctx.op, **lineage)
        ctx.call(
            "restore_db_cluster_to_point_in_time",
            DBClusterIdentifier=name,
            SourceDBClusterIdentifier=ctx.op.target_label,
            RestoreType="copy-on-write",
            UseLatestRestorableTime=True,
            Tags=tags,
        )
        return Done(f"AWS is creating clone {name}.")

    def step_await_cluster(self, ctx: StepContext) -> Done | Wait | Fail:
        cluster = describe_cluster(ctx.call, ctx.params["clone_identifier"])
        if cluster["Status"] != "available":
            return Wait(poll_interval(ctx.op), f"Clone cluster is {cluster['Status']}.")
        ctx.memory["clone_arn"] = cluster["DBClusterArn"]
        return Done(
            "Clone cluster available.",
            result={
                "clone_arn": cluster["DBClusterArn"],
                "clone_identifier": cluster["DBClusterIdentifier"],
                "clone_group_id": cluster.get("CloneGroupId") or "",
                "source_arn": ctx.op.target_arn,
            },
        )

    def step_create_instance(self, ctx: StepContext) -> Done | Wait | Fail:
        instance_id = self._instance_id(ctx)
        try:
            existing = describe_instance(ctx.call, instance_id)
        except aws.AwsNotFound:
            existing = None
        if existing is not None:
            return ours_or_fail(ctx, existing, "DB instance", instance_id)
        ctx.checkpoint(mutation=True)
        ctx.call(
            "create_db_instance",
            DBInstanceIdentifier=instance_id,
            DBClusterIdentifier=ctx.params["clone_identifier"],
            DBInstanceClass=ctx.params["instance_class"],
            Engine=ctx.memory.get("engine", "aurora-postgresql"),
            Tags=creation_tags(ctx.op),
        )
        return Done(f"AWS is creating {instance_id}.")

    def step_await_instance(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = describe_instance(ctx.call, self._instance_id(ctx))
        if instance["DBInstanceStatus"] != "available":
            return Wait(poll_interval(ctx.op), f"Instance is {instance['DBInstanceStatus']}.")
        result = {"instance": instance["DBInstanceIdentifier"]}
        if ctx.params.get("expires_at"):
            result["expires_at"] = ctx.params["expires_at"]
        return Done("The clone is ready.", result=result)


class DeleteCloneForm(KindForm):
    final_snapshot = forms.BooleanField(required=False, label="Take a final snapshot")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if not _is_estate_clone(cluster):
            raise ValidationError(f"{cluster.identifier} is not a clone made by Estate.")
        return cleaned


def _is_estate_clone(cluster: DbCluster) -> bool:
    return bool((cluster.tags or {}).get("estate:clone-source"))


class DeleteClone(Kind):
    name = "delete_clone"
    label = "Delete clone"
    description = "Delete a clone made by Estate (its instances, then the cluster)."
    target_model = DbCluster
    form_class = DeleteCloneForm
    destructive = True
    confirm_identifier = True
    confirm_help = "The clone and its data are deleted."
    cannot_stop = "AWS cannot stop a deletion once it has started"
    resync_kinds = ("clusters", "instances")
    steps = (
        Step("delete_instances", "Delete the clone's instances", mutating=True),
        Step("delete_cluster", "Delete the clone cluster", mutating=True),
        Step("await_deleted", "Wait until the clone is gone", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and _is_estate_clone(resource)

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        describe_cluster(ctx.call, target.identifier)

    def step_delete_instances(self, ctx: StepContext) -> Done | Wait | Fail:
        try:
            cluster = describe_cluster(ctx.call, ctx.op.target_label)
        except aws.AwsNotFound:
            return Done("The clone is already gone.")
        members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
        if not members:
            return Done("No instances left.")
        # One mutating call per run: delete the next member, come back for the rest.
        for member in members:
            try:
                status = describe_instance(ctx.call, member)["DBInstanceStatus"]
            except aws.AwsNotFound:
                continue
            if status == "deleting":
                continue
            ctx.checkpoint(mutation=True)
            ctx.call("delete_db_instance", DBInstanceIdentifier=member, SkipFinalSnapshot=True)
            return Wait(0.5, f"Deleting {member}.")
        return Wait(poll_interval(ctx.op), f"Waiting for {len(members)} instance(s) to go.")

    def step_delete_cluster(self, ctx: StepContext) -> Done | Wait | Fail:
        try:
            cluster = describe_cluster(ctx.call, ctx.op.target_label)
        except aws.AwsNotFound:
            return Done("The clone cluster is already gone.")
        if cluster["Status"] == "deleting":
            return Done("AWS is already deleting the clone: not asking again.")
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {"DBClusterIdentifier": ctx.op.target_label}
        if ctx.params.get("final_snapshot"):
            snapshot = f"{ctx.op.target_label}-final-{timezone.now():%Y%m%d%H%M%S}"
            kwargs["FinalDBSnapshotIdentifier"] = snapshot
            ctx.memory["final_snapshot"] = snapshot
        else:
            kwargs["SkipFinalSnapshot"] = True
        ctx.call("delete_db_cluster", **kwargs)
        return Done("AWS is deleting the clone cluster.")

    def step_await_deleted(self, ctx: StepContext) -> Done | Wait | Fail:
        try:
            cluster = describe_cluster(ctx.call, ctx.op.target_label)
        except aws.AwsNotFound:
            result = {"deleted": ctx.op.target_arn}
            if ctx.memory.get("final_snapshot"):
                result["final_snapshot"] = ctx.memory["final_snapshot"]
            return Done("The clone is gone.", result=result)
        return Wait(poll_interval(ctx.op), f"Clone cluster is {cluster['Status']}.")


KINDS = (CloneCluster, DeleteClone)
