"""Plain builder functions for mirror rows, shared by every app's tests.

Each ``make_*`` fills realistic defaults (AWS-shaped ARNs, engines, statuses) and takes
any model field as a keyword to override. Identifiers default to a unique sequence so
tests can call a builder many times. ``make_demo_estate()`` builds a small but complete
estate (Aurora with readers, custom endpoint and proxy, a global database, replicas,
caches, DMS) for page and browser tests.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from estate import models

_seq = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


def _account_id() -> str:
    return f"{100000000000 + next(_seq):012d}"


def make_account(**kw: Any) -> models.Account:
    account_id = kw.pop("account_id", None) or _account_id()
    defaults: dict[str, Any] = {
        "account_id": account_id,
        "name": kw.pop("name", None) or _next("account"),
        "environment": models.Environment.DEVELOPMENT,
        "role_arn": f"arn:aws:iam::{account_id}:role/EstateReadOnly",
        "regions": ["us-east-1"],
    }
    defaults.update(kw)
    return models.Account.objects.create(**defaults)


def _account(account: models.Account | None) -> models.Account:
    return account if account is not None else make_account()


def rds_arn(account: models.Account, region: str, kind: str, identifier: str) -> str:
    return f"arn:aws:rds:{region}:{account.account_id}:{kind}:{identifier}"


def make_global_cluster(account: models.Account | None = None, **kw: Any) -> models.GlobalCluster:
    account = _account(account)
    identifier = kw.pop("identifier", None) or _next("global")
    defaults: dict[str, Any] = {
        "account": account,
        "region": "us-east-1",
        "identifier": identifier,
        "arn": f"arn:aws:rds::{account.account_id}:global-cluster:{identifier}",
        "status": "available",
        "engine": "aurora-postgresql",
        "engine_version": "16.4",
        "storage_encrypted": True,
    }
    defaults.update(kw)
    return models.GlobalCluster.objects.create(**defaults)


def make_cluster(account: models.Account | None = None, **kw: Any) -> models.DbCluster:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("cluster")
    now = timezone.now()
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": rds_arn(account, region, "cluster", identifier),
        "status": "available",
        "engine": "aurora-postgresql",
        "engine_mode": "provisioned",
        "engine_version": "16.4",
        "endpoint": f"{identifier}.cluster-abc.{region}.rds.amazonaws.com",
        "reader_endpoint": f"{identifier}.cluster-ro-abc.{region}.rds.amazonaws.com",
        "port": 5432,
        "availability_zones": [f"{region}a", f"{region}b", f"{region}c"],
        "earliest_restorable_time": now - timedelta(days=7),
        "latest_restorable_time": now - timedelta(minutes=5),
        "backup_retention_period": 7,
        "preferred_backup_window": "03:00-04:00",
        "storage_encrypted": True,
        "deletion_protection": True,
        "parameter_group_name": "default.aurora-postgresql16",
        "created_time": now - timedelta(days=90),
    }
    defaults.update(kw)
    return models.DbCluster.objects.create(**defaults)


def make_instance(account: models.Account | None = None, **kw: Any) -> models.DbInstance:
    """A DB instance; pass ``cluster=`` to make it an Aurora member (its account, region
    and engine follow the cluster, and the cluster's ``members`` list is updated)."""
    cluster: models.DbCluster | None = kw.get("cluster")
    if cluster is not None:
        account = cluster.account
        kw.setdefault("region", cluster.region)
        kw.setdefault("engine", cluster.engine)
        kw.setdefault("engine_version", cluster.engine_version)
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("db")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": rds_arn(account, region, "db", identifier),
        "status": "available",
        "instance_class": "db.r6g.large",
        "engine": "postgres",
        "engine_version": "16.4",
        "availability_zone": f"{region}a",
        "endpoint_address": f"{identifier}.abc.{region}.rds.amazonaws.com",
        "port": 5432,
        "backup_retention_period": 7,
        "storage_encrypted": True,
        "allocated_storage": 100,
        "storage_type": "gp3",
        "ca_certificate_identifier": "rds-ca-rsa2048-g1",
        "ca_certificate_valid_till": timezone.now() + timedelta(days=400),
        "parameter_groups": [{"name": "default.postgres16", "status": "in-sync"}],
        "dbi_resource_id": f"db-{identifier.upper()}",
        "created_time": timezone.now() - timedelta(days=60),
    }
    defaults.update(kw)
    instance = models.DbInstance.objects.create(**defaults)
    if cluster is not None:
        cluster.members = [
            *cluster.members,
            {
                "identifier": instance.identifier,
                "is_writer": instance.is_cluster_writer,
                "promotion_tier": instance.promotion_tier,
                "parameter_group_status": "in-sync",
            },
        ]
        cluster.save(update_fields=["members"])
    return instance


