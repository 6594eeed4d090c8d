"""The demo estate: a realistic two-account, three-region fleet in the sandbox.

``seed_demo(endpoint_url)`` builds it through boto3 (the same API sync reads), reaching
each account by assuming ``arn:aws:iam::<id>:role/EstateSync``:

* acme-prod (111111111111, production) and acme-staging (222222222222, staging) in
  us-east-1, us-west-2 and eu-west-1;
* every kind Estate mirrors: Aurora MySQL (writer + 2 readers, custom endpoints, 24 h
  backtrack window), Aurora PostgreSQL Serverless v2, an Aurora Global Database across
  two regions, Multi-AZ RDS PostgreSQL with a cross-region read replica, RDS MySQL with
  an in-region replica, RDS Custom for SQL Server in paused automation, an RDS Proxy in
  front of a cluster, manual / automated / cross-region-copied snapshots, a
  copy-on-write clone, parameter groups with modified parameters and an option group,
  a cluster-mode Redis group with TLS and AUTH, a Valkey session store with an LRU
  eviction policy, a Memcached cluster, a serverless cache, and DMS (replication
  instance, source and target endpoints, a full-load-and-CDC task with table stats);
* deliberate problems for the checks: an unencrypted instance, a publicly accessible
  one, 1-day backup retention in production, a production cluster without deletion
  protection, a parameter change pending reboot, an instance on the expired
  rds-ca-2019 certificate authority, and a public snapshot (plus one shared with the
  staging account).

When the sandbox runs in this process (``manage.py sandbox``, the test fixture), the
seed also backdates creation times on moto's models so that restore and backtrack
windows look like a fleet that has been running for months.

``seed_scale(n)`` adds ``n`` instances and ``n // 10`` clusters straight into moto's
backends of this process (HTTP would take minutes for 10,000 instances).
"""

from __future__ import annotations

import copy
import json
import random
import string
import urllib.request
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config


@dataclass(frozen=True)
class DemoAccount:
    account_id: str
    name: str
    environment: str

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/EstateSync"


PROD = DemoAccount("111111111111", "acme-prod", "production")
STAGING = DemoAccount("222222222222", "acme-staging", "staging")
DEMO_ACCOUNTS = (PROD, STAGING)
DEMO_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
PASSWORD = "demo-password-not-secret"
RANDOM_SEED = 20261127


class SeedError(Exception):
    """The seed cannot run against this sandbox (nothing was created)."""


@dataclass
class SeedSummary:
    """What a seed created, by kind (for the command's printout and the tests)."""

    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, number: int = 1) -> None:
        self.counts[kind] += number

    def lines(self) -> list[str]:
        return [f"{kind:<36} {count:>6}" for kind, count in sorted(self.counts.items())]


def _tags(env: str, team: str, service: str, **extra: str) -> list[dict[str, str]]:
    tags = {"env": env, "team": team, "service": service, "managed-by": "terraform", **extra}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class _Account:
    """boto3 clients acting in one demo account (through assume-role), per region."""

    def __init__(self, account: DemoAccount, endpoint_url: str) -> None:
        self.account = account
        self.endpoint_url = endpoint_url
        self._config = Config(retries={"mode": "standard", "max_attempts": 3})
        base = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        sts = base.client("sts", region_name="us-east-1", endpoint_url=endpoint_url)
        creds = sts.assume_role(RoleArn=account.role_arn, RoleSessionName="estate-seed")[
            "Credentials"
        ]
        self.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        self._clients: dict[tuple[str, str], Any] = {}

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
            )
        return self._clients[key]

    @property
    def env(self) -> str:
        return self.account.environment


# --- building blocks -----------------------------------------------------------------


def _network(acct: _Account, region: str, cidr: int) -> dict[str, Any]:
    """A VPC with three subnets, a DB subnet group and a cache subnet group."""
    ec2 = acct("ec2", region)
    vpc = ec2.create_vpc(CidrBlock=f"10.{cidr}.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": f"{acct.env}-data"}])
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.{cidr}.{i}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("abc")
    ]
    sg = ec2.create_security_group(
        GroupName=f"{acct.env}-databases", Description="database access", VpcId=vpc
    )["GroupId"]
    acct("rds", region).create_db_subnet_group(
        DBSubnetGroupName=f"{acct.env}-data",
        DBSubnetGroupDescription="private data subnets",
        SubnetIds=subnets,
    )
    acct("elasticache", region).create_cache_subnet_group(
        CacheSubnetGroupName=f"{acct.env}-cache",
        CacheSubnetGroupDescription="private cache subnets",
        SubnetIds=subnets,
    )
    return {"vpc": vpc, "subnets": subnets, "sg": sg, "db_subnets": f"{acct.env}-data"}


def _aurora_cluster(
    rds: Any,
    summary: SeedSummary,
    name: str,
    engine: str,
    version: str,
    instances: Sequence[tuple[str, str, int]],
    **kwargs: Any,
) -> None:
    """A cluster and its instances: (identifier, class, promotion tier), writer first."""
    if "MasterUsername" not in kwargs and "GlobalClusterIdentifier" not in kwargs:
        kwargs.update(MasterUsername="dbadmin", MasterUserPassword=PASSWORD)
    rds.create_db_cluster(DBClusterIdentifier=name, Engine=engine, EngineVersion=version, **kwargs)
    summary.add("db cluster")
    region = rds.meta.region_name
    for index, (identifier, instance_class, tier) in enumerate(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=identifier,
            DBClusterIdentifier=name,
            DBInstanceClass=instance_class,
            Engine=engine,
            PromotionTier=tier,
            AvailabilityZone=f"{region}{'abc'[index % 3]}",  # spread like a real cluster
            Tags=kwargs.get("Tags", []),
        )
        summary.add("db instance (cluster member)")


