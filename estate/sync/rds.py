"""RDS kinds: global clusters, clusters, instances, endpoints and proxies (snapshots
and parameter/option groups live in ``snapshots`` and ``groups``). One fetch function
per kind; each yields events (see ``estate.sync.fetch``) and never touches the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from estate.models import (
    DbCluster,
    DbEndpoint,
    DbInstance,
    DbProxy,
    DbProxyTarget,
    EndpointKind,
    GlobalCluster,
)
from estate.sync.fetch import (
    Derive,
    Event,
    FetchContext,
    stream,
    text,
)
from estate.sync.store import ChildSpec, Lookups, PartSpec, Row
from estate.sync.tagging import described

# --- global clusters ------------------------------------------------------------------


def _region_of_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 else ""


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


GLOBAL_CLUSTERS = PartSpec("global_clusters", GlobalCluster, movable=True)


def fetch_global_clusters(ctx: FetchContext, home_region: str) -> Iterator[Event]:
    """Global clusters are account-wide: every region lists all of them. Each one is
    mirrored under its writer's region only (or, with no writer, the account's first
    region), so that vanish detection per region stays correct."""

    def mapper(item: dict) -> Row | None:
        members = [
            {
                "cluster_arn": m.get("DBClusterArn", ""),
                "region": _region_of_arn(m.get("DBClusterArn", "")),
                "is_writer": bool(m.get("IsWriter")),
                "readers": m.get("Readers") or [],
                "synchronization_status": text(m.get("SynchronizationStatus")),
            }
            for m in item.get("GlobalClusterMembers") or []
        ]
        owner = next((m["region"] for m in members if m["is_writer"]), home_region)
        if owner != ctx.region:
            return None
        return {
            "arn": item["GlobalClusterArn"],
            "identifier": item["GlobalClusterIdentifier"],
            "status": text(item.get("Status")),
            **described(item),
            "engine": text(item.get("Engine")),
            "engine_version": text(item.get("EngineVersion")),
            "deletion_protection": bool(item.get("DeletionProtection")),
            "storage_encrypted": bool(item.get("StorageEncrypted")),
            "members": members,
            "failover_state": _failover_state(item.get("FailoverState")),
        }

    yield from stream(
        GLOBAL_CLUSTERS, ctx.paginate("rds", "describe_global_clusters", "GlobalClusters"), mapper
    )


def _failover_state(state: dict | None) -> dict:
    """AWS's FailoverState of a global cluster (absent when nothing is in flight), with
    the regions the writer moves between read from the clusters' ARNs."""
    if not state:
        return {}
    source, target = text(state.get("FromDbClusterArn")), text(state.get("ToDbClusterArn"))
    return {
        "status": text(state.get("Status")),
        "from_cluster_arn": source,
        "from_region": _region_of_arn(source),
        "to_cluster_arn": target,
        "to_region": _region_of_arn(target),
        "is_data_loss_allowed": bool(state.get("IsDataLossAllowed")),
    }


# --- clusters -------------------------------------------------------------------------

CLUSTERS = PartSpec(
    "clusters",
    DbCluster,
    drift_fields=("earliest_backtrack_time", "earliest_restorable_time", "latest_restorable_time"),
)


