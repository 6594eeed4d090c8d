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
from estate.models import DbCluster, DbInstance
from estate.when import WhenField
from operations.kinds.base import (
    OPERATION_TAG,
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    created_by,
    creation_tags,
    describe_cluster,
    describe_instance,
    ours_or_fail,
    poll_interval,
    tag_map,
)

# Where create_instance leaves AWS's refusal for remove_partial.
REFUSED = "instance_refused"
# Cluster statuses in which AWS accepts a deletion.
CLUSTER_DELETABLE = frozenset(
    {"available", "stopped", "failed", "inaccessible-encryption-credentials"}
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


# AWS's rule for DB cluster and DB instance identifiers alike: at most 63 characters.
MAX_IDENTIFIER = 63
# The one instance Estate creates in a new cluster is named after it.
INSTANCE_SUFFIX = "-instance-1"


def valid_identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValidationError(
            "Use 1-63 letters, digits or hyphens, starting with a letter, without two "
            "consecutive hyphens or a trailing hyphen."
        )
    return value.lower()


def clone_instance_identifier(cluster_name: str) -> str:
    """The identifier of the instance Estate creates in a new cluster ``cluster_name``."""
    return f"{cluster_name}{INSTANCE_SUFFIX}"


def valid_cluster_name(value: str) -> str:
    """A new cluster's name, checked together with every name Estate derives from it
    (its instance ``<name>-instance-1``), so that AWS cannot refuse one half-way, after
    the cluster was created."""
    name = valid_identifier(value)
    instance = clone_instance_identifier(name)
    if len(instance) > MAX_IDENTIFIER:
        longest = MAX_IDENTIFIER - len(INSTANCE_SUFFIX)
        raise ValidationError(
            f"Too long: Estate names the new cluster's instance {instance} "
            f"({len(instance)} characters), and AWS allows at most {MAX_IDENTIFIER} for a DB "
            f"instance identifier. Use a name of at most {longest} characters.",
            code="derived_too_long",
        )
    return name


class CloneForm(KindForm):
    clone_identifier = forms.CharField(
        label="Clone name",
        # AWS's limit for the cluster; clean_clone_identifier says why the name must
        # be shorter still (a bare max_length message would not).
        max_length=MAX_IDENTIFIER,
        help_text=(
            f"At most {MAX_IDENTIFIER - len(INSTANCE_SUFFIX)} characters: its instance is "
            f"named <name>{INSTANCE_SUFFIX}."
        ),
    )
    instance_class = forms.ChoiceField(choices=[(c, c) for c in INSTANCE_CLASSES])
    deletion_protection = forms.BooleanField(
        required=False,
        label="Deletion protection",
        help_text="Off by default, so that deleting the clone (or its expiry) needs no "
        "extra step. Deleting it from Estate turns it off first.",
    )
    expires_at = WhenField(
        future=True,
        required=False,
        label="Delete automatically at",
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
        name = valid_cluster_name(self.cleaned_data["clone_identifier"].strip())
        cluster: DbCluster = self.target
        taken = DbCluster.objects.live().filter(
            account=cluster.account, region=cluster.region, identifier=name
        )
        if taken.exists():
            raise ValidationError(f"A cluster named {name} already exists in {cluster.region}.")
        instance = clone_instance_identifier(name)
        if (
            DbInstance.objects.live()
            .filter(account=cluster.account, region=cluster.region, identifier=instance)
            .exists()
        ):
            raise ValidationError(
                f"A DB instance named {instance} (the name Estate gives the new cluster's "
                f"instance) already exists in {cluster.region}. Choose another name."
            )
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
        Step(
            "remove_partial",
            "Remove the new cluster if AWS refused its instance",
            mutating=True,
            settles=True,
        ),
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
        # Every name Estate will create, free before the first mutating call.
        instance = clone_instance_identifier(name)
        try:
            describe_instance(ctx.call, instance)
        except aws.AwsNotFound:
            pass
        else:
            raise ValidationError(
                f"A DB instance named {instance} (the name Estate gives the new cluster's "
                "instance) already exists in AWS. Choose another name."
            )
        ctx.memory["engine"] = cluster["Engine"]
        ctx.memory["engine_version"] = cluster.get("EngineVersion", "")

    def _instance_id(self, ctx: StepContext) -> str:
        return clone_instance_identifier(ctx.params["clone_identifier"])

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
            # Explicit: a clone is a scratch copy that Estate (or its expiry) deletes;
            # it must not inherit the source's protection.
            DeletionProtection=bool(ctx.params.get("deletion_protection")),
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
        try:
            ctx.call(
                "create_db_instance",
                DBInstanceIdentifier=instance_id,
                DBClusterIdentifier=ctx.params["clone_identifier"],
                DBInstanceClass=ctx.params["instance_class"],
                Engine=ctx.memory.get("engine", "aurora-postgresql"),
                Tags=creation_tags(ctx.op),
            )
        except (aws.AwsThrottled, aws.AwsUnavailable):
            raise  # the engine retries these (an unanswered call is never resent)
        except aws.AwsError as exc:
            if ctx.op.kind != self.name:
                # Run by a kind that wraps this step (the restore drill): that kind
                # cleans up its own temporary resources on an error.
                raise
            # A definite refusal: the cluster this operation created would be left
            # without an instance. The next step removes it, then fails the operation.
            ctx.memory[REFUSED] = {
                "instance": instance_id,
                "error": f"{exc.code}: {exc.message}",
                "hint": exc.hint,
            }
            ctx.log(
                f"AWS refused to create {instance_id}: {exc.code}: {exc.message}. Estate "
                f"removes {ctx.params['clone_identifier']}, the cluster this operation "
                "created, so that nothing is left half-made.",
                level="error",
            )
            return Done()
        return Done(f"AWS is creating {instance_id}.")

    def step_remove_partial(self, ctx: StepContext) -> Done | Wait | Fail:
        """Only after a refused instance: delete the cluster this operation created
        (recognised by its ``estate:operation`` tag), one call per run, then fail the
        operation saying what is left (nothing, or exactly what could not go)."""
        refused = ctx.memory.get(REFUSED)
        if not refused:
            return Done()
        name = ctx.params["clone_identifier"]
        why = f"AWS refused to create {refused['instance']} ({refused['error']})"
        try:
            cluster = describe_cluster(ctx.call, name)
        except aws.AwsNotFound:
            return Fail(
                f"{why}. {name}, the cluster this operation created, has been deleted: "
                "nothing is left in AWS.",
                refused.get("hint") or "Fix the cause, then start the operation again.",
            )
        left = (
            f"{name} is left in AWS (tagged {OPERATION_TAG}={ctx.op.pk}): delete it in the "
            "AWS console"
        )
        if not created_by(cluster, ctx.op):
            return Fail(
                f"{why}. {name} does not carry this operation's tag, so Estate does not delete it.",
                left + " if it is not needed.",
            )
        status = cluster["Status"]
        if status == "deleting":
            return Wait(poll_interval(ctx.op), f"AWS is deleting {name}.")
        members = [m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])]
        if members:
            return Fail(
                f"{why}. {name} now has instances Estate did not create "
                f"({', '.join(members)}), so Estate does not delete it.",
                left + " once its instances are no longer needed.",
            )
        if status not in CLUSTER_DELETABLE:
            return Wait(poll_interval(ctx.op), f"{name} is {status}; deleting it once it can be.")
        try:
            if cluster.get("DeletionProtection"):
                ctx.call(
                    "modify_db_cluster",
                    DBClusterIdentifier=name,
                    DeletionProtection=False,
                    ApplyImmediately=True,
                )
                return Wait(0.5, f"Turned deletion protection off on {name}, to delete it.")
            ctx.call("delete_db_cluster", DBClusterIdentifier=name, SkipFinalSnapshot=True)
        except (aws.AwsThrottled, aws.AwsUnavailable):
            raise
        except aws.AwsError as exc:
            return Fail(
                f"{why}, and then refused to delete {name} ({exc.code}: {exc.message}).",
                left + ".",
            )
        return Wait(poll_interval(ctx.op), f"AWS is deleting {name}, created by this operation.")

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


