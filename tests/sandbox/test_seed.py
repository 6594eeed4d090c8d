"""The demo seed builds every kind Estate mirrors, in both accounts and three regions."""

from __future__ import annotations

import pytest

from sandbox.seed import (
    COMPANIONS_PER_1000,
    DEMO_REGIONS,
    PROD,
    STAGING,
    SeedError,
    seed_demo,
    seed_scale,
    seed_scale_companions,
)
from tests.sandbox.helpers import client


@pytest.fixture(scope="module")
def seeded(sandbox_server):
    """One seed for the whole module (it takes a few seconds); reset afterwards."""
    sandbox_server.reset()
    summary = seed_demo(sandbox_server.url)
    yield summary
    sandbox_server.reset()


def _clients(account_id: str):
    """Cached clients: building a boto3 client costs ~100 ms."""
    made: dict[tuple[str, str], object] = {}

    def get(service: str, region: str = "us-east-1"):
        if (service, region) not in made:
            made[(service, region)] = client(service, region, account_id)
        return made[(service, region)]

    return get


@pytest.fixture(scope="module")
def _prod_clients(seeded):
    return _clients(PROD.account_id)


@pytest.fixture(scope="module")
def _staging_clients(seeded):
    return _clients(STAGING.account_id)


@pytest.fixture
def prod(_prod_clients, settings, sandbox_server):
    settings.AWS_ENDPOINT_URL = sandbox_server.url
    return _prod_clients


@pytest.fixture
def staging(_staging_clients, settings, sandbox_server):
    settings.AWS_ENDPOINT_URL = sandbox_server.url
    return _staging_clients


def _tags(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("TagList", [])}


def test_aurora_mysql_cluster_with_readers_custom_endpoints_and_backtrack(prod):
    rds = prod("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders-aurora")["DBClusters"][0]
    members = sorted(
        (m["DBInstanceIdentifier"], m["IsClusterWriter"]) for m in cluster["DBClusterMembers"]
    )
    assert members == [
        ("orders-aurora-1", True),
        ("orders-aurora-2", False),
        ("orders-aurora-3", False),
    ]
    assert cluster["BacktrackWindow"] == 86400
    assert cluster["EarliestBacktrackTime"] > cluster["ClusterCreateTime"]  # backdated 420 days
    assert cluster["DeletionProtection"] is True
    assert _tags(cluster)["service"] == "orders"
    custom = rds.describe_db_cluster_endpoints(
        DBClusterIdentifier="orders-aurora",
        Filters=[{"Name": "db-cluster-endpoint-type", "Values": ["custom"]}],
    )["DBClusterEndpoints"]
    assert {e["DBClusterEndpointIdentifier"] for e in custom} == {
        "orders-analytics",
        "orders-batch",
    }


def test_serverless_v2_global_database_and_clone(prod):
    rds = prod("rds")
    billing = rds.describe_db_clusters(DBClusterIdentifier="billing-aurora-pg")["DBClusters"][0]
    assert billing["ServerlessV2ScalingConfiguration"]["MaxCapacity"] == 16
    assert billing["DeletionProtection"] is False  # deliberate problem
    assert billing["MasterUserSecret"]["SecretArn"]
    globals_ = rds.describe_global_clusters()["GlobalClusters"]
    assert [g["GlobalClusterIdentifier"] for g in globals_] == ["payments-global"]
    members = {
        m["DBClusterArn"].split(":")[3]: m["IsWriter"] for m in globals_[0]["GlobalClusterMembers"]
    }
    assert members == {"us-east-1": True, "us-west-2": False}
    clone = rds.describe_db_clusters(DBClusterIdentifier="orders-aurora-clone-analytics")[
        "DBClusters"
    ][0]
    assert clone["CloneGroupId"]