def _instance(rds: Any, summary: SeedSummary, name: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("MasterUsername", "dbadmin")
    kwargs.setdefault("MasterUserPassword", PASSWORD)
    # Night-time windows, as a team would set them (moto's default backup window,
    # 13:14-13:44 UTC, would make the demo's drills refuse to run in the afternoon).
    kwargs.setdefault("PreferredBackupWindow", "04:00-04:30")
    kwargs.setdefault("PreferredMaintenanceWindow", "sun:05:00-sun:05:30")
    created = rds.create_db_instance(DBInstanceIdentifier=name, **kwargs)["DBInstance"]
    summary.add("db instance")
    return created


# --- the production account ----------------------------------------------------------


def _seed_prod(acct: _Account, summary: SeedSummary) -> None:
    env = acct.env
    east, west, eu = DEMO_REGIONS
    rds = acct("rds", east)
    net = _network(acct, east, 10)
    _network(acct, west, 11)
    eu_net = _network(acct, eu, 12)

    # Aurora MySQL: orders. Writer + 2 readers, custom endpoints, 24 h backtrack.
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-aurora-mysql80",
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="orders: binlog for DMS/CDC, strict mode",
        Tags=_tags(env, "commerce", "orders"),
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-aurora-mysql80",
        Parameters=[
            {
                "ParameterName": "binlog_format",
                "ParameterValue": "ROW",
                "ApplyMethod": "pending-reboot",
            },
            {
                "ParameterName": "innodb_lock_wait_timeout",
                "ParameterValue": "20",
                "ApplyMethod": "immediate",
            },
        ],
    )
    summary.add("parameter group")
    orders_tags = _tags(env, "commerce", "orders", **{"cost-center": "cc-1042"})
    _aurora_cluster(
        rds,
        summary,
        "orders-aurora",
        "aurora-mysql",
        "8.0.mysql_aurora.3.05.2",
        [
            ("orders-aurora-1", "db.r6g.2xlarge", 0),
            ("orders-aurora-2", "db.r6g.2xlarge", 1),
            ("orders-aurora-3", "db.r6g.xlarge", 2),
        ],
        BacktrackWindow=86400,
        BackupRetentionPeriod=14,
        DeletionProtection=True,
        StorageEncrypted=True,
        EnableIAMDatabaseAuthentication=True,
        DBClusterParameterGroupName="orders-aurora-mysql80",
        DBSubnetGroupName=net["db_subnets"],
        VpcSecurityGroupIds=[net["sg"]],
        PreferredBackupWindow="03:00-03:30",
        Tags=orders_tags,
    )
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders-aurora",
        DBClusterEndpointIdentifier="orders-analytics",
        EndpointType="READER",
        StaticMembers=["orders-aurora-3"],
        Tags=orders_tags,
    )
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders-aurora",
        DBClusterEndpointIdentifier="orders-batch",
        EndpointType="ANY",
        ExcludedMembers=["orders-aurora-1"],
        Tags=orders_tags,
    )
    summary.add("custom cluster endpoint", 2)
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="orders-aurora",
        DBClusterSnapshotIdentifier="orders-aurora-before-schema-v42",
        Tags=orders_tags,
    )
    summary.add("manual cluster snapshot")
    # Shared with the staging account for a schema rehearsal.
    rds.modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier="orders-aurora-before-schema-v42",
        AttributeName="restore",
        ValuesToAdd=[STAGING.account_id],
    )
    # A copy-on-write clone for the analysts.
    rds.restore_db_cluster_to_point_in_time(
        DBClusterIdentifier="orders-aurora-clone-analytics",
        SourceDBClusterIdentifier="orders-aurora",
        RestoreType="copy-on-write",
        UseLatestRestorableTime=True,
        Tags=_tags(env, "data", "orders-analytics", purpose="clone"),
    )
    rds.create_db_instance(
        DBInstanceIdentifier="orders-aurora-clone-analytics-1",
        DBClusterIdentifier="orders-aurora-clone-analytics",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-mysql",
        Tags=_tags(env, "data", "orders-analytics", purpose="clone"),
    )
    summary.add("copy-on-write clone")
    summary.add("db instance (cluster member)")

    # RDS Proxy in front of orders-aurora.
    secret = acct("secretsmanager", east).create_secret(
        Name="prod/orders/app",
        SecretString=json.dumps({"username": "orders_app", "password": PASSWORD}),
    )["ARN"]
    rds.create_db_proxy(
        DBProxyName="orders-proxy",
        EngineFamily="MYSQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "REQUIRED"}],
        RoleArn=f"arn:aws:iam::{acct.account.account_id}:role/orders-proxy-secrets",
        VpcSubnetIds=net["subnets"],
        VpcSecurityGroupIds=[net["sg"]],
        RequireTLS=True,
        IdleClientTimeout=900,
        Tags=orders_tags,
    )
    rds.modify_db_proxy_target_group(
        DBProxyName="orders-proxy",
        TargetGroupName="default",
        ConnectionPoolConfig={
            "MaxConnectionsPercent": 90,
            "MaxIdleConnectionsPercent": 30,
            "ConnectionBorrowTimeout": 60,
        },
    )
    rds.register_db_proxy_targets(
        DBProxyName="orders-proxy", DBClusterIdentifiers=["orders-aurora"]
    )
    rds.create_db_proxy_endpoint(
        DBProxyName="orders-proxy",
        DBProxyEndpointName="orders-proxy-ro",
        VpcSubnetIds=net["subnets"],
        TargetRole="READ_ONLY",
        Tags=orders_tags,
    )
    summary.add("db proxy")

    # Aurora PostgreSQL Serverless v2: billing. Production without deletion protection
    # (a deliberate problem), master password in Secrets Manager.
    _aurora_cluster(
        rds,
        summary,
        "billing-aurora-pg",
        "aurora-postgresql",
        "15.4",
        [("billing-aurora-pg-1", "db.serverless", 0), ("billing-aurora-pg-2", "db.serverless", 1)],
        ServerlessV2ScalingConfiguration={"MinCapacity": 0.5, "MaxCapacity": 16},
        MasterUsername="billing_admin",
        ManageMasterUserPassword=True,
        BackupRetentionPeriod=7,
        DeletionProtection=False,
        StorageEncrypted=True,
        DBSubnetGroupName=net["db_subnets"],
        Tags=_tags(env, "billing", "invoicing"),
    )

    # Aurora Global Database: payments, primary us-east-1, secondary us-west-2.
    rds.create_global_cluster(
        GlobalClusterIdentifier="payments-global",
        Engine="aurora-postgresql",
        EngineVersion="15.4",
        StorageEncrypted=True,
        DeletionProtection=True,
        Tags=_tags(env, "payments", "payments-core", tier="critical"),
    )
    summary.add("global cluster")
    payments_tags = _tags(env, "payments", "payments-core", tier="critical")
    _aurora_cluster(
        rds,
        summary,
        "payments-use1",
        "aurora-postgresql",
        "15.4",
        [("payments-use1-1", "db.r6g.4xlarge", 0), ("payments-use1-2", "db.r6g.4xlarge", 1)],
        GlobalClusterIdentifier="payments-global",
        MasterUsername="payments_admin",
        MasterUserPassword=PASSWORD,
        StorageEncrypted=True,
        DeletionProtection=True,
        BackupRetentionPeriod=35,
        Tags=payments_tags,
    )
    _aurora_cluster(
        acct("rds", west),
        summary,
        "payments-usw2",
        "aurora-postgresql",
        "15.4",
        [("payments-usw2-1", "db.r6g.4xlarge", 0)],
        GlobalClusterIdentifier="payments-global",
        StorageEncrypted=True,
        DeletionProtection=True,
        Tags=payments_tags,
    )

    # Multi-AZ RDS PostgreSQL with a cross-region read replica: ledger. Its parameter
    # group has a static change pending reboot (a deliberate problem).
    rds.create_db_parameter_group(
        DBParameterGroupName="ledger-postgres15",
        DBParameterGroupFamily="postgres15",
        Description="ledger: larger buffers, slow query log",
        Tags=_tags(env, "finance", "ledger"),
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="ledger-postgres15",
        Parameters=[
            {
                "ParameterName": "log_min_duration_statement",
                "ParameterValue": "500",
                "ApplyMethod": "immediate",
            },
            {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"},
        ],
    )
    summary.add("parameter group")
    ledger_tags = _tags(env, "finance", "ledger", tier="critical")
    ledger = _instance(
        rds,
        summary,
        "ledger-pg",
        DBInstanceClass="db.m6g.2xlarge",
        Engine="postgres",
        EngineVersion="15.5",
        AllocatedStorage=500,
        StorageType="gp3",
        MultiAZ=True,
        StorageEncrypted=True,
        DeletionProtection=True,
        BackupRetentionPeriod=14,
        DBParameterGroupName="ledger-postgres15",
        DBSubnetGroupName=net["db_subnets"],
        VpcSecurityGroupIds=[net["sg"]],
        EnablePerformanceInsights=True,
        Tags=ledger_tags,
    )
    rds.modify_db_parameter_group(
        DBParameterGroupName="ledger-postgres15",
        Parameters=[
            {
                "ParameterName": "shared_buffers",
                "ParameterValue": "{DBInstanceClassMemory/32768}",
                "ApplyMethod": "pending-reboot",
            }
        ],
    )
    acct("rds", west).create_db_instance_read_replica(
        DBInstanceIdentifier="ledger-pg-dr",
        SourceDBInstanceIdentifier=ledger["DBInstanceArn"],
        SourceRegion=east,
        DBInstanceClass="db.m6g.2xlarge",
        Tags=_tags(env, "finance", "ledger", role="disaster-recovery"),
    )
    summary.add("db instance (cross-region replica)")
    rds.create_db_snapshot(
        DBInstanceIdentifier="ledger-pg",
        DBSnapshotIdentifier="ledger-pg-before-pg16-upgrade",
        Tags=ledger_tags,
    )
    summary.add("manual db snapshot")
    snapshot_arn = (
        f"arn:aws:rds:{east}:{acct.account.account_id}:snapshot:ledger-pg-before-pg16-upgrade"
    )
    acct("rds", west).copy_db_snapshot(
        SourceDBSnapshotIdentifier=snapshot_arn,
        TargetDBSnapshotIdentifier="ledger-pg-before-pg16-upgrade-usw2",
        SourceRegion=east,
        CopyTags=True,
    )
    summary.add("cross-region snapshot copy")

    # RDS MySQL with an in-region replica and an audit option group: catalog.
    rds.create_option_group(
        OptionGroupName="catalog-mysql80-audit",
        EngineName="mysql",
        MajorEngineVersion="8.0",
        OptionGroupDescription="MariaDB audit plugin for PCI",
        Tags=_tags(env, "commerce", "catalog", compliance="pci"),
    )
    rds.modify_option_group(
        OptionGroupName="catalog-mysql80-audit",
        OptionsToInclude=[
            {
                "OptionName": "MARIADB_AUDIT_PLUGIN",
                "OptionSettings": [{"Name": "SERVER_AUDIT_EVENTS", "Value": "CONNECT,QUERY_DDL"}],
            }
        ],
        ApplyImmediately=True,
    )
    summary.add("option group")
    catalog_tags = _tags(env, "commerce", "catalog")
    _instance(
        rds,
        summary,
        "catalog-mysql",
        DBInstanceClass="db.r6g.xlarge",
        Engine="mysql",
        EngineVersion="8.0.35",
        AllocatedStorage=200,
        StorageType="gp3",
        MultiAZ=True,
        StorageEncrypted=True,
        BackupRetentionPeriod=7,
        OptionGroupName="catalog-mysql80-audit",
        DBSubnetGroupName=net["db_subnets"],
        Tags=catalog_tags,
    )
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="catalog-mysql-replica-1",
        SourceDBInstanceIdentifier="catalog-mysql",
        DBInstanceClass="db.r6g.xlarge",
        Tags=catalog_tags,
    )
    summary.add("db instance (in-region replica)")

    # Deliberate problems: an unencrypted reporting instance, 1-day retention in prod.
    _instance(
        rds,
        summary,
        "reporting-mysql",
        DBInstanceClass="db.m6g.large",
        Engine="mysql",
        EngineVersion="8.0.35",
        AllocatedStorage=100,
        StorageEncrypted=False,
        BackupRetentionPeriod=7,
        Tags=_tags(env, "data", "reporting"),
    )
    _instance(
        rds,
        summary,
        "audit-log-mariadb",
        DBInstanceClass="db.t4g.large",
        Engine="mariadb",
        EngineVersion="10.11.6",
        AllocatedStorage=100,
        StorageEncrypted=True,
        BackupRetentionPeriod=1,
        Tags=_tags(env, "security", "audit-log"),
    )

    # eu-west-1: a publicly accessible partner API database (a deliberate problem) and
    # RDS Custom for SQL Server with automation paused for a patching window.
    eu_rds = acct("rds", eu)
    _instance(
        eu_rds,
        summary,
        "partner-api-pg",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="16.1",
        AllocatedStorage=50,
        StorageEncrypted=True,
        PubliclyAccessible=True,
        BackupRetentionPeriod=7,
        Tags=_tags(env, "partners", "partner-api"),
    )
    _instance(
        eu_rds,
        summary,
        "erp-sqlserver",
        DBInstanceClass="db.m5.2xlarge",
        Engine="custom-sqlserver-se",
        EngineVersion="15.00.4236.7.v1",
        Port=1433,
        AllocatedStorage=500,
        StorageEncrypted=True,
        BackupRetentionPeriod=7,
        CustomIamInstanceProfile="AWSRDSCustomSQLServerInstanceProfile",
        Domain="d-9067a1b2c3",
        DomainIAMRoleName="rds-directoryservice-access-role",
        DBSubnetGroupName=eu_net["db_subnets"],
        Tags=_tags(env, "erp", "erp-core", vendor="sap"),
    )
    eu_rds.modify_db_instance(
        DBInstanceIdentifier="erp-sqlserver",
        AutomationMode="all-paused",
        ResumeFullAutomationModeMinutes=240,
    )
    summary.add("rds custom (paused)")

    # ElastiCache: cluster-mode Redis with TLS + AUTH, Valkey session store, Memcached.
    ec = acct("elasticache", east)
    ec.create_replication_group(
        ReplicationGroupId="carts-redis",
        ReplicationGroupDescription="shopping carts (cluster mode)",
        Engine="redis",
        EngineVersion="7.1",
        CacheNodeType="cache.r6g.large",
        ClusterMode="enabled",
        NumNodeGroups=3,
        ReplicasPerNodeGroup=1,
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True,
        AuthToken="carts-redis-auth-token-0123456789",
        SnapshotRetentionLimit=5,
        CacheSubnetGroupName=f"{env}-cache",
        Tags=_tags(env, "commerce", "carts"),
    )
    summary.add("cache replication group")
    ec.create_cache_parameter_group(
        CacheParameterGroupName="sessions-valkey8",
        CacheParameterGroupFamily="valkey8",
        Description="session store: evict least recently used keys with a TTL",
        Tags=_tags(env, "identity", "sessions", purpose="session-store"),
    )
    ec.modify_cache_parameter_group(
        CacheParameterGroupName="sessions-valkey8",
        ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "volatile-lru"},
            {"ParameterName": "timeout", "ParameterValue": "300"},
        ],
    )
    summary.add("cache parameter group")
    ec.create_replication_group(
        ReplicationGroupId="sessions-valkey",
        ReplicationGroupDescription="web sessions",
        Engine="valkey",
        EngineVersion="8.0",
        CacheNodeType="cache.r7g.large",
        NumCacheClusters=3,
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
        TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True,
        CacheParameterGroupName="sessions-valkey8",
        CacheSubnetGroupName=f"{env}-cache",
        Tags=_tags(env, "identity", "sessions", purpose="session-store"),
    )
    summary.add("cache replication group")
    ec.create_cache_cluster(
        CacheClusterId="catalog-memcached",
        Engine="memcached",
        EngineVersion="1.6.22",
        CacheNodeType="cache.m6g.large",
        NumCacheNodes=3,
        CacheSubnetGroupName=f"{env}-cache",
        Tags=_tags(env, "commerce", "catalog"),
    )
    summary.add("cache cluster (memcached)")

    # DMS: moving the legacy on-premises order database into orders-aurora.
    _seed_dms(acct, summary, east)