CLONE_SOURCE_TAG = "estate:clone-source"


def _is_estate_clone(cluster: DbCluster) -> bool:
    return bool((cluster.tags or {}).get(CLONE_SOURCE_TAG))


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
        Step("unprotect", "Turn deletion protection off if it is on", mutating=True),
        Step("delete_instances", "Delete the clone's instances", mutating=True),
        Step("delete_cluster", "Delete the clone cluster", mutating=True),
        Step("await_deleted", "Wait until the clone is gone", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and _is_estate_clone(resource)

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        # The mirror's tags may be stale: only a cluster that is Estate's clone in AWS
        # right now is deleted.
        if not tag_map(cluster).get(CLONE_SOURCE_TAG):
            raise ValidationError(
                f"{target.identifier} is not tagged as a clone made by Estate in AWS "
                f"({CLONE_SOURCE_TAG}): Estate does not delete it."
            )

    def step_unprotect(self, ctx: StepContext) -> Done | Wait | Fail:
        """A clone with deletion protection on (asked for, or made before Estate turned
        it off on clones) cannot be deleted: turn it off, in its own step so that the
        change is on the timeline."""
        try:
            cluster = describe_cluster(ctx.call, ctx.op.target_label)
        except aws.AwsNotFound:
            return Done("The clone is already gone.")
        if not cluster.get("DeletionProtection"):
            return Done()
        ctx.call(
            "modify_db_cluster",
            DBClusterIdentifier=ctx.op.target_label,
            DeletionProtection=False,
            ApplyImmediately=True,
        )
        ctx.result["deletion_protection_turned_off"] = True
        return Done(f"Turned deletion protection off on {ctx.op.target_label}, to delete it.")

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