def test_instances_replicas_custom_and_deliberate_problems(prod, staging):
    rds = prod("rds")
    ledger = rds.describe_db_instances(DBInstanceIdentifier="ledger-pg")["DBInstances"][0]
    assert ledger["MultiAZ"] is True
    assert ledger["DBParameterGroups"][0]["ParameterApplyStatus"] == "pending-reboot"
    dr = prod("rds", "us-west-2").describe_db_instances(DBInstanceIdentifier="ledger-pg-dr")[
        "DBInstances"
    ][0]
    assert dr["ReadReplicaSourceDBInstanceIdentifier"] == ledger["DBInstanceArn"]
    catalog = rds.describe_db_instances(DBInstanceIdentifier="catalog-mysql")["DBInstances"][0]
    assert catalog["ReadReplicaDBInstanceIdentifiers"] == ["catalog-mysql-replica-1"]
    assert catalog["OptionGroupMemberships"][0]["OptionGroupName"] == "catalog-mysql80-audit"
    erp = prod("rds", "eu-west-1").describe_db_instances(DBInstanceIdentifier="erp-sqlserver")[
        "DBInstances"
    ][0]
    assert erp["AutomationMode"] == "all-paused"
    assert erp["DomainMemberships"][0]["Domain"] == "d-9067a1b2c3"
    assert (
        rds.describe_db_instances(DBInstanceIdentifier="reporting-mysql")["DBInstances"][0][
            "StorageEncrypted"
        ]
        is False
    )
    partner = prod("rds", "eu-west-1").describe_db_instances(DBInstanceIdentifier="partner-api-pg")[
        "DBInstances"
    ][0]
    assert partner["PubliclyAccessible"] is True
    audit = rds.describe_db_instances(DBInstanceIdentifier="audit-log-mariadb")["DBInstances"][0]
    assert audit["BackupRetentionPeriod"] == 1
    stale_ca = staging("rds", "eu-west-1").describe_db_instances(
        DBInstanceIdentifier="catalog-mysql-stg"
    )["DBInstances"][0]
    assert stale_ca["CACertificateIdentifier"] == "rds-ca-2019"
    public = staging("rds", "eu-west-1").describe_db_snapshot_attributes(
        DBSnapshotIdentifier="catalog-mysql-stg-refresh-2026-11"
    )["DBSnapshotAttributesResult"]["DBSnapshotAttributes"]
    assert public == [{"AttributeName": "restore", "AttributeValues": ["all"]}]
    # Staging has its own estate, invisible to production
    assert staging("rds").describe_db_instances(DBInstanceIdentifier="ledger-pg-stg")["DBInstances"]


def test_snapshots_manual_automated_and_copied_across_regions(prod):
    rds = prod("rds")
    types = {s["SnapshotType"] for s in rds.describe_db_snapshots()["DBSnapshots"]}
    assert types == {"manual", "automated"}
    cluster_snaps = rds.describe_db_cluster_snapshots(DBClusterIdentifier="orders-aurora")[
        "DBClusterSnapshots"
    ]
    assert {s["SnapshotType"] for s in cluster_snaps} == {"manual", "automated"}
    copied = prod("rds", "us-west-2").describe_db_snapshots(
        DBSnapshotIdentifier="ledger-pg-before-pg16-upgrade-usw2"
    )["DBSnapshots"][0]
    assert copied["SourceRegion"] == "us-east-1"
    shared = rds.describe_db_cluster_snapshot_attributes(
        DBClusterSnapshotIdentifier="orders-aurora-before-schema-v42"
    )["DBClusterSnapshotAttributesResult"]["DBClusterSnapshotAttributes"]
    assert shared == [{"AttributeName": "restore", "AttributeValues": [STAGING.account_id]}]


def test_proxy_parameter_and_option_groups(prod):
    rds = prod("rds")
    proxy = rds.describe_db_proxies(DBProxyName="orders-proxy")["DBProxies"][0]
    assert proxy["RequireTLS"] is True
    rds.describe_db_proxy_targets(DBProxyName="orders-proxy")  # registration settles
    targets = rds.describe_db_proxy_targets(DBProxyName="orders-proxy")["Targets"]
    assert {t.get("Role") for t in targets if t["Type"] == "RDS_INSTANCE"} == {
        "READ_WRITE",
        "READ_ONLY",
    }
    assert len(rds.describe_db_proxy_endpoints(DBProxyName="orders-proxy")["DBProxyEndpoints"]) == 2
    params = rds.describe_db_parameters(DBParameterGroupName="ledger-postgres15")["Parameters"]
    assert {p["ParameterName"] for p in params} >= {"shared_buffers", "log_min_duration_statement"}
    options = rds.describe_option_groups(OptionGroupName="catalog-mysql80-audit")[
        "OptionGroupsList"
    ][0]
    assert [o["OptionName"] for o in options["Options"]] == ["MARIADB_AUDIT_PLUGIN"]