def _seed_dms(acct: _Account, summary: SeedSummary, region: str) -> None:
    dms = acct("dms", region)
    tags = _tags(acct.env, "commerce", "orders-migration")
    instance = dms.create_replication_instance(
        ReplicationInstanceIdentifier="orders-migration",
        ReplicationInstanceClass="dms.r5.xlarge",
        AllocatedStorage=200,
        MultiAZ=True,
        PubliclyAccessible=False,
        Tags=tags,
    )["ReplicationInstance"]
    source = dms.create_endpoint(
        EndpointIdentifier="legacy-orders-mysql",
        EndpointType="source",
        EngineName="mysql",
        ServerName="orders-db01.dc1.acme.internal",
        Port=3306,
        Username="dms_reader",
        Password=PASSWORD,
        SslMode="verify-ca",
        Tags=tags,
    )["Endpoint"]
    target = dms.create_endpoint(
        EndpointIdentifier="orders-aurora-target",
        EndpointType="target",
        EngineName="aurora",
        ServerName="orders-aurora.cluster.internal",
        Port=3306,
        Username="dms_writer",
        Password=PASSWORD,
        SslMode="require",
        Tags=tags,
    )["Endpoint"]
    tables = ["orders", "order_items", "customers", "payments", "shipments"]
    task = dms.create_replication_task(
        ReplicationTaskIdentifier="legacy-orders-to-aurora",
        SourceEndpointArn=source["EndpointArn"],
        TargetEndpointArn=target["EndpointArn"],
        ReplicationInstanceArn=instance["ReplicationInstanceArn"],
        MigrationType="full-load-and-cdc",
        TableMappings=json.dumps(
            {
                "rules": [
                    {
                        "rule-type": "selection",
                        "rule-id": str(number),
                        "rule-name": f"include-{table}",
                        "object-locator": {"schema-name": "orders", "table-name": table},
                        "rule-action": "include",
                    }
                    for number, table in enumerate(tables, start=1)
                ]
            }
        ),
        Tags=tags,
    )["ReplicationTask"]
    # Started: the lifecycle extension runs the full load and then counts CDC changes
    # in the per-table statistics.
    dms.start_replication_task(
        ReplicationTaskArn=task["ReplicationTaskArn"],
        StartReplicationTaskType="start-replication",
    )
    summary.add("dms replication instance")
    summary.add("dms endpoint", 2)
    summary.add("dms replication task")


