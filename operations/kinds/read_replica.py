"""Create a read replica of a DB instance (same or another region), promote a replica."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate import aws
from estate.models import DbInstance
from operations import polling
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
    describe_instance,
    ours_or_fail,
    poll_interval,
)
from operations.kinds.clone import valid_identifier

REPLICA_ENGINES = ("mysql", "mariadb", "postgres", "oracle-ee", "oracle-se2", "sqlserver-ee")


class CreateReplicaForm(KindForm):
    replica_identifier = forms.CharField(label="Replica name", max_length=63)
    region = forms.ChoiceField(label="Region")
    instance_class = forms.CharField(
        required=False, max_length=64, help_text="Empty: the source's class."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        source: DbInstance = self.target
        regions = list(dict.fromkeys([source.region, *(source.account.regions or [])]))
        self.fields["region"].choices = [(r, r) for r in regions]
        self.fields["region"].initial = source.region

    def clean_replica_identifier(self) -> str:
        return valid_identifier(self.cleaned_data["replica_identifier"].strip())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        source: DbInstance = self.target
        if source.cluster_id is not None:
            raise ValidationError(
                f"{source.identifier} is an Aurora instance: add a reader to its cluster instead."
            )
        if source.engine not in REPLICA_ENGINES:
            raise ValidationError(f"{source.engine} instances cannot have read replicas.")
        if source.status != "available":
            raise ValidationError(f"{source.identifier} is {source.status}; it must be available.")
        if not source.backup_retention_period:
            raise ValidationError(
                f"{source.identifier} has automated backups off (retention 0): AWS requires "
                "them for a read replica. Set a backup retention first."
            )
        name, region = cleaned.get("replica_identifier"), cleaned.get("region")
        if name and region:
            taken = DbInstance.objects.live().filter(
                account=source.account, region=region, identifier=name
            )
            if taken.exists():
                self.add_error(
                    "replica_identifier", f"An instance named {name} already exists in {region}."
                )
        return cleaned


class CreateReadReplica(Kind):
    name = "create_read_replica"
    label = "Create read replica"
    description = "A read replica of this instance, in this or another region."
    target_model = DbInstance
    form_class = CreateReplicaForm
    mutating = False  # the source is only read
    cannot_stop = "AWS cannot stop a replica that is being created"
    resync_kinds = ("instances",)
    steps = (
        Step("create_replica", "Ask AWS to create the replica", mutating=True),
        Step("await_replica", "Wait for the replica", settles=True, budget_seconds=7200),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.cluster_id is None
            and resource.engine in REPLICA_ENGINES
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        source = describe_instance(ctx.call, target.identifier)
        if source["DBInstanceStatus"] != "available":
            raise ValidationError(
                f"{target.identifier} is {source['DBInstanceStatus']} in AWS right now."
            )
        name, region = params["replica_identifier"], params["region"]
        try:
            describe_instance(lambda op, **kw: ctx.call(op, region=region, **kw), name)
        except aws.AwsNotFound:
            pass
        else:
            raise ValidationError(f"An instance named {name} already exists in {region} in AWS.")

    def resync_regions(self, op: Any) -> list[str]:
        return list(dict.fromkeys([op.region, op.params.get("region") or op.region]))

    def _describe_replica(self, ctx: StepContext) -> dict[str, Any] | None:
        try:
            return describe_instance(
                lambda op, **kw: ctx.call(op, region=ctx.params["region"], **kw),
                ctx.params["replica_identifier"],
            )
        except aws.AwsNotFound:
            return None

    def _source_ref(self, ctx: StepContext) -> str:
        cross = ctx.params["region"] != ctx.op.region
        return ctx.op.target_arn if cross else ctx.op.target_label

    def step_create_replica(self, ctx: StepContext) -> Done | Wait | Fail:
        existing = self._describe_replica(ctx)
        if existing is not None:
            source = existing.get("ReadReplicaSourceDBInstanceIdentifier") or ""
            if source not in (ctx.op.target_label, ctx.op.target_arn):
                return Fail(
                    f"An instance named {ctx.params['replica_identifier']} exists and is not a "
                    f"replica of {ctx.op.target_label}.",
                    "Choose another name and start again.",
                )
            return ours_or_fail(ctx, existing, "read replica", ctx.params["replica_identifier"])
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {
            "DBInstanceIdentifier": ctx.params["replica_identifier"],
            "SourceDBInstanceIdentifier": self._source_ref(ctx),
            "Tags": creation_tags(ctx.op),
        }
        if ctx.params.get("instance_class"):
            kwargs["DBInstanceClass"] = ctx.params["instance_class"]
        if ctx.params["region"] != ctx.op.region:
            kwargs["SourceRegion"] = ctx.op.region
        ctx.call("create_db_instance_read_replica", region=ctx.params["region"], **kwargs)
        return Done(f"AWS is creating {ctx.params['replica_identifier']}.")

    def step_await_replica(self, ctx: StepContext) -> Done | Wait | Fail:
        try:
            replica = polling.shared(
                ctx, "instance", ctx.params["replica_identifier"], region=ctx.params["region"]
            )
        except aws.AwsNotFound:
            return Fail("The replica disappeared while being created.")
        if not isinstance(replica, dict):
            return Wait(replica, "AWS is creating the replica.")
        if replica["DBInstanceStatus"] != "available":
            return Wait(polling.next_tick_in(), f"Replica is {replica['DBInstanceStatus']}.")
        return Done(
            f"{replica['DBInstanceIdentifier']} is available, replicating from {ctx.op.target_label}.",
            result={
                "replica_arn": replica["DBInstanceArn"],
                "replica_identifier": replica["DBInstanceIdentifier"],
                "region": ctx.params["region"],
            },
        )


class PromoteForm(KindForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance: DbInstance = self.target
        if not instance.is_replica:
            raise ValidationError(
                f"{instance.identifier} is not a read replica: there is nothing to promote."
            )
        if instance.status != "available":
            raise ValidationError(
                f"{instance.identifier} is {instance.status}; it must be available."
            )
        return cleaned


class PromoteReadReplica(Kind):
    name = "promote_read_replica"
    label = "Promote read replica"
    description = "Make this replica a standalone instance (replication stops for good)."
    target_model = DbInstance
    form_class = PromoteForm
    # Irreversible: replication from the source cannot be resumed, so it is an Admin's
    # call (issue 6 lists promote among the destructive, data-losing operations).
    destructive = True
    confirm_identifier = True
    confirm_help = "Replication from the source stops for good."
    cannot_stop = "AWS cannot stop a promotion once it has started"
    resync_kinds = ("instances",)
    steps = (
        Step("promote", "Ask AWS to promote the replica", mutating=True),
        Step("await_standalone", "Wait until it is standalone", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource) and resource.is_replica and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        instance = describe_instance(ctx.call, target.identifier)
        if not instance.get("ReadReplicaSourceDBInstanceIdentifier"):
            raise ValidationError(f"{target.identifier} is not a read replica in AWS (any more).")
        if instance["DBInstanceStatus"] != "available":
            raise ValidationError(
                f"{target.identifier} is {instance['DBInstanceStatus']} in AWS right now."
            )
        ctx.memory["source"] = instance["ReadReplicaSourceDBInstanceIdentifier"]

    def step_promote(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = describe_instance(ctx.call, ctx.op.target_label)
        if instance["DBInstanceStatus"] == "modifying" or not instance.get(
            "ReadReplicaSourceDBInstanceIdentifier"
        ):
            ctx.checkpoint(mutation=True)
            return Done("AWS is already promoting it (or has): not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call("promote_read_replica", DBInstanceIdentifier=ctx.op.target_label)
        return Done("AWS accepted the promotion.")

    def step_await_standalone(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = polling.shared(ctx, "instance", ctx.op.target_label)
        if not isinstance(instance, dict):
            return Wait(instance, "AWS is promoting the replica.")
        if instance["DBInstanceStatus"] != "available":
            return Wait(poll_interval(ctx.op), f"Instance is {instance['DBInstanceStatus']}.")
        if instance.get("ReadReplicaSourceDBInstanceIdentifier"):
            return Wait(poll_interval(ctx.op), "Available, but still attached to its source.")
        return Done(
            f"{ctx.op.target_label} is standalone (was replicating from {ctx.memory.get('source')}).",
            result={"former_source": ctx.memory.get("source", "")},
        )


KINDS = (CreateReadReplica, PromoteReadReplica)
