"""ElastiCache: replication groups (with shards and member roles), cache clusters,
serverless caches and cache parameter groups — all under the ``caches`` kind, each its
own listing so that one API failing (serverless caches in an older region, say) leaves
the others intact."""

from __future__ import annotations

from collections.abc import Iterator

from estate import aws
from estate.models import CacheCluster, CacheReplicationGroup, ParameterGroup, ServerlessCache
from estate.sync.fetch import End, Event, FetchContext, describe_error, listed, stream, text
from estate.sync.groups import is_default_group, map_parameter, parameter_children
from estate.sync.store import Lookups, PartSpec, Row


def _resolve_cache_cluster(row: Row, lookups: Lookups) -> None:
    group = row.pop("_replication_group", "")
    row["replication_group_id"] = lookups.ids(CacheReplicationGroup).get(group) if group else None


REPLICATION_GROUPS = PartSpec("replication_groups", CacheReplicationGroup)
CACHE_CLUSTERS = PartSpec(
    "cache_clusters",
    CacheCluster,
    link_fields=("replication_group_id",),
    resolve=_resolve_cache_cluster,
)
SERVERLESS_CACHES = PartSpec("serverless_caches", ServerlessCache)
CACHE_PARAMETER_GROUPS = PartSpec(
    "cache_parameter_groups",
    ParameterGroup,
    scope={"scope": ParameterGroup.Scope.CACHE},
    children=parameter_children(),
)


def _address(endpoint: dict | None) -> str:
    return text((endpoint or {}).get("Address"))


