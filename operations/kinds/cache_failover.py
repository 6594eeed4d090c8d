"""Test failover of one shard of an ElastiCache replication group: verified when the
shard's primary node has changed and the group is available again."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate.models import CacheReplicationGroup
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
)


def describe_group(call: Any, group_id: str) -> dict[str, Any]:
    return call("describe_replication_groups", service="elasticache", ReplicationGroupId=group_id)[
        "ReplicationGroups"
    ][0]


def shard_primary(group: dict[str, Any], shard: str) -> str:
    for node_group in group.get("NodeGroups", []):
        if node_group["NodeGroupId"] == shard:
            for member in node_group.get("NodeGroupMembers", []):
                if member.get("CurrentRole") == "primary":
                    return member["CacheClusterId"]
    return ""


def _shards(group: CacheReplicationGroup) -> list[str]:
    return [g.get("id", "") for g in group.node_groups if len(g.get("members", [])) >= 2]


class CacheFailoverForm(KindForm):
    node_group_id = forms.ChoiceField(label="Shard (node group)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_group_id"].choices = [(s, s) for s in _shards(self.target)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        group: CacheReplicationGroup = self.target
        if group.automatic_failover != "enabled":
            raise ValidationError(
                f"Automatic failover is {group.automatic_failover or 'off'} on "
                f"{group.identifier}: AWS only tests failover with it enabled."
            )
        if not _shards(group):
            raise ValidationError(f"No shard of {group.identifier} has a replica to fail over to.")
        if group.status != "available":
            raise ValidationError(f"{group.identifier} is {group.status}; it must be available.")
        return cleaned


class CacheTestFailover(Kind):
    name = "cache_test_failover"
    label = "Test failover of a cache shard"
    description = "Promote a replica of one shard (AWS allows 15 shards per 24 h)."
    target_model = CacheReplicationGroup
    form_class = CacheFailoverForm
    cannot_stop = "AWS cannot stop a test failover once it has started"
    resync_kinds = ("caches",)
    steps = (
        Step("request_failover", "Ask AWS to test failover", mutating=True),
        Step("await_failover", "Wait for the new primary", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.automatic_failover == "enabled"
            and resource.status == "available"
            and bool(_shards(resource))
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        group = describe_group(ctx.call, target.identifier)
        if group.get("Status") != "available":
            raise ValidationError(f"{target.identifier} is {group.get('Status')} in AWS right now.")
        if group.get("AutomaticFailover") != "enabled":
            raise ValidationError(
                f"Automatic failover is not enabled on {target.identifier} in AWS."
            )
        primary = shard_primary(group, params["node_group_id"])
        if not primary:
            raise ValidationError(f"Shard {params['node_group_id']} has no primary in AWS.")
        ctx.memory["old_primary"] = primary

    def step_request_failover(self, ctx: StepContext) -> Done | Wait | Fail:
        group = describe_group(ctx.call, ctx.op.target_label)
        old, shard = ctx.memory["old_primary"], ctx.params["node_group_id"]
        if group.get("Status") == "modifying" or shard_primary(group, shard) != old:
            ctx.checkpoint(mutation=True)
            return Done("AWS is already failing over (or has): not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call(
            "test_failover",
            service="elasticache",
            ReplicationGroupId=ctx.op.target_label,
            NodeGroupId=shard,
        )
        return Done(f"AWS accepted the test failover of shard {shard} away from {old}.")

    def step_await_failover(self, ctx: StepContext) -> Done | Wait | Fail:
        group = polling.shared(ctx, "replication_group", ctx.op.target_label)
        if not isinstance(group, dict):
            return Wait(group, "AWS is failing the shard over.")
        primary = shard_primary(group, ctx.params["node_group_id"])
        if group.get("Status") != "available" or primary == ctx.memory["old_primary"]:
            return Wait(
                polling.next_tick_in(), f"Group is {group.get('Status')}; primary {primary}."
            )
        return Done(
            f"{primary} is the shard's primary (was {ctx.memory['old_primary']}).",
            result={"old_primary": ctx.memory["old_primary"], "new_primary": primary},
        )


KINDS = (CacheTestFailover,)
