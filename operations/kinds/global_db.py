"""Aurora Global Database: planned switchover to a secondary region, and unplanned
failover (``AllowDataLoss``) that reports the replication lag measured at the moment of
failover as the potential data loss."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate import aws
from estate.models import GlobalCluster
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

LAG_METRIC = "AuroraGlobalDBReplicationLag"  # milliseconds, per secondary cluster


def describe_global(call: Any, identifier: str) -> dict[str, Any]:
    for group in call("describe_global_clusters", GlobalClusterIdentifier=identifier)[
        "GlobalClusters"
    ]:
        if group["GlobalClusterIdentifier"] == identifier:
            return group
    raise aws.AwsNotFound("GlobalClusterNotFoundFault", f"Global cluster {identifier} not found.")


def region_of(arn: str) -> str:
    return arn.split(":")[3] if arn.count(":") >= 5 else ""


def writer_arn(group: dict[str, Any]) -> str:
    for member in group.get("GlobalClusterMembers", []):
        if member.get("IsWriter"):
            return member["DBClusterArn"]
    return ""


def _secondaries(group: GlobalCluster) -> list[dict[str, Any]]:
    return [m for m in group.members if not m.get("is_writer")]


class GlobalForm(KindForm):
    target_region = forms.ChoiceField(label="New primary region")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_region"].choices = [
            (m.get("region", ""), m.get("region", "")) for m in _secondaries(self.target)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        group: GlobalCluster = self.target
        if not _secondaries(group):
            raise ValidationError(f"{group.identifier} has no secondary region to move to.")
        if group.status != "available":
            raise ValidationError(f"{group.identifier} is {group.status}; it must be available.")
        return cleaned


class AcceptDataLoss(forms.Form):
    """The typed acceptance an unplanned failover needs (the operation and its drill)."""

    accept_data_loss = forms.CharField(
        label="Type ACCEPT DATA LOSS",
        help_text="Writes not yet replicated to the new primary are lost.",
    )

    def clean_accept_data_loss(self) -> str:
        typed = self.cleaned_data.get("accept_data_loss", "")
        if typed.strip() != "ACCEPT DATA LOSS":
            raise ValidationError("Type ACCEPT DATA LOSS exactly to confirm an unplanned failover.")
        return typed


class GlobalFailoverForm(AcceptDataLoss, GlobalForm):
    pass


class GlobalSwitchover(Kind):
    name = "global_switchover"
    label = "Switch over global database"
    description = "Planned: move the writer to a secondary region without data loss."
    target_model = GlobalCluster
    form_class = GlobalForm
    cannot_stop = "AWS cannot stop a global switchover once it has started"
    resync_kinds = ("global_clusters", "clusters")
    allow_data_loss = False
    steps = (
        Step("request", "Ask AWS to move the writer", mutating=True),
        Step("await_writer", "Wait for the new primary region", settles=True, budget_seconds=1800),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.status == "available"
            and bool(_secondaries(resource))
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        group = describe_global(ctx.call, target.identifier)
        if group.get("Status") != "available":
            raise ValidationError(f"{target.identifier} is {group.get('Status')} in AWS right now.")
        members = group.get("GlobalClusterMembers", [])
        chosen = [
            m
            for m in members
            if region_of(m["DBClusterArn"]) == params["target_region"] and not m.get("IsWriter")
        ]
        if not chosen:
            raise ValidationError(
                f"{target.identifier} has no secondary cluster in {params['target_region']} in AWS."
            )
        ctx.memory["target_arn"] = chosen[0]["DBClusterArn"]
        ctx.memory["old_writer_arn"] = writer_arn(group)

    def resync_regions(self, op: Any) -> list[str]:
        regions = [region_of(op.memory.get("old_writer_arn", "")), op.params.get("target_region")]
        return [r for r in dict.fromkeys(regions) if r]

    def _measure_lag(self, ctx: StepContext) -> float | None:
        return None

    def _call(self, ctx: StepContext) -> None:
        ctx.call(
            "switchover_global_cluster",
            GlobalClusterIdentifier=ctx.op.target_label,
            TargetDbClusterIdentifier=ctx.memory["target_arn"],
        )

    def step_request(self, ctx: StepContext) -> Done | Wait | Fail:
        group = describe_global(ctx.call, ctx.op.target_label)
        if group.get("Status") in ("switching-over", "failing-over") or (
            writer_arn(group) == ctx.memory["target_arn"]
        ):
            ctx.checkpoint(mutation=True)
            return Done("AWS is already moving the writer (or has): not asking again.")
        if group.get("Status") != "available":
            return Wait(poll_interval(ctx.op), f"Global cluster is {group.get('Status')}.")
        lag = self._measure_lag(ctx)
        ctx.checkpoint(mutation=True)
        self._call(ctx)
        result: dict[str, Any] = {}
        if self.allow_data_loss:
            result["replication_lag_ms_at_failover"] = lag
        return Done(f"AWS accepted the move to {ctx.params['target_region']}.", result=result)

    def step_await_writer(self, ctx: StepContext) -> Done | Wait | Fail:
        group = describe_global(ctx.call, ctx.op.target_label)
        writer = writer_arn(group)
        if group.get("Status") != "available" or writer != ctx.memory["target_arn"]:
            return Wait(poll_interval(ctx.op), f"Global cluster is {group.get('Status')}.")
        return Done(
            f"The writer is now in {region_of(writer)}.",
            result={
                "new_writer_region": region_of(writer),
                "new_writer_arn": writer,
                "old_writer_region": region_of(ctx.memory.get("old_writer_arn", "")),
            },
        )


class GlobalFailover(GlobalSwitchover):
    name = "global_failover"
    label = "Fail over global database (data loss)"
    description = "Unplanned: promote a secondary now; unreplicated writes are lost."
    form_class = GlobalFailoverForm
    destructive = True
    confirm_identifier = True
    confirm_help = "Writes not yet replicated to the chosen region are lost."
    cannot_stop = "AWS cannot stop a global failover once it has started"
    allow_data_loss = True

    def _measure_lag(self, ctx: StepContext) -> float | None:
        """The target's AuroraGlobalDBReplicationLag right before failing over: the
        window of writes that may be lost."""
        target_arn = ctx.memory["target_arn"]
        region = region_of(target_arn)
        end = timezone.now()
        answer = ctx.call(
            "get_metric_statistics",
            service="cloudwatch",
            region=region,
            Namespace="AWS/RDS",
            MetricName=LAG_METRIC,
            Dimensions=[{"Name": "DBClusterIdentifier", "Value": target_arn.rsplit(":", 1)[-1]}],
            StartTime=end - timedelta(minutes=5),
            # Past now: periods are cut from StartTime, and the current one is partial.
            EndTime=end + timedelta(minutes=1),
            Period=60,
            Statistics=["Maximum"],
        )
        points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
        if not points:
            ctx.log(
                f"Potential data loss unknown: no {LAG_METRIC} datapoint for the target in the "
                "last 5 minutes.",
                level="warning",
            )
            return None
        lag = float(points[-1]["Maximum"])
        ctx.log(
            f"Replication lag at failover: {lag:.0f} ms — writes in that window may be lost.",
            level="warning",
            lag_ms=lag,
        )
        return lag

    def _call(self, ctx: StepContext) -> None:
        ctx.call(
            "failover_global_cluster",
            GlobalClusterIdentifier=ctx.op.target_label,
            TargetDbClusterIdentifier=ctx.memory["target_arn"],
            AllowDataLoss=True,
        )


KINDS = (GlobalSwitchover, GlobalFailover)