def map_replication_group(item: dict, clusters: dict[str, dict]) -> Row:
    node_groups = []
    for group in item.get("NodeGroups") or []:
        node_groups.append(
            {
                "id": text(group.get("NodeGroupId")),
                "status": text(group.get("Status")),
                "slots": text(group.get("Slots")),
                "primary_endpoint": _address(group.get("PrimaryEndpoint")),
                "reader_endpoint": _address(group.get("ReaderEndpoint")),
                "members": [
                    {
                        "cache_cluster_id": text(m.get("CacheClusterId")),
                        "node_id": text(m.get("CacheNodeId")),
                        "role": text(m.get("CurrentRole")),
                        "az": text(m.get("PreferredAvailabilityZone")),
                        "endpoint": _address(m.get("ReadEndpoint")),
                    }
                    for m in group.get("NodeGroupMembers") or []
                ],
            }
        )
    members = item.get("MemberClusters") or []
    # DescribeReplicationGroups omits version and parameter group: its members carry them.
    first = next((clusters[m] for m in members if m in clusters), {})
    config = item.get("ConfigurationEndpoint") or {}
    primary = node_groups[0]["primary_endpoint"] if len(node_groups) == 1 else ""
    reader = node_groups[0]["reader_endpoint"] if len(node_groups) == 1 else ""
    port = config.get("Port") or (
        ((item.get("NodeGroups") or [{}])[0].get("PrimaryEndpoint") or {}).get("Port")
    )
    return {
        "arn": item["ARN"],
        "identifier": item["ReplicationGroupId"],
        "status": text(item.get("Status")),
        "engine": text(item.get("Engine") or first.get("Engine")),
        "engine_version": text(first.get("EngineVersion")),
        "description": text(item.get("Description")),
        "node_type": text(item.get("CacheNodeType")),
        "cluster_mode": text(item.get("ClusterMode")),
        "cluster_enabled": bool(item.get("ClusterEnabled")),
        "multi_az": item.get("MultiAZ") == "enabled",
        "automatic_failover": text(item.get("AutomaticFailover")),
        "transit_encryption": bool(item.get("TransitEncryptionEnabled")),
        "transit_encryption_mode": text(item.get("TransitEncryptionMode")),
        "at_rest_encryption": bool(item.get("AtRestEncryptionEnabled")),
        "auth_token_enabled": bool(item.get("AuthTokenEnabled")),
        "user_group_ids": item.get("UserGroupIds") or [],
        "kms_key_id": text(item.get("KmsKeyId")),
        "snapshot_retention_limit": item.get("SnapshotRetentionLimit"),
        "snapshot_window": text(item.get("SnapshotWindow")),
        "primary_endpoint": primary,
        "reader_endpoint": reader,
        "configuration_endpoint": _address(config),
        "port": port,
        "parameter_group_name": text(
            (first.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
        ),
        "node_groups": node_groups,
        "member_clusters": members,
        "data_tiering": text(item.get("DataTiering")),
    }


def map_cache_cluster(item: dict, roles: dict[str, str]) -> Row:
    cluster_id = item["CacheClusterId"]
    return {
        "arn": item["ARN"],
        "identifier": cluster_id,
        "status": text(item.get("CacheClusterStatus")),
        "_replication_group": text(item.get("ReplicationGroupId")),
        "engine": text(item.get("Engine")),
        "engine_version": text(item.get("EngineVersion")),
        "node_type": text(item.get("CacheNodeType")),
        "num_nodes": item.get("NumCacheNodes"),
        "availability_zone": text(item.get("PreferredAvailabilityZone")),
        "role": roles.get(cluster_id, ""),
        "transit_encryption": bool(item.get("TransitEncryptionEnabled")),
        "at_rest_encryption": bool(item.get("AtRestEncryptionEnabled")),
        "auth_token_enabled": bool(item.get("AuthTokenEnabled")),
        "snapshot_retention_limit": item.get("SnapshotRetentionLimit"),
        "parameter_group_name": text(
            (item.get("CacheParameterGroup") or {}).get("CacheParameterGroupName")
        ),
        "configuration_endpoint": _address(item.get("ConfigurationEndpoint")),
        "security_group_ids": [
            g.get("SecurityGroupId", "") for g in item.get("SecurityGroups") or []
        ],
        "nodes": [
            {
                "id": text(n.get("CacheNodeId")),
                "status": text(n.get("CacheNodeStatus")),
                "az": text(n.get("CustomerAvailabilityZone")),
                "endpoint": _address(n.get("Endpoint")),
            }
            for n in item.get("CacheNodes") or []
        ],
        "created_time": item.get("CacheClusterCreateTime"),
    }


def map_serverless_cache(item: dict) -> Row:
    return {
        "arn": item["ARN"],
        "identifier": item["ServerlessCacheName"],
        "status": text(item.get("Status")),
        "engine": text(item.get("Engine")),
        "major_engine_version": text(item.get("MajorEngineVersion")),
        "endpoint": _address(item.get("Endpoint")),
        "reader_endpoint": _address(item.get("ReaderEndpoint")),
        "kms_key_id": text(item.get("KmsKeyId")),
        "user_group_id": text(item.get("UserGroupId")),
        "snapshot_retention_limit": item.get("SnapshotRetentionLimit"),
        "usage_limits": item.get("CacheUsageLimits") or {},
    }


def fetch_caches(ctx: FetchContext) -> Iterator[Event]:
    # Groups and clusters describe each other (roles live on the group, versions on the
    # clusters), so both lists are read before either is mapped; they are small.
    clusters: list[dict] | None
    groups: list[dict] | None
    errors: dict[str, str] = {}
    try:
        clusters = list(
            ctx.paginate(
                "elasticache", "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True
            )
        )
    except aws.AwsError as exc:
        clusters, errors["clusters"] = None, describe_error(exc)
    try:
        groups = list(
            ctx.paginate("elasticache", "describe_replication_groups", "ReplicationGroups")
        )
    except aws.AwsError as exc:
        groups, errors["groups"] = None, describe_error(exc)

    by_id = {c["CacheClusterId"]: c for c in clusters or []}
    if groups is None:
        yield End(REPLICATION_GROUPS, errors["groups"])
    else:
        yield from listed(
            REPLICATION_GROUPS,
            [ctx.tags.tag(map_replication_group(g, by_id)) for g in groups],
        )
    if clusters is None:
        yield End(CACHE_CLUSTERS, errors["clusters"])
    else:
        roles = {
            m.get("CacheClusterId", ""): text(m.get("CurrentRole"))
            for g in groups or []
            for ng in g.get("NodeGroups") or []
            for m in ng.get("NodeGroupMembers") or []
        }
        yield from listed(
            CACHE_CLUSTERS, [ctx.tags.tag(map_cache_cluster(c, roles)) for c in clusters]
        )

    yield from stream(
        SERVERLESS_CACHES,
        ctx.paginate("elasticache", "describe_serverless_caches", "ServerlessCaches"),
        ctx.tags.mapper(map_serverless_cache),
    )

    def parameter_group(item: dict) -> Row:
        name = item["CacheParameterGroupName"]
        row: Row = {
            "arn": item["ARN"],
            "identifier": name,
            "status": "",
            **ctx.tags.of(item["ARN"]),
            "scope": ParameterGroup.Scope.CACHE,
            "family": text(item.get("CacheParameterGroupFamily")),
            "description": text(item.get("Description")),
        }
        if not is_default_group(name) and not item.get("IsGlobal"):
            row["_children"] = [
                map_parameter(p)
                for p in ctx.paginate(
                    "elasticache",
                    "describe_cache_parameters",
                    "Parameters",
                    CacheParameterGroupName=name,
                )
            ]
        return row

    yield from stream(
        CACHE_PARAMETER_GROUPS,
        ctx.paginate("elasticache", "describe_cache_parameter_groups", "CacheParameterGroups"),
        parameter_group,
    )
    yield from ctx.tag_problems()
