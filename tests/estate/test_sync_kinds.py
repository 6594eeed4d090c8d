"""Each kind's fields, as sync maps them from the sandbox (boto3 seeding, small)."""

from __future__ import annotations

import pytest

from estate.models import (
    CacheCluster,
    CacheReplicationGroup,
    DbCluster,
    DbEndpoint,
    DbInstance,
    DbProxy,
    DbSnapshot,
    DmsEndpoint,
    DmsReplicationInstance,
    DmsReplicationTask,
    EndpointKind,
    GlobalCluster,
    OptionGroup,
    ParameterGroup,
    ServerlessCache,
    SyncRun,
)
from estate.sync import sync_scope
from tests.factories.sandbox import (
    OTHER_REGION,
    PROD,
    REGION,
    STAGING,
    capture,
    client,
    create_aurora,
    create_instance,
    make_account,
    mirror_writes,
)

pytestmark = pytest.mark.django_db


def _synced(kinds: list[str]) -> SyncRun:
    run = sync_scope(kinds=kinds)
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    # Every kind is idempotent: a second pass writes no mirror row.
    with capture() as ctx:
        again = sync_scope(kinds=kinds)
    assert mirror_writes(ctx) == []
    assert again.total("updated") == again.total("created") == 0
    return run


def test_global_cluster_lives_in_its_writers_region_and_links_both_members(sandbox):
    # Given a global database: primary in eu-west-1, secondary in us-east-1
    make_account(PROD, regions=[REGION, OTHER_REGION])
    primary = client(PROD, REGION, "rds")
    primary.create_global_cluster(
        GlobalClusterIdentifier="payments-global",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        DeletionProtection=True,
    )
    create_aurora(primary, "payments-eu", members=1, GlobalClusterIdentifier="payments-global")
    secondary = client(PROD, OTHER_REGION, "rds")
    secondary.create_db_cluster(
        DBClusterIdentifier="payments-us",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        GlobalClusterIdentifier="payments-global",
    )
    secondary.describe_db_clusters()
    # When both regions are synced
    _synced(["global_clusters", "clusters"])
    # Then the global cluster is mirrored once, under the writer's region
    gc = GlobalCluster.objects.get()
    assert gc.region == REGION
    assert gc.writer_region == REGION
    assert gc.deletion_protection is True
    assert {m["region"] for m in gc.members} == {REGION, OTHER_REGION}
    # And both regional clusters link to it; only the primary is the global writer
    eu = DbCluster.objects.get(identifier="payments-eu")
    us = DbCluster.objects.get(identifier="payments-us")
    assert eu.global_cluster == gc
    assert us.global_cluster == gc
    assert eu.is_global_writer is True
    assert us.is_global_writer is False


def test_endpoints_writer_reader_custom_and_instance(sandbox):
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    create_aurora(rds, "orders", members=2)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders",
        DBClusterEndpointIdentifier="orders-analytics",
        EndpointType="READER",
        StaticMembers=["orders-2"],
    )
    _synced(["clusters", "instances", "endpoints"])
    cluster = DbCluster.objects.get()
    endpoints = {e.kind: e for e in DbEndpoint.objects.exclude(kind=EndpointKind.INSTANCE)}
    assert set(endpoints) == {"writer", "reader", "custom"}
    writer = endpoints["writer"]
    assert writer.arn == f"{cluster.arn}/endpoint/writer"
    assert writer.address == cluster.endpoint
    assert writer.cluster == cluster
    assert writer.port == 3306
    assert endpoints["reader"].address == cluster.reader_endpoint
    custom = endpoints["custom"]
    assert custom.identifier == "orders-analytics"
    assert custom.arn.startswith(f"arn:aws:rds:{REGION}:{PROD}:cluster-endpoint:")
    assert custom.custom_type == "READER"
    assert custom.static_members == ["orders-2"]
    assert custom.cluster == cluster
    instance_endpoints = DbEndpoint.objects.filter(kind=EndpointKind.INSTANCE)
    assert {e.instance.identifier for e in instance_endpoints} == {"orders-1", "orders-2"}
    # When the custom endpoint is deleted it is marked gone, the rest untouched
    rds.delete_db_cluster_endpoint(DBClusterEndpointIdentifier="orders-analytics")
    run = sync_scope(kinds=["endpoints"])
    assert run.counts["endpoints"]["gone"] == 1
    assert DbEndpoint.objects.gone().get().identifier == "orders-analytics"


