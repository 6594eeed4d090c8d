"""Failover drills of a cluster (Aurora or Multi-AZ DB cluster) and of a Multi-AZ DB
instance, wrapping ``cluster_failover`` and ``instance_failover``."""

from __future__ import annotations

from typing import Any

from django import forms

from drills.kinds.base import DrillForm, FailoverDrill, with_address_override
from drills.models import DrillRun
from estate.models import DbCluster, DbInstance
from operations.kinds.base import (
    StepContext,
    cluster_writer,
    describe_cluster,
    describe_instance,
    members_status,
)
from operations.kinds.cluster_failover import ClusterFailover
from operations.kinds.instance_failover import InstanceFailover


class ClusterDrillForm(DrillForm):
    target_instance = forms.ChoiceField(required=False, label="Promote this reader")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        readers = [m["identifier"] for m in self.target.members if not m.get("is_writer")]
        self.fields["target_instance"].choices = [("", "AWS chooses")] + [(r, r) for r in readers]


class ClusterFailoverDrill(FailoverDrill):
    name = "cluster_failover_drill"
    label = "Failover drill (cluster)"
    description = "Fail over an Aurora or Multi-AZ DB cluster while probing its endpoints."
    target_model = DbCluster
    form_class = ClusterDrillForm
    wrapped = ClusterFailover
    event_source = ("rds", "db-cluster")
    trigger_step = "request_failover"
    await_step = "await_failover"
    resync_kinds = ("clusters", "instances")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        # Offered where a failover is possible at all; preflight checks the live state.
        return super().applies_to(resource) and len(resource.members) >= 2

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_cluster(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        members = live.get("DBClusterMembers", [])
        readers = [m["DBInstanceIdentifier"] for m in members if not m.get("IsClusterWriter")]
        checks: list[tuple] = [
            ("a reader to promote exists", bool(readers), ", ".join(readers) or "no readers")
        ]
        wanted = ctx.params.get("target_instance")
        if wanted:
            checks.append(("the chosen reader exists", wanted in readers, wanted))
        return checks

    def member_arns(self, ctx: StepContext) -> list[str]:
        cluster = DbCluster.objects.filter(arn=ctx.op.target_arn).first()
        arns = [ctx.op.target_arn]
        if cluster is not None:
            arns += list(DbInstance.objects.filter(cluster=cluster).values_list("arn", flat=True))
        return arns

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return cluster_writer(live)

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["old_writer"] = cluster_writer(live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        from estate.models import DbProxyTarget

        cluster = DbCluster.objects.filter(arn=ctx.op.target_arn).first()
        found: list[dict[str, Any]] = []
        if cluster is not None and cluster.endpoint:
            found.append(
                with_address_override(
                    cluster.identifier,
                    {
                        "label": "direct",
                        "host": cluster.endpoint,
                        "port": cluster.port or 5432,
                        "kind": "tcp",
                    },
                )
            )
            proxy_target = (
                DbProxyTarget.objects.filter(cluster=cluster)
                .select_related("proxy")
                .exclude(proxy__endpoint="")
                .first()
            )
            if proxy_target is not None:
                found.append(
                    with_address_override(
                        proxy_target.proxy.identifier,
                        {
                            "label": "proxy",
                            "host": proxy_target.proxy.endpoint,
                            "port": cluster.port or 5432,
                            "kind": "tcp",
                        },
                    )
                )
        return found

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after == run.writer_before:
            problems.append(f"the writer is still {run.writer_before}")
        busy = {k: v for k, v in members_status(ctx.call, live).items() if v != "available"}
        if busy:
            problems.append(
                "members not available: " + ", ".join(f"{k} {v}" for k, v in busy.items())
            )
        return problems


class InstanceFailoverDrill(FailoverDrill):
    name = "instance_failover_drill"
    label = "Failover drill (Multi-AZ instance)"
    description = "Reboot a Multi-AZ instance with failover while probing its endpoint."
    target_model = DbInstance
    wrapped = InstanceFailover
    event_source = ("rds", "db-instance")
    trigger_step = "request_reboot"
    await_step = "await_failover"
    resync_kinds = ("instances",)

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.cluster_id is None and resource.multi_az

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_instance(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        return [
            (
                "a standby exists (Multi-AZ)",
                bool(live.get("MultiAZ")),
                f"standby in {live.get('SecondaryAvailabilityZone') or '-'}"
                if live.get("MultiAZ")
                else "Single-AZ: no standby",
            )
        ]

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return f"{live.get('DBInstanceIdentifier')} in {live.get('AvailabilityZone', '?')}"

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["primary_az"] = live.get("AvailabilityZone", "")
        ctx.memory["standby_az"] = live.get("SecondaryAvailabilityZone", "") or ""

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        instance = DbInstance.objects.filter(arn=ctx.op.target_arn).first()
        if instance is None or not instance.endpoint_address:
            return []
        return [
            with_address_override(
                instance.identifier,
                {
                    "label": "direct",
                    "host": instance.endpoint_address,
                    "port": instance.port or 5432,
                    "kind": "tcp",
                },
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if live.get("AvailabilityZone") == ctx.memory.get("primary_az"):
            problems.append(f"the primary is still in {ctx.memory.get('primary_az')}")
        if live.get("DBInstanceStatus") != "available":
            problems.append(f"the instance is {live.get('DBInstanceStatus')}")
        return problems


KINDS = (ClusterFailoverDrill, InstanceFailoverDrill)
