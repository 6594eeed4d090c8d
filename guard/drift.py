"""Configuration drift over the mirror: what is not running the configuration it
should. Four questions, each answered with a fixed number of queries:

* resources whose parameter group change waits for a reboot (``pending-reboot``);
* clusters whose member instances use different DB parameter groups;
* read replicas whose parameter group differs from their source's;
* groups that differ from a chosen baseline group (same scope and family).

Every pair of groups comes with its differing parameters side by side.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from estate import models as m

GroupKey = tuple[int, str, str, str]  # account pk, region, scope, identifier


@dataclass
class ParamDiff:
    name: str
    left: str | None
    right: str | None


@dataclass
class GroupPair:
    left_name: str
    right_name: str
    left: m.ParameterGroup | None = None
    right: m.ParameterGroup | None = None
    diffs: list[ParamDiff] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        """Both groups are mirrored with their parameters (default groups Estate has
        not synced cannot be compared)."""
        return self.left is not None and self.right is not None


@dataclass
class PendingReboot:
    kind: str
    row: Any
    groups: list[str]


@dataclass
class ClusterSplit:
    cluster: m.DbCluster
    members: list[tuple[m.DbInstance, str]]
    pairs: list[GroupPair]


@dataclass
class ReplicaDrift:
    replica: m.DbInstance
    source: m.DbInstance
    pair: GroupPair


@dataclass
class Drift:
    pending: list[PendingReboot]
    clusters: list[ClusterSplit]
    replicas: list[ReplicaDrift]


def _instance_group(instance: m.DbInstance) -> str:
    return next((g.get("name", "") for g in instance.parameter_groups or []), "")


class _Groups:
    """Every live parameter group, by account, region, scope and name (one query)."""

    def __init__(self) -> None:
        self.by_key: dict[GroupKey, m.ParameterGroup] = {
            (g.account_id, g.region, g.scope, g.identifier): g
            for g in m.ParameterGroup.objects.live()
        }

    def get(self, account_pk: int, region: str, scope: str, name: str) -> m.ParameterGroup | None:
        return self.by_key.get((account_pk, region, scope, name))


def fill_diffs(pairs: list[GroupPair]) -> None:
    """Load the parameters of every group in ``pairs`` (one query) and set each
    comparable pair's differing parameters."""
    ids = {g.pk for p in pairs for g in (p.left, p.right) if g is not None}
    values: dict[int, dict[str, str | None]] = defaultdict(dict)
    for group_id, name, value in m.Parameter.objects.filter(group_id__in=ids).values_list(
        "group_id", "name", "value"
    ):
        values[group_id][name] = value
    for pair in pairs:
        if not pair.comparable:
            continue
        left, right = values[pair.left.pk], values[pair.right.pk]
        pair.diffs = [
            ParamDiff(name, left.get(name), right.get(name))
            for name in sorted(set(left) | set(right))
            if (left.get(name) or None) != (right.get(name) or None)
        ]


def find_drift() -> Drift:
    """Pending reboots, split clusters and drifted replicas: four queries."""
    instances = list(m.DbInstance.objects.live().select_related("account", "cluster"))
    clusters = {c.pk: c for c in m.DbCluster.objects.live().select_related("account")}
    groups = _Groups()
    pending: list[PendingReboot] = []
    for inst in instances:
        waiting = [
            g.get("name", "")
            for g in inst.parameter_groups or []
            if g.get("status") == "pending-reboot"
        ]
        if waiting:
            pending.append(PendingReboot("instance", inst, waiting))
    for cluster in clusters.values():
        waiting = [
            mem.get("identifier", "")
            for mem in cluster.members or []
            if mem.get("parameter_group_status") == "pending-reboot"
        ]
        if waiting:
            pending.append(
                PendingReboot(
                    "cluster",
                    cluster,
                    [f"{cluster.parameter_group_name} (members: {', '.join(waiting)})"],
                )
            )

    by_cluster: dict[int, list[m.DbInstance]] = defaultdict(list)
    for inst in instances:
        if inst.cluster_id in clusters:
            by_cluster[inst.cluster_id].append(inst)
    splits: list[ClusterSplit] = []
    pairs: list[GroupPair] = []
    scope = m.ParameterGroup.Scope.INSTANCE
    for cluster_pk, members in by_cluster.items():
        names = sorted({_instance_group(i) for i in members})
        if len(names) < 2:
            continue
        cluster = clusters[cluster_pk]
        base = names[0]
        split_pairs = [
            GroupPair(
                base,
                other,
                groups.get(cluster.account_id, cluster.region, scope, base),
                groups.get(cluster.account_id, cluster.region, scope, other),
            )
            for other in names[1:]
        ]
        pairs.extend(split_pairs)
        members.sort(key=lambda i: i.identifier)
        splits.append(
            ClusterSplit(cluster, [(i, _instance_group(i)) for i in members], split_pairs)
        )

    by_pk = {i.pk: i for i in instances}
    drifted: list[ReplicaDrift] = []
    for replica in instances:
        source = by_pk.get(replica.replica_source_id) if replica.replica_source_id else None
        if source is None:
            continue
        mine, theirs = _instance_group(replica), _instance_group(source)
        if mine == theirs and mine.startswith("default."):
            # Default groups of one family hold the engine's defaults in every region.
            continue
        if (
            mine == theirs
            and replica.region == source.region
            and replica.account_id == source.account_id
        ):
            continue
        pair = GroupPair(
            theirs,
            mine,
            groups.get(source.account_id, source.region, scope, theirs),
            groups.get(replica.account_id, replica.region, scope, mine),
        )
        pairs.append(pair)
        drifted.append(ReplicaDrift(replica, source, pair))
    fill_diffs(pairs)
    # A cross-region replica necessarily has its own group: it drifts only if it differs.
    drifted = [d for d in drifted if not d.pair.comparable or d.pair.diffs]
    return Drift(pending=pending, clusters=splits, replicas=drifted)


def against_baseline(baseline: m.ParameterGroup) -> list[GroupPair]:
    """Every live group of the baseline's scope and family that differs from it: three
    queries whatever the number of groups."""
    others = list(
        m.ParameterGroup.objects.live()
        .filter(scope=baseline.scope, family=baseline.family)
        .exclude(pk=baseline.pk)
        .select_related("account")
        .order_by("identifier", "region")
    )
    pairs = [GroupPair(baseline.identifier, g.identifier, baseline, g) for g in others]
    fill_diffs(pairs)
    return [p for p in pairs if p.diffs]