def _proxy_estate() -> None:
    ec2 = client(PROD, REGION, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    secret = client(PROD, REGION, "secretsmanager").create_secret(
        Name="orders/proxy", SecretString='{"username":"app","password":"pw"}'
    )["ARN"]
    rds = client(PROD, REGION, "rds")
    create_aurora(rds, "orders", members=2)
    rds.create_db_proxy(
        DBProxyName="orders-proxy",
        EngineFamily="MYSQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "REQUIRED"}],
        RoleArn=f"arn:aws:iam::{PROD}:role/rds-proxy",
        VpcSubnetIds=subnets,
        RequireTLS=True,
        IdleClientTimeout=900,
    )
    rds.register_db_proxy_targets(DBProxyName="orders-proxy", DBClusterIdentifiers=["orders"])
    rds.describe_db_proxy_targets(DBProxyName="orders-proxy")  # registration settles
    rds.create_db_proxy_endpoint(
        DBProxyName="orders-proxy",
        DBProxyEndpointName="orders-ro",
        VpcSubnetIds=subnets,
        TargetRole="READ_ONLY",
    )


def test_proxy_with_pool_settings_targets_and_endpoints(sandbox):
    make_account(PROD)
    _proxy_estate()
    _synced(["clusters", "instances", "proxies", "endpoints"])
    proxy = DbProxy.objects.get()
    assert proxy.identifier == "orders-proxy"
    assert proxy.engine_family == "MYSQL"
    assert proxy.require_tls is True
    assert proxy.iam_auth_required is True
    assert proxy.idle_client_timeout == 900
    assert proxy.max_connections_percent is not None
    targets = {(t.target_type, t.rds_resource_id): t for t in proxy.targets.all()}
    cluster = DbCluster.objects.get()
    assert targets[("TRACKED_CLUSTER", "orders")].cluster == cluster
    writer = targets[("RDS_INSTANCE", "orders-1")]
    assert writer.role == "READ_WRITE"
    assert writer.instance == DbInstance.objects.get(identifier="orders-1")
    assert writer.health_state == "AVAILABLE"
    assert targets[("RDS_INSTANCE", "orders-2")].role == "READ_ONLY"
    default = DbEndpoint.objects.get(kind=EndpointKind.PROXY)
    assert default.proxy == proxy
    assert default.address == proxy.endpoint
    extra = DbEndpoint.objects.get(kind=EndpointKind.PROXY_ENDPOINT)
    assert extra.identifier == "orders-ro"
    assert extra.target_role == "READ_ONLY"
    assert extra.proxy == proxy


def test_snapshots_manual_automated_cluster_and_sharing(sandbox):
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    create_instance(rds, "billing", BackupRetentionPeriod=7)
    create_aurora(rds, "orders", members=1)
    rds.create_db_snapshot(DBSnapshotIdentifier="billing-shared", DBInstanceIdentifier="billing")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="billing-shared", AttributeName="restore", ValuesToAdd=[STAGING]
    )
    rds.create_db_snapshot(DBSnapshotIdentifier="billing-public", DBInstanceIdentifier="billing")
    rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="billing-public", AttributeName="restore", ValuesToAdd=["all"]
    )
    rds.create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier="orders-manual", DBClusterIdentifier="orders"
    )
    _synced(["clusters", "instances", "snapshots"])
    shared = DbSnapshot.objects.get(identifier="billing-shared")
    assert shared.scope == "instance"
    assert shared.snapshot_type == "manual"
    assert shared.shared_with == [STAGING]
    assert shared.is_public is False
    assert shared.instance == DbInstance.objects.get(identifier="billing")
    assert shared.engine == "postgres"
    assert shared.created_time is not None
    assert DbSnapshot.objects.get(identifier="billing-public").is_public is True
    cluster_snap = DbSnapshot.objects.get(identifier="orders-manual")
    assert cluster_snap.scope == "cluster"
    assert cluster_snap.cluster == DbCluster.objects.get()
    automated = DbSnapshot.objects.filter(snapshot_type="automated")
    assert automated.exists()