def map_cluster(item: dict) -> Row:
    v2 = item.get("ServerlessV2ScalingConfiguration") or {}
    secret = item.get("MasterUserSecret") or {}
    return {
        "arn": item["DBClusterArn"],
        "identifier": item["DBClusterIdentifier"],
        "status": text(item.get("Status")),
        **described(item),
        "engine": text(item.get("Engine")),
        "engine_mode": text(item.get("EngineMode")),
        "engine_version": text(item.get("EngineVersion")),
        "cluster_instance_class": text(item.get("DBClusterInstanceClass")),
        "multi_az": bool(item.get("MultiAZ")),
        "endpoint": text(item.get("Endpoint")),
        "reader_endpoint": text(item.get("ReaderEndpoint")),
        "port": item.get("Port"),
        "availability_zones": item.get("AvailabilityZones") or [],
        "serverless_v2_min_acu": v2.get("MinCapacity"),
        "serverless_v2_max_acu": v2.get("MaxCapacity"),
        "scaling_configuration": item.get("ScalingConfigurationInfo") or {},
        "backtrack_window": item.get("BacktrackWindow"),
        "earliest_backtrack_time": item.get("EarliestBacktrackTime"),
        "earliest_restorable_time": item.get("EarliestRestorableTime"),
        "latest_restorable_time": item.get("LatestRestorableTime"),
        "backup_retention_period": item.get("BackupRetentionPeriod"),
        "preferred_backup_window": text(item.get("PreferredBackupWindow")),
        "preferred_maintenance_window": text(item.get("PreferredMaintenanceWindow")),
        "storage_encrypted": bool(item.get("StorageEncrypted")),
        "kms_key_id": text(item.get("KmsKeyId")),
        "storage_type": text(item.get("StorageType")),
        "allocated_storage": item.get("AllocatedStorage"),
        "iam_auth_enabled": bool(item.get("IAMDatabaseAuthenticationEnabled")),
        "deletion_protection": bool(item.get("DeletionProtection")),
        "domain_memberships": item.get("DomainMemberships") or [],
        "parameter_group_name": text(item.get("DBClusterParameterGroup")),
        "clone_group_id": text(item.get("CloneGroupId")),
        "replication_source_identifier": text(item.get("ReplicationSourceIdentifier")),
        "master_username": text(item.get("MasterUsername")),
        "master_user_secret_arn": text(secret.get("SecretArn")),
        "vpc_security_group_ids": [
            g.get("VpcSecurityGroupId", "") for g in item.get("VpcSecurityGroups") or []
        ],
        "enabled_cloudwatch_logs_exports": item.get("EnabledCloudwatchLogsExports") or [],
        "created_time": item.get("ClusterCreateTime"),
        "pending_modified_values": pending_values(item.get("PendingModifiedValues")),
        "iops": item.get("Iops"),
        "storage_throughput": item.get("StorageThroughput"),
        "engine_lifecycle_support": text(item.get("EngineLifecycleSupport")),
        "auto_minor_version_upgrade": item.get("AutoMinorVersionUpgrade"),
        "performance_insights_enabled": item.get("PerformanceInsightsEnabled"),
        "db_cluster_resource_id": text(item.get("DbClusterResourceId")),
        "http_endpoint_enabled": bool(item.get("HttpEndpointEnabled")),
        "members": [
            {
                "identifier": m.get("DBInstanceIdentifier", ""),
                "is_writer": bool(m.get("IsClusterWriter")),
                "promotion_tier": m.get("PromotionTier"),
                "parameter_group_status": text(m.get("DBClusterParameterGroupStatus")),
            }
            for m in item.get("DBClusterMembers") or []
        ],
    }


def fetch_clusters(ctx: FetchContext) -> Iterator[Event]:
    yield from stream(
        CLUSTERS, ctx.paginate("rds", "describe_db_clusters", "DBClusters"), map_cluster
    )


# --- instances ------------------------------------------------------------------------


def _cluster_writers(lookups: Lookups) -> dict[str, tuple[int, set[str]]]:
    """{cluster identifier: (cluster id, identifiers of its writer members)}"""

    def load() -> dict[str, tuple[int, set[str]]]:
        rows = DbCluster.objects.filter(
            account=lookups.account, region=lookups.region, gone_at__isnull=True
        ).values_list("identifier", "id", "members")
        return {
            ident: (pk, {m.get("identifier") for m in members or [] if m.get("is_writer")})
            for ident, pk, members in rows
        }

    return lookups.get(DbCluster, "writers", load)


def resolve_instance(row: Row, lookups: Lookups) -> None:
    cluster_identifier = row.pop("_cluster_identifier", "")
    row["cluster_id"] = None
    row["is_cluster_writer"] = False
    if cluster_identifier:
        found = _cluster_writers(lookups).get(cluster_identifier)
        if found is not None:
            row["cluster_id"] = found[0]
            row["is_cluster_writer"] = row["identifier"] in found[1]


INSTANCES = PartSpec(
    "instances",
    DbInstance,
    link_fields=("cluster_id", "is_cluster_writer"),
    resolve=resolve_instance,
    drift_fields=("latest_restorable_time",),
)