def make_endpoint(
    *,
    kind: str,
    cluster: models.DbCluster | None = None,
    instance: models.DbInstance | None = None,
    proxy: models.DbProxy | None = None,
    **kw: Any,
) -> models.DbEndpoint:
    owner: Any = cluster or instance or proxy
    assert owner is not None, "an endpoint belongs to a cluster, an instance or a proxy"
    identifier = kw.pop("identifier", None) or (
        _next("custom") if kind == models.EndpointKind.CUSTOM else f"{owner.identifier}-{kind}"
    )
    if kind == models.EndpointKind.CUSTOM:
        arn = rds_arn(owner.account, owner.region, "cluster-endpoint", identifier)
    elif kind == models.EndpointKind.PROXY_ENDPOINT:
        arn = rds_arn(owner.account, owner.region, "db-proxy-endpoint", identifier)
    else:
        arn = f"{owner.arn}/endpoint/{kind}"
    defaults: dict[str, Any] = {
        "account": owner.account,
        "region": owner.region,
        "identifier": identifier,
        "arn": arn,
        "status": "available",
        "kind": kind,
        "address": f"{identifier}.endpoint.{owner.region}.rds.amazonaws.com",
        "port": 5432,
        "cluster": cluster,
        "instance": instance,
        "proxy": proxy,
    }
    defaults.update(kw)
    return models.DbEndpoint.objects.create(**defaults)


def make_cluster_endpoints(cluster: models.DbCluster) -> list[models.DbEndpoint]:
    """The writer and reader endpoints every Aurora cluster has."""
    return [
        make_endpoint(
            kind=models.EndpointKind.CLUSTER_WRITER, cluster=cluster, address=cluster.endpoint
        ),
        make_endpoint(
            kind=models.EndpointKind.CLUSTER_READER,
            cluster=cluster,
            address=cluster.reader_endpoint,
        ),
    ]


def make_proxy(account: models.Account | None = None, **kw: Any) -> models.DbProxy:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("proxy")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": rds_arn(account, region, "db-proxy", f"prx-{identifier}"),
        "status": "available",
        "engine_family": "POSTGRESQL",
        "endpoint": f"{identifier}.proxy-abc.{region}.rds.amazonaws.com",
        "require_tls": True,
        "auth": [{"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED", "SecretArn": "arn:secret"}],
        "idle_client_timeout": 1800,
        "max_connections_percent": 90,
        "max_idle_connections_percent": 50,
        "connection_borrow_timeout": 120,
    }
    defaults.update(kw)
    return models.DbProxy.objects.create(**defaults)


def make_proxy_target(
    proxy: models.DbProxy,
    *,
    cluster: models.DbCluster | None = None,
    instance: models.DbInstance | None = None,
    **kw: Any,
) -> models.DbProxyTarget:
    if cluster is not None:
        defaults: dict[str, Any] = {
            "target_type": "TRACKED_CLUSTER",
            "rds_resource_id": cluster.identifier,
            "endpoint": cluster.endpoint,
        }
    elif instance is not None:
        defaults = {
            "target_type": "RDS_INSTANCE",
            "rds_resource_id": instance.identifier,
            "endpoint": instance.endpoint_address,
            "role": "READ_WRITE" if instance.is_cluster_writer else "READ_ONLY",
        }
    else:
        raise ValueError("a proxy target points at a cluster or an instance")
    defaults.update(
        {"proxy": proxy, "cluster": cluster, "instance": instance, "health_state": "AVAILABLE"}
    )
    defaults.update(kw)
    return models.DbProxyTarget.objects.create(**defaults)