def test_parameter_groups_read_parameters_of_custom_groups_only(sandbox):
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    rds.create_db_parameter_group(
        DBParameterGroupName="billing-pg", DBParameterGroupFamily="postgres16", Description="tuned"
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="billing-pg",
        Parameters=[
            {"ParameterName": "work_mem", "ParameterValue": "8192", "ApplyMethod": "immediate"},
            {
                "ParameterName": "shared_buffers",
                "ParameterValue": "16384",
                "ApplyMethod": "pending-reboot",
            },
        ],
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-cpg",
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="cluster",
    )
    create_instance(rds, "billing", DBParameterGroupName="billing-pg")
    run = _synced(["parameter_groups"])
    group = ParameterGroup.objects.get(identifier="billing-pg")
    assert group.scope == "db"
    assert group.family == "postgres16"
    assert group.description == "tuned"
    assert group.is_default is False
    params = {p.name: p for p in group.parameters.all()}
    assert params["work_mem"].value == "8192"
    assert params["work_mem"].is_modified
    assert params["shared_buffers"].value == "16384"
    assert ParameterGroup.objects.get(identifier="orders-cpg").scope == "cluster"
    assert run.counts["parameters"]["created"] == len(params)
    # Default groups are listed but their engine defaults are not read
    for default in ParameterGroup.objects.filter(identifier__startswith="default."):
        assert not default.parameters.exists()
    # When a parameter changes, that parameter row is updated
    rds.modify_db_parameter_group(
        DBParameterGroupName="billing-pg",
        Parameters=[
            {"ParameterName": "work_mem", "ParameterValue": "4096", "ApplyMethod": "immediate"}
        ],
    )
    run = sync_scope(kinds=["parameter_groups"])
    assert run.counts["parameters"]["updated"] == 1
    assert group.parameters.get(name="work_mem").value == "4096"


def test_option_groups_with_their_options(sandbox):
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    rds.create_option_group(
        OptionGroupName="sqlserver-og",
        EngineName="sqlserver-se",
        MajorEngineVersion="15.00",
        OptionGroupDescription="backups to S3",
    )
    rds.modify_option_group(
        OptionGroupName="sqlserver-og",
        OptionsToInclude=[
            {
                "OptionName": "SQLSERVER_BACKUP_RESTORE",
                "OptionSettings": [{"Name": "IAM_ROLE_ARN", "Value": "arn:aws:iam::1:role/b"}],
            }
        ],
        ApplyImmediately=True,
    )
    _synced(["option_groups"])
    group = OptionGroup.objects.get(identifier="sqlserver-og")
    assert group.engine == "sqlserver-se"
    assert group.major_engine_version == "15.00"
    assert group.description == "backups to S3"
    assert [o["name"] for o in group.options] == ["SQLSERVER_BACKUP_RESTORE"]