def test_caches(prod, staging):
    ec = prod("elasticache")
    groups = {
        g["ReplicationGroupId"]: g for g in ec.describe_replication_groups()["ReplicationGroups"]
    }
    carts = groups["carts-redis"]
    assert carts["ClusterEnabled"] is True
    assert len(carts["NodeGroups"]) == 3
    assert carts["TransitEncryptionEnabled"] is True
    assert carts["AuthTokenEnabled"] is True
    member = ec.describe_cache_clusters(CacheClusterId="sessions-valkey-001")["CacheClusters"][0]
    group_name = member["CacheParameterGroup"]["CacheParameterGroupName"]
    policy = next(
        p["ParameterValue"]
        for p in ec.describe_cache_parameters(CacheParameterGroupName=group_name)["Parameters"]
        if p["ParameterName"] == "maxmemory-policy"
    )
    assert policy == "volatile-lru"
    memcached = ec.describe_cache_clusters(CacheClusterId="catalog-memcached")["CacheClusters"][0]
    assert memcached["Engine"] == "memcached"
    serverless = staging("elasticache", "eu-west-1").describe_serverless_caches()[
        "ServerlessCaches"
    ]
    assert [c["ServerlessCacheName"] for c in serverless] == ["feature-flags-stg"]


def test_dms(prod):
    dms = prod("dms")
    assert dms.describe_replication_instances()["ReplicationInstances"][0]["MultiAZ"] is True
    endpoints = dms.describe_endpoints()["Endpoints"]
    assert {(e["EndpointType"], e["Status"]) for e in endpoints} == {
        ("SOURCE", "active"),
        ("TARGET", "active"),
    }
    task = dms.describe_replication_tasks()["ReplicationTasks"][0]
    assert task["MigrationType"] == "full-load-and-cdc"
    assert task["Status"] == "running"
    stats = dms.describe_table_statistics(ReplicationTaskArn=task["ReplicationTaskArn"])[
        "TableStatistics"
    ]
    tables = [s["TableName"] for s in stats]
    assert tables == ["orders", "order_items", "customers", "payments", "shipments"]


def test_every_region_of_both_accounts_is_answered(prod, staging):
    for region in DEMO_REGIONS:
        assert prod("rds", region).describe_option_groups()["OptionGroupsList"] is not None
        assert staging("rds", region).describe_db_instances()["DBInstances"] is not None


def test_seeding_twice_is_refused_before_anything_is_created(seeded, sandbox_server, prod):
    before = len(prod("rds").describe_db_instances()["DBInstances"])
    with pytest.raises(SeedError, match="already holds the demo estate"):
        seed_demo(sandbox_server.url)
    assert len(prod("rds").describe_db_instances()["DBInstances"]) == before


def test_seed_scale_adds_instances_and_clusters(sandbox):
    summary = seed_scale(40, accounts=[PROD.account_id], regions=["eu-west-1"])
    assert summary.counts["db cluster"] == 4
    assert summary.counts["db instance"] + summary.counts["db instance (cluster member)"] == 40
    rds = client("rds", "eu-west-1", PROD.account_id)
    instances = list(rds.get_paginator("describe_db_instances").paginate())
    listed = [i for page in instances for i in page["DBInstances"]]
    assert len(listed) == 40
    assert len({i["DbiResourceId"] for i in listed}) == 40
    assert len(rds.describe_db_clusters()["DBClusters"]) == 4