# --- the staging account -------------------------------------------------------------


def _seed_staging(acct: _Account, summary: SeedSummary) -> None:
    env = acct.env
    east, west, eu = DEMO_REGIONS
    rds = acct("rds", east)
    net = _network(acct, east, 20)
    _aurora_cluster(
        rds,
        summary,
        "orders-aurora-stg",
        "aurora-mysql",
        "8.0.mysql_aurora.3.05.2",
        [("orders-aurora-stg-1", "db.r6g.large", 0), ("orders-aurora-stg-2", "db.r6g.large", 1)],
        BacktrackWindow=3600,
        BackupRetentionPeriod=3,
        StorageEncrypted=True,
        DBSubnetGroupName=net["db_subnets"],
        Tags=_tags(env, "commerce", "orders"),
    )
    _instance(
        rds,
        summary,
        "ledger-pg-stg",
        DBInstanceClass="db.t4g.large",
        Engine="postgres",
        EngineVersion="15.5",
        AllocatedStorage=100,
        StorageEncrypted=True,
        BackupRetentionPeriod=3,
        DBSubnetGroupName=net["db_subnets"],
        Tags=_tags(env, "finance", "ledger"),
    )
    acct("rds", west).create_db_instance(
        DBInstanceIdentifier="search-pg-stg",
        DBInstanceClass="db.t4g.medium",
        Engine="postgres",
        EngineVersion="16.1",
        AllocatedStorage=50,
        StorageEncrypted=True,
        BackupRetentionPeriod=1,
        MasterUsername="dbadmin",
        MasterUserPassword=PASSWORD,
        Tags=_tags(env, "search", "search-index"),
    )
    summary.add("db instance")
    eu_rds = acct("rds", eu)
    _instance(
        eu_rds,
        summary,
        "catalog-mysql-stg",
        DBInstanceClass="db.t4g.medium",
        Engine="mysql",
        EngineVersion="8.0.35",
        AllocatedStorage=50,
        StorageEncrypted=False,
        BackupRetentionPeriod=1,
        CACertificateIdentifier="rds-ca-2019",  # expired CA: a deliberate problem
        Tags=_tags(env, "commerce", "catalog"),
    )
    eu_rds.create_db_snapshot(
        DBInstanceIdentifier="catalog-mysql-stg",
        DBSnapshotIdentifier="catalog-mysql-stg-refresh-2026-11",
        Tags=_tags(env, "commerce", "catalog"),
    )
    # Public: anyone can restore it (a deliberate problem).
    eu_rds.modify_db_snapshot_attribute(
        DBSnapshotIdentifier="catalog-mysql-stg-refresh-2026-11",
        AttributeName="restore",
        ValuesToAdd=["all"],
    )
    summary.add("manual db snapshot")
    ec = acct("elasticache", east)
    ec.create_replication_group(
        ReplicationGroupId="sessions-valkey-stg",
        ReplicationGroupDescription="web sessions (staging)",
        Engine="valkey",
        CacheNodeType="cache.t4g.medium",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=True,
        Tags=_tags(env, "identity", "sessions"),
    )
    summary.add("cache replication group")
    acct("elasticache", eu).create_serverless_cache(
        ServerlessCacheName="feature-flags-stg",
        Engine="valkey",
        Description="feature flag cache",
        Tags=_tags(env, "platform", "feature-flags"),
    )
    summary.add("serverless cache")