def make_snapshot(
    *,
    cluster: models.DbCluster | None = None,
    instance: models.DbInstance | None = None,
    **kw: Any,
) -> models.DbSnapshot:
    owner: Any = cluster or instance
    account = kw.pop("account", None) or (owner.account if owner else make_account())
    region = kw.pop("region", None) or (owner.region if owner else "us-east-1")
    snapshot_type = kw.get("snapshot_type", "manual")
    identifier = kw.pop("identifier", None) or _next(
        f"rds:{owner.identifier}" if owner and snapshot_type == "automated" else "snap"
    )
    scope = models.DbSnapshot.Scope.CLUSTER if cluster else models.DbSnapshot.Scope.INSTANCE
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": rds_arn(
            account,
            region,
            "cluster-snapshot" if scope == models.DbSnapshot.Scope.CLUSTER else "snapshot",
            identifier,
        ),
        "status": "available",
        "scope": scope,
        "snapshot_type": "manual",
        "source_identifier": owner.identifier if owner else "",
        "engine": owner.engine if owner else "postgres",
        "created_time": timezone.now() - timedelta(days=1),
        "allocated_storage": 100,
        "encrypted": True,
        "cluster": cluster,
        "instance": instance,
    }
    defaults.update(kw)
    return models.DbSnapshot.objects.create(**defaults)


def make_parameter_group(
    account: models.Account | None = None,
    *,
    parameters: dict[str, str | None] | None = None,
    modified: tuple[str, ...] | list[str] = (),
    **kw: Any,
) -> models.ParameterGroup:
    """A parameter group with ``parameters`` {name: value}; names in ``modified`` get
    source "user" (what AWS reports for a value someone set)."""
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("pg")
    scope = kw.get("scope", models.ParameterGroup.Scope.INSTANCE)
    arn_kind = {"db": "pg", "cluster": "cluster-pg", "cache": "parametergroup"}[scope]
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": (
            f"arn:aws:elasticache:{region}:{account.account_id}:parametergroup:{identifier}"
            if scope == "cache"
            else rds_arn(account, region, arn_kind, identifier)
        ),
        "scope": scope,
        "family": "postgres16",
        "description": f"{identifier} parameters",
    }
    defaults.update(kw)
    group = models.ParameterGroup.objects.create(**defaults)
    models.Parameter.objects.bulk_create(
        models.Parameter(
            group=group,
            name=name,
            value=value,
            source="user" if name in modified else "engine-default",
            apply_type="dynamic",
        )
        for name, value in (parameters or {}).items()
    )
    return group


def make_option_group(account: models.Account | None = None, **kw: Any) -> models.OptionGroup:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("og")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": rds_arn(account, region, "og", identifier),
        "engine": "mysql",
        "major_engine_version": "8.0",
        "description": "options",
        "options": [],
    }
    defaults.update(kw)
    return models.OptionGroup.objects.create(**defaults)


def _cache_arn(account: models.Account, region: str, kind: str, identifier: str) -> str:
    return f"arn:aws:elasticache:{region}:{account.account_id}:{kind}:{identifier}"


def make_replication_group(
    account: models.Account | None = None, *, shards: int = 1, replicas: int = 1, **kw: Any
) -> models.CacheReplicationGroup:
    """A Redis/Valkey replication group with ``shards`` node groups of one primary and
    ``replicas`` replicas each (node groups as AWS describes them)."""
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("cache")
    azs = [f"{region}a", f"{region}b", f"{region}c"]
    node_groups = []
    members = []
    for shard in range(shards):
        shard_members = []
        for n in range(replicas + 1):
            cache_cluster_id = f"{identifier}-{shard + 1:04d}-{n + 1:03d}"
            members.append(cache_cluster_id)
            shard_members.append(
                {
                    "cache_cluster_id": cache_cluster_id,
                    "node_id": "0001",
                    "role": "primary" if n == 0 else "replica",
                    "az": azs[n % len(azs)],
                    "endpoint": f"{cache_cluster_id}.abc.cache.amazonaws.com:6379",
                }
            )
        node_groups.append(
            {
                "id": f"{shard + 1:04d}",
                "status": "available",
                "slots": "0-16383" if shards == 1 else "",
                "primary_endpoint": f"{identifier}.abc.ng.0001.cache.amazonaws.com:6379",
                "reader_endpoint": f"{identifier}-ro.abc.ng.0001.cache.amazonaws.com:6379",
                "members": shard_members,
            }
        )
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _cache_arn(account, region, "replicationgroup", identifier),
        "status": "available",
        "engine": "redis",
        "engine_version": "7.1",
        "description": f"{identifier} cache",
        "node_type": "cache.r7g.large",
        "cluster_mode": "enabled" if shards > 1 else "disabled",
        "cluster_enabled": shards > 1,
        "multi_az": replicas > 0,
        "automatic_failover": "enabled" if replicas > 0 else "disabled",
        "transit_encryption": True,
        "at_rest_encryption": True,
        "auth_token_enabled": True,
        "snapshot_retention_limit": 5,
        "primary_endpoint": "" if shards > 1 else f"{identifier}.abc.cache.amazonaws.com",
        "reader_endpoint": "" if shards > 1 else f"{identifier}-ro.abc.cache.amazonaws.com",
        "configuration_endpoint": f"{identifier}.cfg.abc.cache.amazonaws.com" if shards > 1 else "",
        "port": 6379,
        "parameter_group_name": "default.redis7",
        "node_groups": node_groups,
        "member_clusters": members,
    }
    defaults.update(kw)
    return models.CacheReplicationGroup.objects.create(**defaults)