def map_instance(item: dict) -> Row:
    endpoint = item.get("Endpoint") or {}
    secret = item.get("MasterUserSecret") or {}
    subnet_group = item.get("DBSubnetGroup") or {}
    engine = text(item.get("Engine"))
    return {
        "arn": item["DBInstanceArn"],
        "identifier": item["DBInstanceIdentifier"],
        "status": text(item.get("DBInstanceStatus")),
        **described(item),
        "_cluster_identifier": text(item.get("DBClusterIdentifier")),
        "instance_class": text(item.get("DBInstanceClass")),
        "engine": engine,
        "engine_version": text(item.get("EngineVersion")),
        "availability_zone": text(item.get("AvailabilityZone")),
        "secondary_availability_zone": text(item.get("SecondaryAvailabilityZone")),
        "multi_az": bool(item.get("MultiAZ")),
        "endpoint_address": text(endpoint.get("Address")),
        "port": endpoint.get("Port") or item.get("DbInstancePort") or None,
        "promotion_tier": item.get("PromotionTier") if item.get("DBClusterIdentifier") else None,
        "replica_source_identifier": text(
            item.get("ReadReplicaSourceDBInstanceIdentifier")
            or item.get("ReadReplicaSourceDBClusterIdentifier")
        ),
        "read_replica_identifiers": item.get("ReadReplicaDBInstanceIdentifiers") or [],
        "is_custom": engine.startswith("custom-"),
        "automation_mode": text(item.get("AutomationMode")),
        "resume_full_automation_mode_time": item.get("ResumeFullAutomationModeTime"),
        "backup_retention_period": item.get("BackupRetentionPeriod"),
        "preferred_backup_window": text(item.get("PreferredBackupWindow")),
        "preferred_maintenance_window": text(item.get("PreferredMaintenanceWindow")),
        "latest_restorable_time": item.get("LatestRestorableTime"),
        "allocated_storage": item.get("AllocatedStorage"),
        "storage_type": text(item.get("StorageType")),
        "iops": item.get("Iops"),
        "storage_encrypted": bool(item.get("StorageEncrypted")),
        "kms_key_id": text(item.get("KmsKeyId")),
        "publicly_accessible": bool(item.get("PubliclyAccessible")),
        "vpc_id": text(subnet_group.get("VpcId")),
        "vpc_security_group_ids": [
            g.get("VpcSecurityGroupId", "") for g in item.get("VpcSecurityGroups") or []
        ],
        "iam_auth_enabled": bool(item.get("IAMDatabaseAuthenticationEnabled")),
        "domain_memberships": item.get("DomainMemberships") or [],
        "ca_certificate_identifier": text(item.get("CACertificateIdentifier")),
        "ca_certificate_valid_till": (item.get("CertificateDetails") or {}).get("ValidTill"),
        "parameter_groups": [
            {"name": g.get("DBParameterGroupName", ""), "status": g.get("ParameterApplyStatus", "")}
            for g in item.get("DBParameterGroups") or []
        ],
        "option_groups": [
            {"name": g.get("OptionGroupName", ""), "status": g.get("Status", "")}
            for g in item.get("OptionGroupMemberships") or []
        ],
        "deletion_protection": bool(item.get("DeletionProtection")),
        "auto_minor_version_upgrade": bool(item.get("AutoMinorVersionUpgrade", True)),
        "performance_insights_enabled": bool(item.get("PerformanceInsightsEnabled")),
        "master_username": text(item.get("MasterUsername")),
        "master_user_secret_arn": text(secret.get("SecretArn")),
        "enabled_cloudwatch_logs_exports": item.get("EnabledCloudwatchLogsExports") or [],
        "dbi_resource_id": text(item.get("DbiResourceId")),
        "created_time": item.get("InstanceCreateTime"),
        "pending_modified_values": pending_values(item.get("PendingModifiedValues")),
        "max_allocated_storage": item.get("MaxAllocatedStorage"),
        "storage_throughput": item.get("StorageThroughput"),
        "engine_lifecycle_support": text(item.get("EngineLifecycleSupport")),
        "monitoring_interval": item.get("MonitoringInterval"),
        "copy_tags_to_snapshot": bool(item.get("CopyTagsToSnapshot")),
        "license_model": text(item.get("LicenseModel")),
        "network_type": text(item.get("NetworkType")),
        "db_name": text(item.get("DBName")),
        "activity_stream_status": text(item.get("ActivityStreamStatus")),
        "status_infos": item.get("StatusInfos") or [],
    }


def pending_values(pending: dict | None) -> dict:
    """AWS's PendingModifiedValues (instance or cluster) as JSON-safe values, with any
    secret never stored: a pending master password is recorded only as changing. Nested
    shapes (a cluster's CertificateDetails.ValidTill) are made JSON-safe too."""
    out: dict = {}
    for key, value in (pending or {}).items():
        out[key] = "(changing)" if key == "MasterUserPassword" else _json_safe(value)
    return out


