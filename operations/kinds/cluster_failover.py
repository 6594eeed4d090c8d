"""Failover an Aurora cluster or a Multi-AZ DB cluster (optionally to a chosen reader).

Verified: the writer changed (to the chosen reader when one was given) and every member
is available again.
"""

from __future__ import annotations

import time
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
    cluster_writer,
    describe_cluster,
    members_status,
    poll_interval,
)

# AWS: an Aurora failover typically completes in about 30 s (Multi-AZ DB cluster: < 35 s).
TYPICAL_SECONDS = 30.0


def _readers(cluster: DbCluster) -> list[str]:
    return [m["identifier"] for m in cluster.members if not m.get("is_writer")]


class ClusterFailoverForm(KindForm):
    target_instance = forms.ChoiceField(
        required=False,
        label="Promote this reader",
        help_text="Leave empty to let AWS choose (lowest promotion tier, then largest).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_instance"].choices = [("", "AWS chooses")] + [
            (r, r) for r in _readers(self.target)
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if len(cluster.members) < 2:
            raise ValidationError(
                f"{cluster.identifier} has a single instance: failover needs at least one "
                "reader to promote. Add a reader first."
            )
        if cluster.status != "available":
            raise ValidationError(
                f"{cluster.identifier} is {cluster.status}; a failover needs it available."
            )
        return cleaned


class ClusterFailover(Kind):
    name = "cluster_failover"
    label = "Fail over cluster"
    description = "Promote a reader to writer (Aurora or Multi-AZ DB cluster)."
    target_model = DbCluster
    form_class = ClusterFailoverForm
    cannot_stop = "AWS cannot stop a cluster failover once it has started"
    resync_kinds = ("clusters", "instances")
    steps = (
        Step("request_failover", "Ask AWS to fail over", mutating=True),
        Step("await_failover", "Wait for the new writer", settles=True, budget_seconds=900),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and (resource.is_aurora or bool(resource.cluster_instance_class))
            and len(resource.members) >= 2
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        members = cluster.get("DBClusterMembers", [])
        if len(members) < 2:
            raise ValidationError(
                f"{target.identifier} has {len(members)} instance(s) in AWS right now: "
                "failover needs at least one reader."
            )
        if cluster["Status"] != "available":
            raise ValidationError(
                f"{target.identifier} is {cluster['Status']} in AWS right now; a failover "
                "needs it available."
            )
        wanted = params.get("target_instance")
        readers = [m["DBInstanceIdentifier"] for m in members if not m.get("IsClusterWriter")]
        if wanted and wanted not in readers:
            raise ValidationError(f"{wanted} is not a reader of {target.identifier} in AWS.")
        ctx.memory["old_writer"] = cluster_writer(cluster)

    def step_request_failover(self, ctx: StepContext) -> Done | Wait | Fail:
        old = ctx.memory["old_writer"]
        cluster = describe_cluster(ctx.call, ctx.op.target_label)
        if cluster["Status"] == "failing-over" or cluster_writer(cluster) != old:
            # A previous run's call got through before the worker died: don't repeat it.
            ctx.memory.setdefault("requested_at", time.time())
            ctx.checkpoint(mutation=True)
            return Done("AWS is already failing over (or has): not asking again.")
        if cluster["Status"] != "available":
            return Wait(poll_interval(ctx.op), f"Cluster is {cluster['Status']}; waiting.")
        ctx.memory["requested_at"] = time.time()
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {"DBClusterIdentifier": ctx.op.target_label}
        if ctx.params.get("target_instance"):
            kwargs["TargetDBInstanceIdentifier"] = ctx.params["target_instance"]
        ctx.call("failover_db_cluster", **kwargs)
        # AWS's clock starts when it accepts the call (the checkpoint's time stays if
        # this run dies before saving).
        ctx.memory["requested_at"] = time.time()
        return Done(f"AWS accepted the failover away from {old}.")

    def step_await_failover(self, ctx: StepContext) -> Done | Wait | Fail:
        # One describe per account, region and tick serves every waiting operation
        # (operations.polling): polling from the start costs no more AWS calls, and a
        # failover quicker than AWS's typical ~30 s is seen within a tick.
        cluster = polling.shared(ctx, "cluster", ctx.op.target_label)
        if cluster is None:
            return Wait(polling.tick_seconds(), "AWS is failing over.")
        writer = cluster_writer(cluster)
        old = ctx.memory["old_writer"]
        if cluster["Status"] != "available" or writer == old:
            return Wait(polling.tick_seconds(), f"Cluster is {cluster['Status']}; writer {writer}.")
        statuses = members_status(ctx.call, cluster)
        busy = {k: v for k, v in statuses.items() if v != "available"}
        if busy:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(busy.items()))
            return Wait(poll_interval(ctx.op), f"New writer {writer}; waiting for {detail}.")
        wanted = ctx.params.get("target_instance")
        if wanted and writer != wanted:
            return Fail(
                f"AWS promoted {writer}, not the requested {wanted}.",
                "Check the reader's state and promotion tier; fail over again if needed.",
            )
        return Done(
            f"{writer} is the writer (was {old}); all {len(statuses)} members available.",
            result={"old_writer": old, "new_writer": writer},
        )


KINDS = (ClusterFailover,)