def make_cache_cluster(account: models.Account | None = None, **kw: Any) -> models.CacheCluster:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("memcached")
    num_nodes = kw.pop("num_nodes", 2)
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _cache_arn(account, region, "cluster", identifier),
        "status": "available",
        "engine": "memcached",
        "engine_version": "1.6.22",
        "node_type": "cache.t4g.medium",
        "num_nodes": num_nodes,
        "availability_zone": f"{region}a",
        "configuration_endpoint": f"{identifier}.cfg.abc.cache.amazonaws.com:11211",
        "nodes": [
            {"id": f"{n + 1:04d}", "status": "available", "az": f"{region}a", "endpoint": ""}
            for n in range(num_nodes)
        ],
    }
    defaults.update(kw)
    return models.CacheCluster.objects.create(**defaults)


def make_serverless_cache(
    account: models.Account | None = None, **kw: Any
) -> models.ServerlessCache:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("serverless")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _cache_arn(account, region, "serverlesscache", identifier),
        "status": "available",
        "engine": "valkey",
        "major_engine_version": "8",
        "endpoint": f"{identifier}.serverless.cache.amazonaws.com:6379",
        "snapshot_retention_limit": 1,
    }
    defaults.update(kw)
    return models.ServerlessCache.objects.create(**defaults)


def _dms_arn(account: models.Account, region: str, kind: str, identifier: str) -> str:
    return f"arn:aws:dms:{region}:{account.account_id}:{kind}:{identifier.upper()}"


def make_dms_instance(
    account: models.Account | None = None, **kw: Any
) -> models.DmsReplicationInstance:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("dms-ri")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _dms_arn(account, region, "rep", identifier),
        "status": "available",
        "instance_class": "dms.r5.large",
        "engine_version": "3.5.3",
        "availability_zone": f"{region}a",
        "allocated_storage": 50,
    }
    defaults.update(kw)
    return models.DmsReplicationInstance.objects.create(**defaults)


def make_dms_endpoint(account: models.Account | None = None, **kw: Any) -> models.DmsEndpoint:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("dms-ep")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _dms_arn(account, region, "endpoint", identifier),
        "status": "active",
        "endpoint_type": "source",
        "engine_name": "postgres",
        "server_name": f"{identifier}.example.internal",
        "port": 5432,
        "database_name": "app",
        "ssl_mode": "require",
    }
    defaults.update(kw)
    return models.DmsEndpoint.objects.create(**defaults)


def make_dms_task(account: models.Account | None = None, **kw: Any) -> models.DmsReplicationTask:
    account = _account(account)
    region = kw.pop("region", "us-east-1")
    identifier = kw.pop("identifier", None) or _next("dms-task")
    defaults: dict[str, Any] = {
        "account": account,
        "region": region,
        "identifier": identifier,
        "arn": _dms_arn(account, region, "task", identifier),
        "status": "running",
        "migration_type": "full-load-and-cdc",
        "progress_percent": 42,
        "table_statistics_summary": {"tables": 12, "full_load_rows": 120000, "errored": 0},
        "started_time": timezone.now() - timedelta(hours=2),
    }
    defaults.update(kw)
    return models.DmsReplicationTask.objects.create(**defaults)