def _json_safe(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def fetch_instances(ctx: FetchContext) -> Iterator[Event]:
    yield from stream(
        INSTANCES, ctx.paginate("rds", "describe_db_instances", "DBInstances"), map_instance
    )


# --- endpoints ------------------------------------------------------------------------


def _cluster_ports(lookups: Lookups) -> dict[str, tuple[int, int | None]]:
    def load() -> dict[str, tuple[int, int | None]]:
        rows = DbCluster.objects.filter(
            account=lookups.account, region=lookups.region, gone_at__isnull=True
        ).values_list("identifier", "id", "port")
        return {ident: (pk, port) for ident, pk, port in rows}

    return lookups.get(DbCluster, "ports", load)


def resolve_cluster_endpoint(row: Row, lookups: Lookups) -> None:
    found = _cluster_ports(lookups).get(row.pop("_cluster_identifier", ""))
    row["cluster_id"], row["port"] = found if found else (None, None)


def resolve_proxy_endpoint(row: Row, lookups: Lookups) -> None:
    row["proxy_id"] = lookups.ids(DbProxy).get(row.pop("_proxy_name", ""))


def derive_owned_endpoints(lookups: Lookups) -> list[Row]:
    """Instance endpoints and proxy default endpoints, from the mirror's instances and
    proxies (AWS reports them inside those resources, not as endpoints)."""
    rows: list[Row] = []
    instances = DbInstance.objects.filter(
        account=lookups.account, region=lookups.region, gone_at__isnull=True
    ).exclude(endpoint_address="")
    for pk, arn, ident, address, port, status in instances.values_list(
        "id", "arn", "identifier", "endpoint_address", "port", "status"
    ):
        rows.append(
            {
                "arn": f"{arn}/endpoint/{EndpointKind.INSTANCE}",
                "identifier": ident,
                "status": status,
                "kind": EndpointKind.INSTANCE,
                "address": address,
                "port": port,
                "instance_id": pk,
            }
        )
    proxies = DbProxy.objects.filter(
        account=lookups.account, region=lookups.region, gone_at__isnull=True
    ).exclude(endpoint="")
    for pk, arn, ident, address, status in proxies.values_list(
        "id", "arn", "identifier", "endpoint", "status"
    ):
        rows.append(
            {
                "arn": f"{arn}/endpoint/{EndpointKind.PROXY}",
                "identifier": ident,
                "status": status,
                "kind": EndpointKind.PROXY,
                "address": address,
                "port": None,
                "proxy_id": pk,
            }
        )
    return rows


CLUSTER_ENDPOINTS = PartSpec(
    "cluster_endpoints",
    DbEndpoint,
    scope={
        "kind__in": [EndpointKind.CLUSTER_WRITER, EndpointKind.CLUSTER_READER, EndpointKind.CUSTOM]
    },
    link_fields=("cluster_id", "port"),
    resolve=resolve_cluster_endpoint,
)
OWNED_ENDPOINTS = PartSpec(
    "owned_endpoints",
    DbEndpoint,
    scope={"kind__in": [EndpointKind.INSTANCE, EndpointKind.PROXY]},
    link_fields=("instance_id", "proxy_id"),
    derive=derive_owned_endpoints,
)
PROXY_ENDPOINTS = PartSpec(
    "proxy_endpoints",
    DbEndpoint,
    scope={"kind": EndpointKind.PROXY_ENDPOINT},
    link_fields=("proxy_id",),
    resolve=resolve_proxy_endpoint,
)


def fetch_endpoints(ctx: FetchContext, account_id: str) -> Iterator[Event]:
    partition = _partition(ctx.region)

    def cluster_endpoint(item: dict) -> Row | None:
        cluster_id = item.get("DBClusterIdentifier", "")
        kind = {"WRITER": EndpointKind.CLUSTER_WRITER, "READER": EndpointKind.CLUSTER_READER}.get(
            item.get("EndpointType", ""), EndpointKind.CUSTOM
        )
        if kind == EndpointKind.CUSTOM:
            arn = item.get("DBClusterEndpointArn") or ""
            identifier = item.get("DBClusterEndpointIdentifier") or ""
        else:
            # AWS gives built-in endpoints no ARN: key them under their cluster's ARN.
            cluster_arn = f"arn:{partition}:rds:{ctx.region}:{account_id}:cluster:{cluster_id}"
            arn = f"{cluster_arn}/endpoint/{kind}"
            identifier = cluster_id
        if not arn:
            return None
        # Only custom endpoints are resources of their own: AWS gives writer and reader
        # endpoints no ARN, so nothing can tag them.
        tag_columns = (
            ctx.tags.of(arn) if kind == EndpointKind.CUSTOM else {"tags": {}, "tags_error": ""}
        )
        return {
            "arn": arn,
            "identifier": identifier,
            "status": text(item.get("Status")),
            **tag_columns,
            "kind": kind,
            "address": text(item.get("Endpoint")),
            "custom_type": text(item.get("CustomEndpointType")),
            "static_members": item.get("StaticMembers") or [],
            "excluded_members": item.get("ExcludedMembers") or [],
            "_cluster_identifier": cluster_id,
        }

    yield from stream(
        CLUSTER_ENDPOINTS,
        ctx.paginate("rds", "describe_db_cluster_endpoints", "DBClusterEndpoints"),
        cluster_endpoint,
    )
    yield Derive(OWNED_ENDPOINTS)

    def proxy_endpoint(item: dict) -> Row | None:
        if item.get("IsDefault"):
            return None  # the proxy's own endpoint, derived from the proxy above
        name = item.get("DBProxyEndpointName", "")
        arn = item.get("DBProxyEndpointArn") or f"{item.get('DBProxyName')}/endpoint/{name}"
        return {
            "arn": arn,
            "identifier": name,
            "status": text(item.get("Status")),
            **ctx.tags.of(arn),
            "kind": EndpointKind.PROXY_ENDPOINT,
            "address": text(item.get("Endpoint")),
            "target_role": text(item.get("TargetRole")),
            "_proxy_name": item.get("DBProxyName", ""),
        }

    yield from stream(
        PROXY_ENDPOINTS,
        ctx.paginate("rds", "describe_db_proxy_endpoints", "DBProxyEndpoints"),
        proxy_endpoint,
    )
    yield from ctx.tag_problems()


# --- proxies --------------------------------------------------------------------------


def resolve_proxy_target(row: Row, lookups: Lookups) -> None:
    row["cluster_id"] = None
    row["instance_id"] = None
    if row["target_type"] == "TRACKED_CLUSTER":
        row["cluster_id"] = lookups.ids(DbCluster).get(row["rds_resource_id"])
    elif row["target_type"] == "RDS_INSTANCE":
        row["instance_id"] = lookups.ids(DbInstance).get(row["rds_resource_id"])


PROXIES = PartSpec(
    "proxies",
    DbProxy,
    children=ChildSpec(
        DbProxyTarget,
        parent_field="proxy_id",
        key=("target_type", "rds_resource_id"),
        fields=(
            "role",
            "endpoint",
            "port",
            "health_state",
            "health_reason",
            "health_description",
            "cluster_id",
            "instance_id",
        ),
        counts_as="proxy_targets",
        resolve=resolve_proxy_target,
    ),
)


def fetch_proxies(ctx: FetchContext) -> Iterator[Event]:
    """Proxies, their default target group's pool settings and their targets (two extra
    calls per proxy: proxies are few)."""

    def mapper(item: dict) -> Row:
        name = item["DBProxyName"]
        pool: dict[str, Any] = {}
        for group in ctx.paginate(
            "rds", "describe_db_proxy_target_groups", "TargetGroups", DBProxyName=name
        ):
            if group.get("IsDefault") or not pool:
                pool = group.get("ConnectionPoolConfig") or {}
        targets = [
            {
                "target_type": text(t.get("Type")),
                "rds_resource_id": text(t.get("RdsResourceId")),
                "role": text(t.get("Role")),
                "endpoint": text(t.get("Endpoint")),
                "port": t.get("Port"),
                "health_state": text((t.get("TargetHealth") or {}).get("State")),
                "health_reason": text((t.get("TargetHealth") or {}).get("Reason")),
                "health_description": text((t.get("TargetHealth") or {}).get("Description")),
            }
            for t in ctx.paginate("rds", "describe_db_proxy_targets", "Targets", DBProxyName=name)
        ]
        return {
            "arn": item["DBProxyArn"],
            "identifier": name,
            "status": text(item.get("Status")),
            **ctx.tags.of(item["DBProxyArn"]),
            "engine_family": text(item.get("EngineFamily")),
            "endpoint": text(item.get("Endpoint")),
            "require_tls": bool(item.get("RequireTLS")),
            "auth": item.get("Auth") or [],
            "idle_client_timeout": item.get("IdleClientTimeout"),
            "debug_logging": bool(item.get("DebugLogging")),
            "vpc_id": text(item.get("VpcId")),
            "vpc_security_group_ids": item.get("VpcSecurityGroupIds") or [],
            "role_arn": text(item.get("RoleArn")),
            "max_connections_percent": pool.get("MaxConnectionsPercent"),
            "max_idle_connections_percent": pool.get("MaxIdleConnectionsPercent"),
            "connection_borrow_timeout": pool.get("ConnectionBorrowTimeout"),
            "session_pinning_filters": pool.get("SessionPinningFilters") or [],
            "created_time": item.get("CreatedDate"),
            "_children": targets,
        }

    yield from stream(PROXIES, ctx.paginate("rds", "describe_db_proxies", "DBProxies"), mapper)
    yield from ctx.tag_problems()
