"""Fields operators act on are mirrored from AWS's describe answers (botocore's shapes):
each set in the sandbox (through boto3 where moto takes it, on moto's model where it does
not), synced, and read back from the mirror and the resource page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from moto.rds.models import rds_backends

from estate.models import CacheReplicationGroup, DbCluster, DbInstance, GlobalCluster, SyncRun
from estate.roles import VIEWER
from estate.sync import sync_scope
from guard import rules
from tests.factories import estate as f
from tests.factories.sandbox import (
    OTHER_REGION,
    PROD,
    REGION,
    capture,
    client,
    create_aurora,
    create_instance,
    make_account,
    mirror_writes,
)
from tests.factories.sandbox import client as aws_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def rds(sandbox):
    make_account(PROD)
    return client(PROD, REGION, "rds")


def test_sync_maps_the_instance_fields_operators_act_on(rds, client):
    # Given an instance with storage autoscaling, gp3 throughput, monitoring, a database
    # name, and (on moto's model: moto does not report them) pending changes, Extended
    # Support, an activity stream and a replication error
    create_instance(
        rds,
        "billing",
        StorageType="gp3",
        AllocatedStorage=400,
        StorageThroughput=500,
        MaxAllocatedStorage=1000,
        MonitoringInterval=30,
        MonitoringRoleArn="arn:aws:iam::111111111111:role/rds-monitoring",
        CopyTagsToSnapshot=True,
        DBName="ledger",
        LicenseModel="postgresql-license",
    )
    db = rds_backends[PROD][REGION].databases["billing"]
    db.pending_modified_values = {"DBInstanceClass": "db.r6g.xlarge", "MasterUserPassword": "****"}
    db.engine_lifecycle_support = "open-source-rds-extended-support"
    db.activity_stream_status = "started"
    db.network_type = "DUAL"
    db.status_infos = [
        {"StatusType": "read replication", "Normal": False, "Status": "error", "Message": "lag"}
    ]
    described = rds.describe_db_instances(DBInstanceIdentifier="billing")["DBInstances"][0]
    # When it is synced
    run = sync_scope(kinds=["instances"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    row = DbInstance.objects.get(identifier="billing")
    # Then each field is AWS's
    assert row.max_allocated_storage == described["MaxAllocatedStorage"] == 1000
    assert row.storage_throughput == described.get("StorageThroughput") == 500
    assert row.monitoring_interval == described["MonitoringInterval"] == 30
    assert row.copy_tags_to_snapshot is described["CopyTagsToSnapshot"] is True
    assert row.db_name == described["DBName"] == "ledger"
    assert row.license_model == described["LicenseModel"]
    assert row.network_type == described["NetworkType"] == "DUAL"
    assert row.engine_lifecycle_support == described["EngineLifecycleSupport"]
    assert row.activity_stream_status == described["ActivityStreamStatus"] == "started"
    assert row.status_infos == described["StatusInfos"]
    # (never the password, even masked)
    assert row.pending_modified_values == {
        "DBInstanceClass": "db.r6g.xlarge",
        "MasterUserPassword": "(changing)",
    }
    # And a resync of the unchanged instance writes nothing
    with capture() as ctx:
        sync_scope(kinds=["instances"])
    assert mirror_writes(ctx) == []
    # And the page shows the pending changes and AWS's status message prominently
    client.force_login(f.make_user(role=VIEWER))
    page = client.get(reverse("instance", args=[row.pk])).content.decode()
    assert 'data-testid="pending-changes"' in page
    assert "db.r6g.xlarge" in page
    assert 'data-testid="status-infos"' in page
    assert "up to 1000 GiB" in page
    assert "Extended Support" in page


def test_sync_maps_the_cache_transit_mode_and_the_tls_rule_fails_a_preferred_group(sandbox, client):
    # Given two Redis groups with in-transit encryption on, one in "preferred" mode (the
    # migration step that still accepts plaintext clients), one "required", and data
    # tiering on the first
    make_account(PROD)
    ec = aws_client(PROD, REGION, "elasticache")
    for name, mode in (("carts", "preferred"), ("sessions", "required")):
        ec.create_replication_group(
            ReplicationGroupId=name,
            ReplicationGroupDescription=name,
            Engine="redis",
            CacheNodeType="cache.r6gd.xlarge",
            NumCacheClusters=2,
            TransitEncryptionEnabled=True,
            TransitEncryptionMode=mode,
            DataTieringEnabled=name == "carts",
        )
    described = {
        g["ReplicationGroupId"]: g for g in ec.describe_replication_groups()["ReplicationGroups"]
    }
    # When they are synced
    run = sync_scope(kinds=["caches"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    carts = CacheReplicationGroup.objects.get(identifier="carts")
    sessions = CacheReplicationGroup.objects.get(identifier="sessions")
    # Then the mode and data tiering are AWS's
    assert carts.transit_encryption_mode == described["carts"]["TransitEncryptionMode"]
    assert carts.transit_encryption_mode == "preferred"
    assert sessions.transit_encryption_mode == "required"
    assert carts.data_tiering == described["carts"]["DataTiering"] == "enabled"
    assert sessions.data_tiering == "disabled"
    # And the TLS rule fails the preferred group only, saying why
    findings = [f for f in rules.evaluate() if f.rule.id == "CACHE-TRANSIT-ENCRYPTION"]
    assert [f.resource_arn for f in findings] == [carts.arn]
    assert findings[0].evidence == {
        "transit_encryption": True,
        "transit_encryption_mode": "preferred",
    }
    # And a resync of the unchanged groups writes nothing
    with capture() as ctx:
        sync_scope(kinds=["caches"])
    assert mirror_writes(ctx) == []
    # And the page says TLS is not enforced, and why
    client.force_login(f.make_user(role=VIEWER))
    page = client.get(reverse("cache_group", args=[carts.pk])).content.decode()
    assert "plaintext clients still accepted" in page
    assert "Data tiering" in page
    page = client.get(reverse("cache_group", args=[sessions.pk])).content.decode()
    assert "plaintext clients still accepted" not in page


def test_sync_maps_the_cluster_fields_operators_act_on(rds, client):
    # Given an Aurora PostgreSQL cluster, and a Multi-AZ DB cluster on io1 with
    # provisioned IOPS and auto minor upgrades off; and (on moto's model: moto does not
    # take or report them) I/O-Optimized storage, the Data API (moto takes it for
    # Serverless v1 only), pending changes and Extended Support on the first, gp3
    # throughput and Performance Insights on the second
    create_aurora(
        rds,
        "orders",
        members=1,
        Engine="aurora-postgresql",
        EngineVersion="16.4",
    )
    rds.create_db_cluster(
        DBClusterIdentifier="ledger",
        Engine="postgres",
        EngineVersion="16.4",
        DBClusterInstanceClass="db.m6gd.large",
        StorageType="io1",
        AllocatedStorage=100,
        Iops=3000,
        MasterUsername="admin",
        MasterUserPassword="password123",
        AutoMinorVersionUpgrade=False,
    )
    cluster = rds_backends[PROD][REGION].clusters["orders"]
    cluster.pending_modified_values = {
        "EngineVersion": "16.6",
        "MasterUserPassword": "****",
        "PendingCloudwatchLogsExports": {"LogTypesToEnable": ["postgresql"]},
    }
    cluster.engine_lifecycle_support = "open-source-rds-extended-support"
    cluster.storage_type = "aurora-iopt1"
    cluster._enable_http_endpoint = True
    ledger_model = rds_backends[PROD][REGION].clusters["ledger"]
    ledger_model.storage_throughput = 500
    ledger_model.performance_insights_enabled = True
    described = {c["DBClusterIdentifier"]: c for c in rds.describe_db_clusters()["DBClusters"]}
    # When they are synced
    run = sync_scope(kinds=["clusters"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    orders = DbCluster.objects.get(identifier="orders")
    ledger = DbCluster.objects.get(identifier="ledger")
    # Then each field is AWS's
    assert orders.storage_type == described["orders"]["StorageType"] == "aurora-iopt1"
    assert orders.storage_label == "I/O-Optimized"
    assert orders.http_endpoint_enabled is described["orders"]["HttpEndpointEnabled"] is True
    assert orders.db_cluster_resource_id == described["orders"]["DbClusterResourceId"]
    assert orders.db_cluster_resource_id.startswith("cluster-")
    assert orders.engine_lifecycle_support == described["orders"]["EngineLifecycleSupport"]
    # (never the password, even masked)
    assert orders.pending_modified_values == {
        "EngineVersion": "16.6",
        "MasterUserPassword": "(changing)",
        "PendingCloudwatchLogsExports": {"LogTypesToEnable": ["postgresql"]},
    }
    assert ledger.storage_label == "io1"
    assert ledger.iops == described["ledger"]["Iops"] == 3000
    assert ledger.storage_throughput == described["ledger"]["StorageThroughput"] == 500
    assert ledger.performance_insights_enabled is True
    assert described["ledger"]["PerformanceInsightsEnabled"] is True
    assert ledger.auto_minor_version_upgrade is described["ledger"]["AutoMinorVersionUpgrade"]
    assert ledger.auto_minor_version_upgrade is False
    assert ledger.pending_modified_values == {}
    # And a resync of the unchanged clusters writes nothing
    with capture() as ctx:
        sync_scope(kinds=["clusters"])
    assert mirror_writes(ctx) == []
    # And the page shows the pending changes prominently and the storage by its name
    client.force_login(f.make_user(role=VIEWER))
    page = client.get(reverse("cluster", args=[orders.pk])).content.decode()
    assert 'data-testid="pending-changes"' in page
    assert "16.6" in page
    assert "I/O-Optimized" in page
    assert "Extended Support" in page
    assert "HTTP endpoint enabled" in page
    page = client.get(reverse("cluster", args=[ledger.pk])).content.decode()
    assert 'data-testid="pending-changes"' not in page
    assert "3000 IOPS" in page
    assert "500 MiB/s" in page


@pytest.mark.parametrize(
    ("engine", "storage_type", "label"),
    [
        ("aurora-postgresql", "aurora-iopt1", "I/O-Optimized"),
        ("aurora-postgresql", "aurora", "Standard"),
        ("aurora-mysql", "", "Standard"),  # AWS omits StorageType for Standard at times
        ("postgres", "gp3", "gp3"),
    ],
)
def test_cluster_storage_is_named_as_aws_console_names_it(engine, storage_type, label):
    assert DbCluster(engine=engine, storage_type=storage_type).storage_label == label


def test_sync_maps_an_in_flight_global_failover(sandbox, client):
    # Given a global database writing in eu-west-1 with a secondary in us-east-1, and (on
    # moto's model: the sandbox reports it only for the second a switchover lasts) an
    # unplanned failover to the secondary in flight
    make_account(PROD, regions=[REGION, OTHER_REGION])
    west, east = aws_client(PROD, REGION, "rds"), aws_client(PROD, OTHER_REGION, "rds")
    west.create_global_cluster(GlobalClusterIdentifier="shop", Engine="aurora-postgresql")
    arns = {}
    for rds, name in ((west, "shop-west"), (east, "shop-east")):
        arns[name] = rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            GlobalClusterIdentifier="shop",
            MasterUsername="admin",
            MasterUserPassword="password123",
        )["DBCluster"]["DBClusterArn"]
    model = rds_backends[PROD]["us-east-1"].global_clusters["shop"]
    model.__dict__["_estate_failover_state"] = {
        "Status": "failing-over",
        "FromDbClusterArn": arns["shop-west"],
        "ToDbClusterArn": arns["shop-east"],
        "IsDataLossAllowed": True,
    }
    described = west.describe_global_clusters()["GlobalClusters"][0]["FailoverState"]
    # When it is synced
    run = sync_scope(kinds=["global_clusters"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    row = GlobalCluster.objects.get(identifier="shop")
    # Then the failover is AWS's, with the regions it moves between
    assert row.failover_state == {
        "status": described["Status"],
        "from_cluster_arn": described["FromDbClusterArn"],
        "from_region": REGION,
        "to_cluster_arn": described["ToDbClusterArn"],
        "to_region": OTHER_REGION,
        "is_data_loss_allowed": True,
    }
    # And a resync of the unchanged estate writes nothing
    with capture() as ctx:
        sync_scope(kinds=["global_clusters"])
    assert mirror_writes(ctx) == []
    # And the page says a failover allowing data loss is moving the writer
    client.force_login(f.make_user(role=VIEWER))
    page = client.get(reverse("global_cluster", args=[row.pk])).content.decode()
    assert 'data-testid="failover-state"' in page
    assert "Failover in flight" in page
    assert "data loss allowed" in page
    # And once it is over, the mirror says so
    model.__dict__["_estate_failover_state"] = None
    sync_scope(kinds=["global_clusters"])
    row.refresh_from_db()
    assert row.failover_state == {}