def make_sync_run(**kw: Any) -> models.SyncRun:
    now = timezone.now()
    defaults: dict[str, Any] = {
        "started_at": now - timedelta(seconds=30),
        "finished_at": now,
        "status": "succeeded",
        "counts": {"db_instance": {"created": 1, "updated": 0, "unchanged": 3, "gone": 0}},
        "api_calls": 24,
        "triggered_by": "schedule",
    }
    defaults.update(kw)
    return models.SyncRun.objects.create(**defaults)


def make_aurora_family(
    account: models.Account | None = None,
    *,
    readers: int = 2,
    region: str = "us-east-1",
    identifier: str | None = None,
    with_proxy: bool = True,
    with_custom_endpoint: bool = True,
    **cluster_kw: Any,
) -> dict[str, Any]:
    """An Aurora cluster with a writer, ``readers`` readers (spread over AZs), its
    writer/reader/instance endpoints, a custom endpoint over the readers, and an RDS
    Proxy tracking it. Returns the pieces by name."""
    account = _account(account)
    identifier = identifier or _next("aurora")
    cluster = make_cluster(account, region=region, identifier=identifier, **cluster_kw)
    azs = cluster.availability_zones or [f"{region}a"]
    writer = make_instance(
        cluster=cluster,
        identifier=f"{identifier}-1",
        is_cluster_writer=True,
        promotion_tier=1,
        availability_zone=azs[0],
    )
    reader_rows = [
        make_instance(
            cluster=cluster,
            identifier=f"{identifier}-{n + 2}",
            promotion_tier=n + 2 if n < 14 else 15,
            availability_zone=azs[(n + 1) % len(azs)],
        )
        for n in range(readers)
    ]
    endpoints = make_cluster_endpoints(cluster)
    for inst in [writer, *reader_rows]:
        endpoints.append(
            make_endpoint(
                kind=models.EndpointKind.INSTANCE, instance=inst, address=inst.endpoint_address
            )
        )
    custom = None
    if with_custom_endpoint and reader_rows:
        custom = make_endpoint(
            kind=models.EndpointKind.CUSTOM,
            cluster=cluster,
            identifier=f"{identifier}-analytics",
            custom_type="READER",
            static_members=[r.identifier for r in reader_rows[:2]],
        )
    proxy = None
    if with_proxy:
        proxy = make_proxy(account, region=region, identifier=f"{identifier}-proxy")
        make_proxy_target(proxy, cluster=cluster)
        make_proxy_target(proxy, instance=writer, role="READ_WRITE")
        for r in reader_rows:
            make_proxy_target(proxy, instance=r, role="READ_ONLY")
        make_endpoint(kind=models.EndpointKind.PROXY, proxy=proxy, address=proxy.endpoint)
    return {
        "account": account,
        "cluster": cluster,
        "writer": writer,
        "readers": reader_rows,
        "endpoints": endpoints,
        "custom_endpoint": custom,
        "proxy": proxy,
    }