def test_seed_scale_companions_add_every_other_kind_tagged(sandbox):
    seed_scale(200, accounts=[PROD.account_id], regions=["eu-west-1"])
    summary = seed_scale_companions(
        sandbox.url, 1000, accounts=[PROD.account_id], regions=["eu-west-1"]
    )
    assert summary.counts == COMPANIONS_PER_1000
    get = _clients(PROD.account_id)
    listed = _listed_tags(get, "eu-west-1")
    ec = get("elasticache", "eu-west-1")
    groups = ec.describe_replication_groups()["ReplicationGroups"]
    assert len(groups) == COMPANIONS_PER_1000["cache replication group (2 nodes)"]
    assert all(listed[g["ARN"]]["team"] == "perf" for g in groups)
    tasks = get("dms", "eu-west-1").describe_replication_tasks()["ReplicationTasks"]
    assert len(tasks) == COMPANIONS_PER_1000["dms replication task"]
    assert all(listed[t["ReplicationTaskArn"]]["team"] == "perf" for t in tasks)
    proxies = get("rds", "eu-west-1").describe_db_proxies()["DBProxies"]
    assert len(proxies) == COMPANIONS_PER_1000["db proxy (with a proxy endpoint)"]


def test_seed_scale_refuses_impossible_requests(sandbox):
    with pytest.raises(ValueError, match="clusters need"):
        seed_scale(10, clusters=6)


def _listed_tags(get, region: str) -> dict[str, dict[str, str]]:
    pages = get("resourcegroupstaggingapi", region).get_paginator("get_resources")
    return {
        item["ResourceARN"]: {t["Key"]: t["Value"] for t in item["Tags"]}
        for page in pages.paginate()
        for item in page["ResourceTagMappingList"]
    }


def test_every_demo_resource_aws_can_tag_carries_tags(prod, staging):
    for get in (prod, staging):
        for region in DEMO_REGIONS:
            rds, ec, dms = get("rds", region), get("elasticache", region), get("dms", region)
            # Kinds whose describe answers carry TagList.
            described = [
                *rds.describe_db_instances()["DBInstances"],
                *rds.describe_db_clusters()["DBClusters"],
                *rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"],
                *rds.describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"],
            ]
            for resource in described:
                assert "team" in _tags(resource), resource.get("DBInstanceIdentifier", resource)
            # The others, as the tagging API reports them.
            listed = _listed_tags(get, region)
            arns = [
                *(
                    g["DBParameterGroupArn"]
                    for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
                    if not g["DBParameterGroupName"].startswith("default.")
                ),
                *(
                    g["DBClusterParameterGroupArn"]
                    for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]
                    if not g["DBClusterParameterGroupName"].startswith("default.")
                ),
                *(p["DBProxyArn"] for p in rds.describe_db_proxies()["DBProxies"]),
                *(
                    e["DBProxyEndpointArn"]
                    for e in rds.describe_db_proxy_endpoints()["DBProxyEndpoints"]
                    if not e["IsDefault"]
                ),
                *(
                    e["DBClusterEndpointArn"]
                    for e in rds.describe_db_cluster_endpoints()["DBClusterEndpoints"]
                    if e["EndpointType"] == "CUSTOM"
                ),
                *(g["ARN"] for g in ec.describe_replication_groups()["ReplicationGroups"]),
                *(c["ARN"] for c in ec.describe_cache_clusters()["CacheClusters"]),
                *(c["ARN"] for c in ec.describe_serverless_caches()["ServerlessCaches"]),
                *(
                    g["ARN"]
                    for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]
                    if not g["CacheParameterGroupName"].startswith("default.")
                ),
                *(
                    i["ReplicationInstanceArn"]
                    for i in dms.describe_replication_instances()["ReplicationInstances"]
                ),
                *(e["EndpointArn"] for e in dms.describe_endpoints()["Endpoints"]),
                *(
                    t["ReplicationTaskArn"]
                    for t in dms.describe_replication_tasks()["ReplicationTasks"]
                ),
            ]
            for arn in arns:
                assert "team" in listed.get(arn, {}), arn
    groups = prod("rds").describe_global_clusters()["GlobalClusters"]
    assert all("team" in _tags(g) for g in groups)