# --- backdating (in-process sandbox only) --------------------------------------------


def _local_backends(service: str) -> Any:
    """moto's backends of ``service`` if the sandbox runs in this process and holds the
    demo accounts, else None (a remote sandbox)."""
    try:
        if service != "rds":
            return None
        from moto.rds.models import rds_backends as backends
    except ImportError:
        return None
    if PROD.account_id not in backends:
        return None
    return backends


# How long ago the demo resources were created (days), so that restore windows,
# backtrack windows and snapshot ages look lived-in.
_AGES = {"orders-aurora": 420, "payments-use1": 380, "payments-usw2": 380, "billing-aurora-pg": 200}


def _backdate(summary: SeedSummary) -> None:
    backends = _local_backends("rds")
    if backends is None:
        return
    today = datetime.now(UTC).replace(tzinfo=None)
    for account in DEMO_ACCOUNTS:
        for region in DEMO_REGIONS:
            backend = backends[account.account_id][region]
            for cluster in backend.clusters.values():
                age = _AGES.get(cluster.db_cluster_identifier, 90)
                if "clone" in cluster.db_cluster_identifier:
                    age = 2
                cluster.created = cluster.cluster_create_time = today - timedelta(days=age)
            for instance in backend.databases.values():
                age = 60 if instance.is_replica else 150
                instance.created = instance.instance_create_time = today - timedelta(days=age)
            for snapshot in list(backend.database_snapshots.values()) + list(
                backend.cluster_snapshots.values()
            ):
                if snapshot.snapshot_type == "manual":
                    snapshot.created = today - timedelta(days=6)
    summary.add("backdated (in-process)", 1)