def make_demo_estate() -> dict[str, Any]:
    """A small, realistic estate across two accounts and two regions."""
    prod = make_account(
        name="payments-prod",
        environment=models.Environment.PRODUCTION,
        regions=["us-east-1", "eu-west-1"],
    )
    dev = make_account(name="sandbox-dev", regions=["us-east-1"])
    orders = make_aurora_family(
        prod,
        identifier="orders",
        readers=2,
        tags={"team": "orders", "tier": "1"},
        parameter_group_name="orders-pg16",
    )
    make_snapshot(cluster=orders["cluster"], snapshot_type="automated")
    make_snapshot(cluster=orders["cluster"], identifier="orders-before-migration")

    global_cluster = make_global_cluster(
        prod,
        identifier="ledger-global",
        members=[
            {
                "cluster_arn": rds_arn(prod, "us-east-1", "cluster", "ledger-use1"),
                "region": "us-east-1",
                "is_writer": True,
            },
            {
                "cluster_arn": rds_arn(prod, "eu-west-1", "cluster", "ledger-euw1"),
                "region": "eu-west-1",
                "is_writer": False,
                "synchronization_status": "connected",
            },
        ],
    )
    primary = make_aurora_family(
        prod,
        identifier="ledger-use1",
        readers=1,
        with_proxy=False,
        with_custom_endpoint=False,
        global_cluster=global_cluster,
        is_global_writer=True,
        tags={"team": "ledger"},
    )
    secondary = make_aurora_family(
        prod,
        identifier="ledger-euw1",
        region="eu-west-1",
        readers=1,
        with_proxy=False,
        with_custom_endpoint=False,
        global_cluster=global_cluster,
        tags={"team": "ledger"},
    )
    clone = make_cluster(
        dev,
        identifier="orders-clone-qa",
        clone_source=orders["cluster"],
        clone_group_id="cg-1",
        deletion_protection=False,
        tags={"team": "orders"},
    )
    legacy = make_instance(
        prod,
        identifier="legacy-mysql",
        engine="mysql",
        engine_version="8.0.36",
        multi_az=True,
        secondary_availability_zone="us-east-1b",
        port=3306,
        tags={"team": "billing"},
        read_replica_identifiers=["legacy-mysql-replica"],
    )
    replica = make_instance(
        prod,
        identifier="legacy-mysql-replica",
        engine="mysql",
        engine_version="8.0.36",
        region="eu-west-1",
        replica_source=legacy,
        replica_source_identifier=legacy.arn,
        storage_encrypted=False,
        tags={"team": "billing"},
    )
    reporting = make_instance(
        dev,
        identifier="reporting-pg",
        status="stopped",
        publicly_accessible=True,
        backup_retention_period=1,
        tags={"team": "data"},
    )
    sessions = make_replication_group(
        prod, identifier="web-sessions", replicas=2, tags={"purpose": "sessions"}
    )
    make_parameter_group(
        prod,
        identifier="default.redis7",
        scope="cache",
        family="redis7",
        parameters={"maxmemory-policy": "volatile-lru"},
    )
    memcached = make_cache_cluster(dev, identifier="page-cache")
    source_ep = make_dms_endpoint(prod, identifier="legacy-source", engine_name="mysql")
    target_ep = make_dms_endpoint(
        prod, identifier="aurora-target", endpoint_type="target", engine_name="aurora-postgresql"
    )
    dms_instance = make_dms_instance(prod, identifier="migration-ri")
    task = make_dms_task(
        prod,
        identifier="legacy-to-aurora",
        source_endpoint=source_ep,
        target_endpoint=target_ep,
        replication_instance=dms_instance,
    )
    make_parameter_group(
        prod,
        identifier="orders-pg16",
        scope="cluster",
        family="aurora-postgresql16",
        parameters={
            "log_min_duration_statement": "500",
            "work_mem": "65536",
            "rds.force_ssl": "1",
        },
        modified=["log_min_duration_statement", "work_mem", "rds.force_ssl"],
    )
    make_parameter_group(
        prod,
        identifier="default.aurora-postgresql16",
        scope="cluster",
        family="aurora-postgresql16",
        parameters={"log_min_duration_statement": "-1", "work_mem": "4096", "rds.force_ssl": "0"},
    )
    make_sync_run()
    return {
        "prod": prod,
        "dev": dev,
        "orders": orders,
        "global_cluster": global_cluster,
        "ledger_primary": primary,
        "ledger_secondary": secondary,
        "clone": clone,
        "legacy": legacy,
        "replica": replica,
        "reporting": reporting,
        "sessions": sessions,
        "memcached": memcached,
        "dms_task": task,
    }


def make_user(username: str | None = None, *, role: str | None = None, **kw: Any):
    """A user holding ``role`` (Viewer/Operator/Admin; None = no role). The role's
    group is (re)created with its permissions if missing, so this works even after a
    transactional test flushed the groups the data migration made."""
    from django.contrib.auth.models import Group, Permission, User

    from estate.roles import ROLE_PERMS

    user = User.objects.create_user(
        username=username or _next("user"), password=kw.pop("password", "pw"), **kw
    )
    if role is not None:
        group, created = Group.objects.get_or_create(name=role)
        if created or not group.permissions.exists():
            for perm in ROLE_PERMS[role]:
                app_label, codename = perm.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )
        user.groups.add(group)
    return user
