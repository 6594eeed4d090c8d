"""Failover an Aurora cluster or a Multi-AZ DB cluster (optionally to a chosen reader).

Verified: the writer changed (to the chosen reader when one was given) and every member
is available again.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate.models import DbCluster, Environment
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
# AWS's documented typical figures, as the form states them.
TYPICAL_AURORA = "typically about 30 s (AWS's figure for Aurora; clients using AWS's drivers reconnect in single-digit seconds)"
TYPICAL_MULTI_AZ_CLUSTER = "typically under 35 s (AWS's figure for a Multi-AZ DB cluster)"
# How many past measurements the impact note quotes.
PAST_SHOWN = 5
# Instance sizes in AWS's order, smallest first ("8xlarge" etc. are ranked by number).
_SIZES = ("nano", "micro", "small", "medium", "large", "xlarge")


def _readers(cluster: DbCluster) -> list[str]:
    return [m["identifier"] for m in cluster.members if not m.get("is_writer")]


def _size_rank(instance_class: str) -> float:
    """Larger is larger: db.r6g.large < db.r6g.xlarge < db.r6g.2xlarge < ... < metal.
    Unknown (serverless, empty) ranks lowest."""
    size = instance_class.rsplit(".", 1)[-1] if instance_class else ""
    if size in _SIZES:
        return float(_SIZES.index(size))
    if size.endswith("xlarge") and size[: -len("xlarge")].isdigit():
        return len(_SIZES) - 1 + float(size[: -len("xlarge")])
    if size.startswith("metal"):
        return 1000.0
    return -1.0


def likely_promoted(cluster: DbCluster) -> list[str]:
    """The reader(s) AWS would promote when none is chosen: the lowest promotion tier,
    then the largest instance class; several when they tie (AWS picks among them)."""
    classes = dict(cluster.instances.values_list("identifier", "instance_class"))
    tiers = {
        m["identifier"]: (m.get("promotion_tier") if m.get("promotion_tier") is not None else 1)
        for m in cluster.members
        if not m.get("is_writer")
    }
    if not tiers:
        return []

    def key(name: str) -> tuple[int, float]:
        return (tiers[name], -_size_rank(classes.get(name, "")))

    best = min(key(name) for name in tiers)
    return sorted(name for name in tiers if key(name) == best)


def impact_note(cluster: DbCluster, chosen: str = "") -> list[str]:
    """What a failover of ``cluster`` will do, read from the mirror: the writer now and
    the reader that takes over, the expected downtime (AWS's typical figure and this
    cluster's past drills and failovers), and the RDS Proxies in front of it."""
    from estate.models import DbProxyTarget
    from operations.models import Operation, State

    lines: list[str] = []
    writer = next((m["identifier"] for m in cluster.members if m.get("is_writer")), "")
    tiers = {m["identifier"]: m.get("promotion_tier") for m in cluster.members}
    if chosen:
        promoted = f"{chosen} (chosen; promotion tier {tiers.get(chosen, '?')})"
    else:
        likely = likely_promoted(cluster)
        if len(likely) == 1:
            promoted = (
                f"{likely[0]} will likely be promoted (promotion tier "
                f"{tiers.get(likely[0], '?')}: AWS promotes the lowest tier, then the largest "
                "instance)"
            )
        elif likely:
            promoted = (
                f"one of {', '.join(likely)} will be promoted (same promotion tier and size: "
                "AWS picks)"
            )
        else:
            promoted = "no reader to promote"
    lines.append(f"Writer now: {writer or 'unknown'}; {promoted}. The writer restarts as a reader.")
    typical = TYPICAL_AURORA if cluster.is_aurora else TYPICAL_MULTI_AZ_CLUSTER
    lines.append(
        f"Expected downtime: writes fail while AWS fails over, {typical}. Connections to the "
        "writer are dropped: clients must reconnect (the cluster endpoint follows the new "
        "writer)."
    )
    past = Operation.objects.filter(
        target_arn=cluster.arn,
        state=State.SUCCEEDED,
        kind__in=("cluster_failover", "cluster_failover_drill"),
    ).order_by("-finished_at")[: PAST_SHOWN * 2]
    drills, failovers = [], []
    for op in past:
        if (
            op.kind == "cluster_failover_drill"
            and op.result.get("api_failover_seconds") is not None
        ):
            downtime = op.result.get("client_downtime_seconds")
            drills.append(
                f"{op.finished_at:%Y-%m-%d}: failover {op.result['api_failover_seconds']:.1f} s"
                + (f", client downtime {downtime:.1f} s" if downtime is not None else "")
            )
        elif op.kind == "cluster_failover" and op.started_at and op.finished_at:
            took = (op.finished_at - op.started_at).total_seconds()
            failovers.append(f"{op.finished_at:%Y-%m-%d}: {took:.0f} s")
    if drills:
        lines.append(
            f"Past failover drills of {cluster.identifier}: {'; '.join(drills[:PAST_SHOWN])}."
        )
    if failovers:
        lines.append(
            f"Past failovers of {cluster.identifier} (whole operation, until every member "
            f"was available): {'; '.join(failovers[:PAST_SHOWN])}."
        )
    if not drills and not failovers:
        lines.append(f"No past failover or drill of {cluster.identifier} has been measured.")
    proxies = sorted(
        {
            t.proxy.identifier
            for t in DbProxyTarget.objects.filter(
                cluster=cluster, proxy__gone_at__isnull=True
            ).select_related("proxy")
        }
    )
    if proxies:
        lines.append(
            f"RDS Proxies in front of it: {', '.join(proxies)}. They follow the new writer "
            "and keep client connections open, so clients through a proxy usually recover "
            "faster."
        )
    else:
        lines.append("No RDS Proxy is in front of it: every client reconnects itself.")
    return lines


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
        account = self.target.account
        if "confirm" not in self.fields and account.environment == Environment.PRODUCTION:
            # Production: the impact note is read, and the cluster named, before anything
            # happens (KindForm.clean_confirm checks it).
            self.fields["confirm"] = forms.CharField(
                label=f"Type {self.target.identifier} to confirm",
                help_text=f"{account.name} is a production account: writes stop during the "
                "failover.",
            )

    @property
    def impact(self) -> list[str]:
        """The impact note shown above the form (see ``impact_note``)."""
        chosen = ""
        if self.is_bound:
            wanted = str(self.data.get("target_instance") or "")
            chosen = wanted if wanted in _readers(self.target) else ""
        return impact_note(self.target, chosen)

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
        if not isinstance(cluster, dict):
            return Wait(cluster, "AWS is failing over.")
        writer = cluster_writer(cluster)
        old = ctx.memory["old_writer"]
        if cluster["Status"] != "available" or writer == old:
            return Wait(polling.next_tick_in(), f"Cluster is {cluster['Status']}; writer {writer}.")
        statuses = members_status(ctx.call, cluster)
        busy = {k: v for k, v in statuses.items() if v != "available"}
        if busy:
            detail = ", ".join(f"{k} {v}" for k, v in sorted(busy.items()))
            return Wait(polling.next_tick_in(), f"New writer {writer}; waiting for {detail}.")
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