# --- entry points --------------------------------------------------------------------


def _seed_random(endpoint_url: str, accounts: Sequence[_Account]) -> None:
    """Seed moto's generator so that the demo gets the same ARNs and endpoints on every
    run (a restarted demo resyncs onto the same mirror rows instead of marking them
    gone). moto draws from it when it first builds a backend (default VPC, ...), so
    every backend the seed uses is built first."""
    for acct in accounts:
        for region in DEMO_REGIONS:
            acct("ec2", region).describe_vpcs()
            acct("rds", region).describe_db_subnet_groups()
            acct("elasticache", region).describe_cache_subnet_groups()
            acct("dms", region).describe_replication_instances()
            acct("secretsmanager", region).list_secrets()
    request = urllib.request.Request(f"{endpoint_url}/moto-api/seed?a={RANDOM_SEED}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def seed_demo(endpoint_url: str) -> SeedSummary:
    """Build the demo estate in the sandbox at ``endpoint_url`` (an empty sandbox)."""
    summary = SeedSummary()
    prod = _Account(PROD, endpoint_url)
    existing = prod("rds", DEMO_REGIONS[0]).describe_db_clusters(
        Filters=[{"Name": "db-cluster-id", "Values": ["orders-aurora"]}]
    )["DBClusters"]
    if existing:
        raise SeedError(
            f"The sandbox at {endpoint_url} already holds the demo estate: reset it first "
            "(SandboxServer.reset() or POST /moto-api/reset)."
        )
    staging = _Account(STAGING, endpoint_url)
    _seed_random(endpoint_url, [prod, staging])
    _seed_prod(prod, summary)
    _seed_staging(staging, summary)
    _backdate(summary)
    return summary


def seed_scale(
    n: int,
    *,
    clusters: int | None = None,
    accounts: Iterable[str] = (PROD.account_id, STAGING.account_id),
    regions: Iterable[str] = ("us-east-1", "us-west-2"),
    prefix: str = "scale",
) -> SeedSummary:
    """Add ``n`` DB instances and ``clusters`` (default ``n // 10``) Aurora clusters,
    spread round-robin over ``accounts`` x ``regions``, straight into moto's backends.

    The sandbox must run in this process (``SandboxServer`` / ``manage.py sandbox``):
    at ~10 ms per instance over HTTP, 10,000 instances would take minutes; here each
    cluster and one template instance per scope are created through moto's backend
    (so every extension's patches apply) and the rest are copies of the template.
    Each cluster gets a writer and a reader, counted in ``n``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    clusters = n // 10 if clusters is None else clusters
    if clusters < 0 or clusters * 2 > n:
        raise ValueError(
            f"{clusters} clusters need {clusters * 2} of the {n} instances (writer + reader each)"
        )
    from moto.rds.models import rds_backends

    scopes = [(a, r) for a in accounts for r in regions]
    if not scopes:
        raise ValueError("seed_scale needs at least one account and one region")
    summary = SeedSummary()
    rng = random.Random(20261127)
    for index in range(clusters):
        account_id, region = scopes[index % len(scopes)]
        backend = rds_backends[account_id][region]
        name = f"{prefix}-aurora-{index:05d}"
        backend.create_db_cluster(
            {
                "db_cluster_identifier": name,
                "engine": "aurora-postgresql",
                "engine_version": "15.4",
                "master_username": "dbadmin",
                "master_user_password": PASSWORD,
                "backup_retention_period": 7,
                "storage_encrypted": True,
                "tags": [{"Key": "env", "Value": "load-test"}, {"Key": "team", "Value": "perf"}],
            }
        )
        for member in range(2):
            backend.create_db_instance(
                {
                    "db_instance_identifier": f"{name}-{member + 1}",
                    "db_cluster_identifier": name,
                    "db_instance_class": "db.r6g.large",
                    "engine": "aurora-postgresql",
                    "promotion_tier": member,
                }
            )
        summary.add("db cluster")
        summary.add("db instance (cluster member)", 2)
    standalone = n - clusters * 2
    templates: dict[tuple[str, str, str], Any] = {}
    engines = [("postgres", "15.5", 5432), ("mysql", "8.0.35", 3306)]
    for index in range(standalone):
        account_id, region = scopes[index % len(scopes)]
        backend = rds_backends[account_id][region]
        engine, version, _port = engines[index % len(engines)]
        identifier = f"{prefix}-{engine}-{index:06d}"
        template = templates.get((account_id, region, engine))
        if template is None:
            template = backend.create_db_instance(
                {
                    "db_instance_identifier": identifier,
                    "db_instance_class": "db.m6g.large",
                    "engine": engine,
                    "engine_version": version,
                    "allocated_storage": 100,
                    "master_username": "dbadmin",
                    "master_user_password": PASSWORD,
                    "storage_encrypted": True,
                    "backup_retention_period": 7,
                    "tags": [{"Key": "env", "Value": "load-test"}],
                }
            )
            templates[(account_id, region, engine)] = template
        else:
            backend.databases[identifier] = _clone_instance(template, identifier, rng)
        summary.add("db instance")
    return summary


# Resources of the other kinds per 1,000 DB instances in ``seed_scale_companions`` (a
# fleet's proportions: a few proxies, a snapshot or two per hundred instances, a cache
# group per hundred, a small DMS footprint).
COMPANIONS_PER_1000 = {
    "db proxy (with a proxy endpoint)": 4,
    "custom cluster endpoint": 10,
    "manual db snapshot": 20,
    "manual cluster snapshot": 10,
    "db parameter group": 5,
    "cluster parameter group": 5,
    "option group": 5,
    "cache replication group (2 nodes)": 10,
    "cache cluster (memcached)": 5,
    "serverless cache": 5,
    "cache parameter group": 3,
    "dms replication instance": 3,
    "dms endpoint": 10,
    "dms replication task": 5,
}


def seed_scale_companions(
    endpoint_url: str,
    n: int,
    *,
    accounts: Iterable[str] = (PROD.account_id, STAGING.account_id),
    regions: Iterable[str] = ("us-east-1", "us-west-2"),
    prefix: str = "scale",
) -> SeedSummary:
    """Next to ``seed_scale(n)``'s instances and clusters: the other kinds sync reads
    (``COMPANIONS_PER_1000`` per 1,000 instances, at least one of each per account and
    region), every one tagged, through boto3 — their per-item calls (proxy targets,
    snapshot attributes, parameters, table statistics) and their tags are part of what
    a sync costs. Needs ``seed_scale``'s clusters (endpoints, proxies and cluster
    snapshots use them) and standalone instances (instance snapshots)."""
    scopes = [(a, r) for a in accounts for r in regions]
    summary = SeedSummary()
    for number, (account_id, region) in enumerate(scopes):
        acct = _Account(DemoAccount(account_id, f"scale-{account_id}", "production"), endpoint_url)
        share = {
            kind: max(1, round(per_1000 * n / 1000 / len(scopes)))
            for kind, per_1000 in COMPANIONS_PER_1000.items()
        }
        _companions(acct, region, share, f"{prefix}-{number}", summary, cidr=20 + number)
    return summary


def _companions(
    acct: _Account,
    region: str,
    share: dict[str, int],
    prefix: str,
    summary: SeedSummary,
    *,
    cidr: int,
) -> None:
    rds, ec, dms = acct("rds", region), acct("elasticache", region), acct("dms", region)
    tags = _tags("load-test", "perf", prefix)
    clusters = [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    standalone = [{"Name": "engine", "Values": ["postgres", "mysql"]}]  # not Aurora members
    instances = [
        i["DBInstanceIdentifier"]
        for i in rds.describe_db_instances(Filters=standalone)["DBInstances"]
    ]
    if not clusters or not instances:
        raise SeedError(f"seed_scale first: {acct.account.account_id}/{region} needs clusters")

    def count(kind: str) -> range:
        summary.add(kind, share[kind])
        return range(share[kind])

    for i in count("custom cluster endpoint"):
        rds.create_db_cluster_endpoint(
            DBClusterIdentifier=clusters[i % len(clusters)],
            DBClusterEndpointIdentifier=f"{prefix}-ep-{i:04d}",
            EndpointType="READER",
            Tags=tags,
        )
    for i in count("manual db snapshot"):
        rds.create_db_snapshot(
            DBSnapshotIdentifier=f"{prefix}-snap-{i:04d}",
            DBInstanceIdentifier=instances[i % len(instances)],
            Tags=tags,
        )
    for i in count("manual cluster snapshot"):
        rds.create_db_cluster_snapshot(
            DBClusterSnapshotIdentifier=f"{prefix}-csnap-{i:04d}",
            DBClusterIdentifier=clusters[i % len(clusters)],
            Tags=tags,
        )
    for i in count("db parameter group"):
        rds.create_db_parameter_group(
            DBParameterGroupName=f"{prefix}-pg-{i:04d}",
            DBParameterGroupFamily="postgres15",
            Description="scale",
            Tags=tags,
        )
    for i in count("cluster parameter group"):
        rds.create_db_cluster_parameter_group(
            DBClusterParameterGroupName=f"{prefix}-cpg-{i:04d}",
            DBParameterGroupFamily="aurora-postgresql15",
            Description="scale",
            Tags=tags,
        )
    for i in count("option group"):
        rds.create_option_group(
            OptionGroupName=f"{prefix}-og-{i:04d}",
            EngineName="mysql",
            MajorEngineVersion="8.0",
            OptionGroupDescription="scale",
            Tags=tags,
        )
    net = _network(acct, region, cidr)
    secret = acct("secretsmanager", region).create_secret(
        Name=f"{prefix}/proxy", SecretString=json.dumps({"username": "app", "password": PASSWORD})
    )["ARN"]
    for i in count("db proxy (with a proxy endpoint)"):
        name = f"{prefix}-proxy-{i:03d}"
        rds.create_db_proxy(
            DBProxyName=name,
            EngineFamily="POSTGRESQL",
            Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "DISABLED"}],
            RoleArn=f"arn:aws:iam::{acct.account.account_id}:role/proxy-secrets",
            VpcSubnetIds=net["subnets"],
            Tags=tags,
        )
        rds.register_db_proxy_targets(
            DBProxyName=name, DBClusterIdentifiers=[clusters[i % len(clusters)]]
        )
        rds.create_db_proxy_endpoint(
            DBProxyName=name,
            DBProxyEndpointName=f"{name}-ro",
            VpcSubnetIds=net["subnets"],
            TargetRole="READ_ONLY",
            Tags=tags,
        )
    for i in count("cache parameter group"):
        ec.create_cache_parameter_group(
            CacheParameterGroupName=f"{prefix}-cpg-{i:04d}",
            CacheParameterGroupFamily="redis7",
            Description="scale",
            Tags=tags,
        )
    for i in count("cache replication group (2 nodes)"):
        ec.create_replication_group(
            ReplicationGroupId=f"{prefix}-rg-{i:04d}",
            ReplicationGroupDescription="scale",
            Engine="redis",
            CacheNodeType="cache.t4g.small",
            NumCacheClusters=2,
            Tags=tags,
        )
    for i in count("cache cluster (memcached)"):
        ec.create_cache_cluster(
            CacheClusterId=f"{prefix}-mc-{i:04d}",
            Engine="memcached",
            CacheNodeType="cache.t4g.small",
            NumCacheNodes=1,
            Tags=tags,
        )
    for i in count("serverless cache"):
        ec.create_serverless_cache(
            ServerlessCacheName=f"{prefix}-sl-{i:04d}", Engine="valkey", Tags=tags
        )
    rep_instances = [
        dms.create_replication_instance(
            ReplicationInstanceIdentifier=f"{prefix}-ri-{i:03d}",
            ReplicationInstanceClass="dms.t3.medium",
            Tags=tags,
        )["ReplicationInstance"]["ReplicationInstanceArn"]
        for i in count("dms replication instance")
    ]
    endpoints = [
        dms.create_endpoint(
            EndpointIdentifier=f"{prefix}-dep-{i:04d}",
            EndpointType="source" if i % 2 == 0 else "target",
            EngineName="postgres",
            ServerName=f"db{i}.example.internal",
            Port=5432,
            Username="dms",
            Password=PASSWORD,
            DatabaseName="app",
            Tags=tags,
        )["Endpoint"]["EndpointArn"]
        for i in count("dms endpoint")
    ]
    for i in count("dms replication task"):
        source = endpoints[(2 * i) % len(endpoints)]
        target = endpoints[(2 * i + 1) % len(endpoints)]
        dms.create_replication_task(
            ReplicationTaskIdentifier=f"{prefix}-task-{i:04d}",
            SourceEndpointArn=source,
            TargetEndpointArn=target,
            ReplicationInstanceArn=rep_instances[i % len(rep_instances)],
            MigrationType="full-load",
            TableMappings=json.dumps({"rules": []}),
            Tags=tags,
        )


def _clone_instance(template: Any, identifier: str, rng: random.Random) -> Any:
    clone = copy.copy(template)
    # Own every mutable attribute, and drop per-resource extension state.
    for key, value in list(vars(clone).items()):
        if isinstance(value, list | dict | set):
            clone.__dict__[key] = copy.copy(value)
    clone.__dict__.pop("_estate_transition", None)
    clone.db_instance_identifier = identifier
    clone.dbi_resource_id = "db-" + "".join(
        rng.choices(string.ascii_uppercase + string.digits, k=26)
    )
    clone.replicas = []
    return clone