def test_caches_groups_shards_roles_clusters_and_serverless(sandbox):
    make_account(PROD)
    ec = client(PROD, REGION, "elasticache")
    ec.create_replication_group(
        ReplicationGroupId="carts",
        ReplicationGroupDescription="cart store",
        Engine="redis",
        CacheNodeType="cache.r6g.large",
        ClusterMode="enabled",
        NumNodeGroups=2,
        ReplicasPerNodeGroup=1,
        TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True,
        AuthToken="a-long-enough-auth-token",
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
    )
    ec.create_cache_cluster(
        CacheClusterId="sessions-mc",
        Engine="memcached",
        CacheNodeType="cache.t4g.small",
        NumCacheNodes=2,
    )
    ec.create_serverless_cache(ServerlessCacheName="feature-flags", Engine="valkey")
    _synced(["caches"])
    group = CacheReplicationGroup.objects.get()
    assert group.identifier == "carts"
    assert group.engine == "redis"
    assert group.engine_version
    assert group.transit_encryption is True
    assert group.at_rest_encryption is True
    assert group.has_auth
    assert group.multi_az is True
    assert group.cluster_enabled is True
    assert group.configuration_endpoint
    assert len(group.node_groups) == 2
    assert [m["role"] for m in group.node_groups[0]["members"]] == ["primary", "replica"]
    members = CacheCluster.objects.filter(replication_group=group)
    assert members.count() == 4
    roles = dict(members.values_list("identifier", "role"))
    assert roles["carts-0001-001"] == "primary"
    assert roles["carts-0001-002"] == "replica"
    memcached = CacheCluster.objects.get(identifier="sessions-mc")
    assert memcached.engine == "memcached"
    assert memcached.replication_group is None
    assert len(memcached.nodes) == 2
    serverless = ServerlessCache.objects.get()
    assert serverless.identifier == "feature-flags"
    assert serverless.engine == "valkey"
    assert ParameterGroup.objects.filter(scope="cache").exists()


def test_dms_instances_endpoints_and_tasks_with_table_statistics(sandbox):
    make_account(PROD)
    dms = client(PROD, REGION, "dms")
    instance = dms.create_replication_instance(
        ReplicationInstanceIdentifier="migrator",
        ReplicationInstanceClass="dms.t3.medium",
        MultiAZ=True,
        PubliclyAccessible=False,
    )["ReplicationInstance"]
    source = dms.create_endpoint(
        EndpointIdentifier="legacy-mysql",
        EndpointType="source",
        EngineName="mysql",
        ServerName="legacy.example.com",
        Port=3306,
        Username="u",
        Password="p",
        DatabaseName="shop",
        SslMode="require",
    )["Endpoint"]
    target = dms.create_endpoint(
        EndpointIdentifier="aurora-target",
        EndpointType="target",
        EngineName="aurora",
        ServerName="orders.cluster-x.eu-west-1.rds.amazonaws.com",
        Port=3306,
        Username="u",
        Password="p",
    )["Endpoint"]
    dms.create_replication_task(
        ReplicationTaskIdentifier="shop-to-aurora",
        SourceEndpointArn=source["EndpointArn"],
        TargetEndpointArn=target["EndpointArn"],
        ReplicationInstanceArn=instance["ReplicationInstanceArn"],
        MigrationType="full-load-and-cdc",
        TableMappings='{"rules": []}',
    )
    run = sync_scope(kinds=["dms"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    mirrored_instance = DmsReplicationInstance.objects.get()
    assert mirrored_instance.instance_class == "dms.t3.medium"
    assert mirrored_instance.multi_az is True
    src = DmsEndpoint.objects.get(identifier="legacy-mysql")
    assert src.endpoint_type == "source"
    assert src.engine_name == "mysql"
    assert src.server_name == "legacy.example.com"
    assert src.ssl_mode == "require"
    task = DmsReplicationTask.objects.get()
    assert task.migration_type == "full-load-and-cdc"
    assert task.source_endpoint == src
    assert task.target_endpoint == DmsEndpoint.objects.get(identifier="aurora-target")
    assert task.replication_instance == mirrored_instance
    assert "tables" in task.table_statistics_summary


def test_a_copy_on_write_clone_links_to_the_cluster_it_was_cloned_from(sandbox):
    make_account(PROD)
    rds = client(PROD, REGION, "rds")
    create_aurora(rds, "orders", members=1)
    rds.restore_db_cluster_to_point_in_time(
        DBClusterIdentifier="orders-clone",
        SourceDBClusterIdentifier="orders",
        RestoreType="copy-on-write",
        UseLatestRestorableTime=True,
    )
    rds.describe_db_clusters()  # let the clone's "creating" pass
    _synced(["clusters"])
    source = DbCluster.objects.get(identifier="orders")
    clone = DbCluster.objects.get(identifier="orders-clone")
    assert clone.clone_group_id
    assert clone.clone_group_id == source.clone_group_id
    assert clone.clone_source == source
    assert source.clone_source is None
