"""Which CloudWatch metrics Estate mirrors for each kind of resource, and how.

One ``MetricSpec`` per stored metric. Values are stored in a canonical unit (lags in
seconds, whatever CloudWatch's own unit), so thresholds and charts never convert.

Where a series lives: every series belongs to one mirrored row (``resource_arn``) and has a
``label`` for the dimension that varies under it. A replication group's per-member cache
metrics are stored on the group with the member's cache cluster id as label; everything
else has one series per (row, metric) with an empty label. Charts that combine rows (a
cluster's readers, a global database's secondaries) read their members' series.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from estate import models as m

RDS = "AWS/RDS"
CACHE = "AWS/ElastiCache"
DMS = "AWS/DMS"

#: Stored metric derived by Estate (CloudWatch metric math is not used: the sandbox has none).
HIT_RATE = "CacheHitRate"


@dataclass(frozen=True)
class MetricSpec:
    name: str  # CloudWatch MetricName (or HIT_RATE)
    namespace: str
    stat: str  # GetMetricData Stat for the 1-minute period
    unit: str  # canonical display unit after ``scale``
    title: str
    scale: float = 1.0  # CloudWatch value * scale = stored value


SPECS: dict[str, MetricSpec] = {
    s.name: s
    for s in [
        MetricSpec("CPUUtilization", RDS, "Average", "%", "CPU"),
        MetricSpec("DatabaseConnections", RDS, "Average", "count", "Connections"),
        MetricSpec("FreeableMemory", RDS, "Average", "bytes", "Freeable memory"),
        MetricSpec("FreeStorageSpace", RDS, "Average", "bytes", "Free storage"),
        MetricSpec("ReadIOPS", RDS, "Average", "IOPS", "Read IOPS"),
        MetricSpec("WriteIOPS", RDS, "Average", "IOPS", "Write IOPS"),
        MetricSpec("ReplicaLag", RDS, "Average", "s", "Replica lag"),
        # Aurora reports these lags in milliseconds.
        MetricSpec("AuroraReplicaLag", RDS, "Average", "s", "Reader lag", scale=0.001),
        MetricSpec("ServerlessDatabaseCapacity", RDS, "Average", "ACU", "Capacity"),
        MetricSpec("ACUUtilization", RDS, "Average", "%", "ACU utilisation"),
        MetricSpec(
            "AuroraGlobalDBReplicationLag", RDS, "Average", "s", "Replication lag", scale=0.001
        ),
        MetricSpec("AuroraGlobalDBRPOLag", RDS, "Average", "s", "RPO lag", scale=0.001),
        MetricSpec("VolumeBytesUsed", RDS, "Average", "bytes", "Volume used"),
        MetricSpec("ClientConnections", RDS, "Average", "count", "Client connections"),
        # Proxy latency is published in microseconds.
        MetricSpec(
            "QueryDatabaseResponseLatency", RDS, "Average", "s", "Query latency", scale=1e-6
        ),
        MetricSpec("EngineCPUUtilization", CACHE, "Average", "%", "Engine CPU"),
        MetricSpec("CacheHits", CACHE, "Sum", "count", "Hits"),
        MetricSpec("CacheMisses", CACHE, "Sum", "count", "Misses"),
        MetricSpec("Evictions", CACHE, "Sum", "count", "Evictions"),
        MetricSpec("CurrConnections", CACHE, "Average", "count", "Connections"),
        MetricSpec("DatabaseMemoryUsagePercentage", CACHE, "Average", "%", "Memory used"),
        MetricSpec("ReplicationLag", CACHE, "Average", "s", "Replication lag"),
        MetricSpec(HIT_RATE, CACHE, "", "%", "Hit rate"),
        MetricSpec("CDCLatencySource", DMS, "Average", "s", "CDC latency (source)"),
        MetricSpec("CDCLatencyTarget", DMS, "Average", "s", "CDC latency (target)"),
        MetricSpec(
            "FullLoadThroughputRowsTarget", DMS, "Average", "rows/s", "Full-load rows (target)"
        ),
    ]
}

INSTANCE_METRICS = [
    "CPUUtilization",
    "DatabaseConnections",
    "FreeableMemory",
    "FreeStorageSpace",
    "ReadIOPS",
    "WriteIOPS",
]
# Aurora instances share a cluster volume: no FreeStorageSpace / per-instance IOPS.
AURORA_INSTANCE_METRICS = ["CPUUtilization", "DatabaseConnections", "FreeableMemory"]
PROXY_METRICS = ["ClientConnections", "DatabaseConnections", "QueryDatabaseResponseLatency"]
CACHE_MEMBER_METRICS = [
    "EngineCPUUtilization",
    "CacheHits",
    "CacheMisses",
    "Evictions",
    "CurrConnections",
    "DatabaseMemoryUsagePercentage",
]
DMS_METRICS = ["CDCLatencySource", "CDCLatencyTarget", "FullLoadThroughputRowsTarget"]


@dataclass(frozen=True)
class Target:
    """One series to fetch: which row it belongs to and the CloudWatch query for it."""

    resource_arn: str
    metric: str
    label: str
    dimensions: tuple[tuple[str, str], ...]

    @property
    def spec(self) -> MetricSpec:
        return SPECS[self.metric]


@dataclass
class Derived:
    """A series Estate computes from fetched ones (the cache hit rate of a group:
    sum of members' hits / sum of hits and misses, per minute)."""

    resource_arn: str
    metric: str
    hits: list[Target] = field(default_factory=list)
    misses: list[Target] = field(default_factory=list)


def _dims(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def instance_targets(inst: m.DbInstance, cluster: m.DbCluster | None) -> Iterator[Target]:
    aurora = inst.engine.startswith("aurora")
    names = AURORA_INSTANCE_METRICS if aurora else INSTANCE_METRICS
    dims = _dims(DBInstanceIdentifier=inst.identifier)
    for name in names:
        yield Target(inst.arn, name, "", dims)
    if aurora and not inst.is_cluster_writer:
        yield Target(inst.arn, "AuroraReplicaLag", "", dims)
    elif not aurora and (inst.is_replica or (cluster is not None and not inst.is_cluster_writer)):
        # Read replicas and the readers of a Multi-AZ DB cluster publish ReplicaLag.
        yield Target(inst.arn, "ReplicaLag", "", dims)


def cluster_targets(cluster: m.DbCluster) -> Iterator[Target]:
    if not cluster.is_aurora:
        return
    dims = _dims(DBClusterIdentifier=cluster.identifier)
    yield Target(cluster.arn, "VolumeBytesUsed", "", dims)
    if cluster.is_serverless_v2:
        yield Target(cluster.arn, "ServerlessDatabaseCapacity", "", dims)
        yield Target(cluster.arn, "ACUUtilization", "", dims)
    if cluster.global_cluster_id and not cluster.is_global_writer:
        # Published in the secondary's region for the secondary cluster.
        yield Target(cluster.arn, "AuroraGlobalDBReplicationLag", "", dims)
        yield Target(cluster.arn, "AuroraGlobalDBRPOLag", "", dims)


def proxy_targets(proxy: m.DbProxy) -> Iterator[Target]:
    dims = _dims(ProxyName=proxy.identifier)
    for name in PROXY_METRICS:
        yield Target(proxy.arn, name, "", dims)


def cache_members(group: m.CacheReplicationGroup) -> list[tuple[str, str]]:
    """(cache cluster id, role) of a replication group's members; role may be ''."""
    roles: dict[str, str] = {}
    for node_group in group.node_groups or []:
        for member in node_group.get("members", []):
            cid = member.get("cache_cluster_id")
            if cid:
                roles[cid] = (member.get("role") or "").lower()
    for cid in group.member_clusters or []:
        roles.setdefault(cid, "")
    return sorted(roles.items())


def cache_targets(
    arn: str, members: list[tuple[str, str]], engine: str
) -> tuple[list[Target], Derived | None]:
    """Per-member targets stored on ``arn`` (label = member id) and the group hit rate."""
    if engine == "memcached":
        # Memcached publishes GetHits/GetMisses and no engine CPU or replication lag.
        targets = [
            Target(arn, name, cid, _dims(CacheClusterId=cid))
            for cid, _ in members
            for name in ("Evictions", "CurrConnections")
        ]
        return targets, None
    targets = []
    derived = Derived(arn, HIT_RATE)
    for cid, role in members:
        dims = _dims(CacheClusterId=cid)
        for name in CACHE_MEMBER_METRICS:
            target = Target(arn, name, cid, dims)
            targets.append(target)
            if name == "CacheHits":
                derived.hits.append(target)
            elif name == "CacheMisses":
                derived.misses.append(target)
        # Only replicas publish ReplicationLag; when AWS did not say which member is the
        # primary, ask for all: the primary simply has no points.
        if role != "primary" and len(members) > 1:
            targets.append(Target(arn, "ReplicationLag", cid, dims))
    return targets, derived


def dms_targets(task: m.DmsReplicationTask, instance_identifier: str) -> Iterator[Target]:
    # DMS dimensions name the task by its resource id (the ARN's last part).
    dims = _dims(
        ReplicationInstanceIdentifier=instance_identifier,
        ReplicationTaskIdentifier=task.arn.rsplit(":", 1)[-1],
    )
    for name in DMS_METRICS:
        yield Target(task.arn, name, "", dims)
