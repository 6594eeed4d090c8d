"""Global Database drills: a planned switchover, and an unplanned failover (with data
loss), wrapping ``global_switchover`` and ``global_failover``."""

from __future__ import annotations

from typing import Any

from django import forms

from drills.kinds.base import DrillForm, FailoverDrill, with_address_override
from drills.models import DrillRun
from estate.models import DbCluster, GlobalCluster
from operations.kinds import global_db
from operations.kinds.base import StepContext
from operations.kinds.global_db import GlobalFailover, GlobalSwitchover


class GlobalDrillForm(DrillForm):
    target_region = forms.ChoiceField(label="New primary region")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_region"].choices = [
            (m.get("region", ""), m.get("region", ""))
            for m in self.target.members
            if not m.get("is_writer")
        ]


class GlobalSwitchoverDrill(FailoverDrill):
    """A planned Global Database switchover (no data loss) as a drill."""

    name = "global_switchover_drill"
    label = "Switchover drill (global database)"
    description = "Move the writer to another region while probing the writer endpoint."
    target_model = GlobalCluster
    form_class = GlobalDrillForm
    wrapped = GlobalSwitchover
    trigger_step = "request"
    await_step = "await_writer"
    resync_kinds = ("global_clusters", "clusters")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and any(
            not m.get("is_writer") for m in resource.members
        )

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return global_db.describe_global(call, identifier)

    def _target_member(self, ctx: StepContext, live: dict[str, Any]) -> dict[str, Any] | None:
        region = ctx.params.get("target_region")
        return next(
            (
                m
                for m in live.get("GlobalClusterMembers", [])
                if global_db.region_of(m["DBClusterArn"]) == region and not m.get("IsWriter")
            ),
            None,
        )

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        member = self._target_member(ctx, live)
        region = ctx.params.get("target_region")
        return [
            (
                "a secondary exists in the target region",
                member is not None,
                member["DBClusterArn"] if member else f"no secondary cluster in {region}",
            )
        ]

    def member_arns(self, ctx: StepContext) -> list[str]:
        group = GlobalCluster.objects.filter(arn=ctx.op.target_arn).first()
        arns = [ctx.op.target_arn]
        if group is not None:
            arns += [str(m.get("cluster_arn", "")) for m in group.members if m.get("cluster_arn")]
        return arns

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return global_db.region_of(global_db.writer_arn(live))

    def windows(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple[str, str, str]]:
        """The group has no windows of its own: its member clusters' apply (as last
        synced: they are in other regions, and windows seldom change)."""
        arns = [m["DBClusterArn"] for m in live.get("GlobalClusterMembers", [])]
        known = {c.arn: c for c in DbCluster.objects.filter(arn__in=arns)}
        windows = []
        for arn in sorted(arns):
            cluster = known.get(arn)
            if cluster is None:
                name = arn.rsplit(":", 1)[-1]
                windows.append((f"{name} ({global_db.region_of(arn)}, not synced yet)", "", ""))
                continue
            windows.append(
                (
                    f"{cluster.identifier} ({cluster.region})",
                    cluster.preferred_backup_window,
                    cluster.preferred_maintenance_window,
                )
            )
        return windows

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        member = self._target_member(ctx, live)
        ctx.memory["target_arn"] = member["DBClusterArn"] if member else ""
        ctx.memory["old_writer_arn"] = global_db.writer_arn(live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        group = GlobalCluster.objects.filter(arn=ctx.op.target_arn).first()
        writer = next((m for m in (group.members if group else []) if m.get("is_writer")), None)
        cluster = DbCluster.objects.filter(arn=(writer or {}).get("cluster_arn", "")).first()
        if cluster is None or not cluster.endpoint:
            return []
        return [
            with_address_override(
                cluster.identifier,
                {"label": "writer", "host": cluster.endpoint, "port": cluster.port or 5432},
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after != ctx.params.get("target_region"):
            problems.append(
                f"the writer is in {run.writer_after}, not {ctx.params.get('target_region')}"
            )
        if live.get("Status") != "available":
            problems.append(f"the global cluster is {live.get('Status')}")
        return problems


class GlobalFailoverDrillForm(global_db.AcceptDataLoss, GlobalDrillForm):
    """An unplanned failover loses the writes not yet replicated: the drill asks for
    the same typed acceptance as the operation it wraps."""


class GlobalFailoverDrill(GlobalSwitchoverDrill):
    """An unplanned Global Database failover (``AllowDataLoss``) as a drill: the real
    disaster-recovery path, measured. The wrapped kind reports the replication lag at
    the moment of failover as the potential data loss."""

    name = "global_failover_drill"
    label = "Failover drill (global database, data loss)"
    description = (
        "Promote a secondary region now, as in a regional outage, while probing the writer."
    )
    form_class = GlobalFailoverDrillForm
    wrapped = GlobalFailover
    destructive = True
    confirm_identifier = True
    confirm_help = "Writes not yet replicated to the chosen region are lost."


KINDS = (GlobalSwitchoverDrill, GlobalFailoverDrill)
