"""Change an Aurora Serverless v2 capacity range (min/max ACU within AWS's limits)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate.models import DbCluster
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
    describe_cluster,
    poll_interval,
)

# AWS: 0 to 256 ACU in steps of 0.5 (0 = auto-pause, on engine versions that allow it).
MIN_ACU, MAX_ACU = Decimal("0"), Decimal("256")


def _range(cluster: dict[str, Any]) -> tuple[float, float] | None:
    config = cluster.get("ServerlessV2ScalingConfiguration") or {}
    if "MinCapacity" not in config:
        return None
    return float(config["MinCapacity"]), float(config["MaxCapacity"])


class CapacityForm(KindForm):
    min_acu = forms.DecimalField(
        label="Minimum ACU", min_value=MIN_ACU, max_value=MAX_ACU, decimal_places=1
    )
    max_acu = forms.DecimalField(
        label="Maximum ACU", min_value=MIN_ACU, max_value=MAX_ACU, decimal_places=1
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cluster: DbCluster = self.target
        self.fields["min_acu"].initial = cluster.serverless_v2_min_acu
        self.fields["max_acu"].initial = cluster.serverless_v2_max_acu

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if not cluster.is_aurora or cluster.engine_mode == "serverless":
            raise ValidationError("Serverless v2 capacity applies to Aurora provisioned clusters.")
        if cluster.status != "available":
            raise ValidationError(
                f"{cluster.identifier} is {cluster.status}; it must be available."
            )
        low, high = cleaned.get("min_acu"), cleaned.get("max_acu")
        for name, value in (("min_acu", low), ("max_acu", high)):
            if value is not None and (value * 2) % 1:
                self.add_error(name, "Use a multiple of 0.5 ACU.")
        if low is not None and high is not None:
            if high < low:
                self.add_error("max_acu", "The maximum must be at least the minimum.")
            if high == 0:
                self.add_error("max_acu", "The maximum must be above 0 ACU.")
        return cleaned


class ServerlessCapacity(Kind):
    name = "serverless_capacity"
    label = "Change Serverless v2 capacity"
    description = "Set the cluster's min/max ACU range."
    target_model = DbCluster
    form_class = CapacityForm
    cannot_stop = "AWS cannot stop a modification once it has started"
    resync_kinds = ("clusters",)
    steps = (
        Step("modify", "Ask AWS to change the capacity range", mutating=True),
        Step("await_modified", "Wait for the new range", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.is_aurora
            and resource.engine_mode != "serverless"
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        if cluster["Status"] != "available":
            raise ValidationError(f"{target.identifier} is {cluster['Status']} in AWS right now.")
        ctx.memory["previous_range"] = _range(cluster)

    def _wanted(self, ctx: StepContext) -> tuple[float, float]:
        return float(ctx.params["min_acu"]), float(ctx.params["max_acu"])

    def step_modify(self, ctx: StepContext) -> Done | Wait | Fail:
        cluster = describe_cluster(ctx.call, ctx.op.target_label)
        if _range(cluster) == self._wanted(ctx):
            return Done("The cluster already has this range: not asking again.")
        if cluster["Status"] != "available":
            return Wait(poll_interval(ctx.op), f"Cluster is {cluster['Status']}.")
        low, high = self._wanted(ctx)
        ctx.checkpoint(mutation=True)
        ctx.call(
            "modify_db_cluster",
            DBClusterIdentifier=ctx.op.target_label,
            ServerlessV2ScalingConfiguration={"MinCapacity": low, "MaxCapacity": high},
            ApplyImmediately=True,
        )
        return Done(f"AWS accepted {low:g}–{high:g} ACU.")

    def step_await_modified(self, ctx: StepContext) -> Done | Wait | Fail:
        cluster = polling.shared(ctx, "cluster", ctx.op.target_label)
        if not isinstance(cluster, dict):
            return Wait(cluster, "AWS is changing the capacity range.")
        if cluster["Status"] != "available":
            return Wait(poll_interval(ctx.op), f"Cluster is {cluster['Status']}.")
        now = _range(cluster)
        if now != self._wanted(ctx):
            return Fail(f"AWS reports {now}, not the requested {self._wanted(ctx)}.")
        return Done(
            f"Capacity range is {now[0]:g}–{now[1]:g} ACU.",
            result={
                "min_acu": now[0],
                "max_acu": now[1],
                "previous": ctx.memory.get("previous_range"),
            },
        )


KINDS = (ServerlessCapacity,)
