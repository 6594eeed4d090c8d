"""An ElastiCache shard's test failover as a drill, wrapping ``cache_test_failover``."""

from __future__ import annotations

from typing import Any

from django import forms

from drills.kinds.base import DrillForm, FailoverDrill, with_address_override
from drills.models import DrillRun
from estate.models import CacheReplicationGroup
from operations.kinds import cache_failover
from operations.kinds.base import StepContext
from operations.kinds.cache_failover import CacheTestFailover


class CacheDrillForm(DrillForm):
    node_group_id = forms.ChoiceField(label="Shard (node group)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_group_id"].choices = [
            (g.get("id", ""), g.get("id", "")) for g in self.target.node_groups
        ]


class CacheFailoverDrill(FailoverDrill):
    """An ElastiCache shard test failover as a drill (probe: Redis/Valkey PING)."""

    name = "cache_failover_drill"
    label = "Failover drill (cache shard)"
    description = "Test failover of one shard while probing the primary endpoint."
    target_model = CacheReplicationGroup
    form_class = CacheDrillForm
    wrapped = CacheTestFailover
    event_source = ("elasticache", "replication-group")
    trigger_step = "request_failover"
    await_step = "await_failover"
    resync_kinds = ("caches",)

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.automatic_failover == "enabled"

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return cache_failover.describe_group(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        shard = ctx.params.get("node_group_id")
        group = next((g for g in live.get("NodeGroups", []) if g["NodeGroupId"] == shard), None)
        replicas = [
            m["CacheClusterId"]
            for m in (group or {}).get("NodeGroupMembers", [])
            if m.get("CurrentRole") != "primary"
        ]
        return [
            (
                "automatic failover enabled",
                live.get("AutomaticFailover") == "enabled",
                f"automatic failover {live.get('AutomaticFailover') or 'off'}",
            ),
            (
                "a replica exists in the shard",
                bool(replicas),
                ", ".join(replicas) or f"shard {shard} has no replica",
            ),
        ]

    def member_arns(self, ctx: StepContext) -> list[str]:
        from estate.models import CacheCluster

        return [ctx.op.target_arn] + list(
            CacheCluster.objects.filter(replication_group__arn=ctx.op.target_arn).values_list(
                "arn", flat=True
            )
        )

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return cache_failover.shard_primary(live, ctx.params.get("node_group_id", ""))

    def windows(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [("", live.get("SnapshotWindow", ""), "")]

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["old_primary"] = self.writer_of(ctx, live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        group = CacheReplicationGroup.objects.filter(arn=ctx.op.target_arn).first()
        if group is None or not group.primary_endpoint:
            return []
        return [
            with_address_override(
                group.identifier,
                {
                    "label": "primary",
                    "host": group.primary_endpoint,
                    "port": group.port or 6379,
                    "kind": "tcp",
                },
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after == run.writer_before:
            problems.append(f"the shard's primary is still {run.writer_before}")
        if live.get("Status") != "available":
            problems.append(f"the replication group is {live.get('Status')}")
        return problems


KINDS = (CacheFailoverDrill,)
