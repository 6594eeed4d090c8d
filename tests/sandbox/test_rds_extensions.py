"""RDS behaviour the sandbox fixes or adds over moto, through boto3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import aurora_mysql_cluster, client

PASSWORD = "password123"


@pytest.fixture
def rds(sandbox):
    return client("rds", "eu-west-1")


def _postgres(rds, name: str, **kwargs) -> dict:
    return rds.create_db_instance(
        DBInstanceIdentifier=name,
        DBInstanceClass="db.m6g.large",
        Engine="postgres",
        EngineVersion="15.5",
        AllocatedStorage=100,
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
        **kwargs,
    )["DBInstance"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def test_option_groups_can_be_listed_in_a_region_without_any(rds):
    assert rds.describe_option_groups()["OptionGroupsList"] == []
    with pytest.raises(ClientError) as caught:
        rds.describe_option_groups(OptionGroupName="missing")
    assert caught.value.response["Error"]["Code"] == "OptionGroupNotFoundFault"


def test_cross_region_replica_of_a_source_with_a_custom_parameter_group(sandbox, rds):
    # Given a source with a custom parameter group in eu-west-1
    rds.create_db_parameter_group(
        DBParameterGroupName="pg15-tuned", DBParameterGroupFamily="postgres15", Description="t"
    )
    source = _postgres(rds, "ledger", DBParameterGroupName="pg15-tuned", MultiAZ=True)
    # When a replica is created in us-east-1
    dr = client("rds", "us-east-1")
    dr.create_db_instance_read_replica(
        DBInstanceIdentifier="ledger-dr",
        SourceDBInstanceIdentifier=source["DBInstanceArn"],
        SourceRegion="eu-west-1",
    )
    # Then both regions can be described, the replica uses its region's default group
    replica = dr.describe_db_instances()["DBInstances"][0]
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
    assert replica["DBParameterGroups"][0]["DBParameterGroupName"].startswith("default.")
    assert replica["DbiResourceId"] != source["DbiResourceId"]
    assert replica["MultiAZ"] is False
    listed = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
    assert listed["ReadReplicaDBInstanceIdentifiers"] == [replica["DBInstanceArn"]]
    # And the replica can be deleted, which detaches it from its source
    dr.delete_db_instance(DBInstanceIdentifier="ledger-dr", SkipFinalSnapshot=True)
    listed = rds.describe_db_instances(DBInstanceIdentifier="ledger")["DBInstances"][0]
    assert listed["ReadReplicaDBInstanceIdentifiers"] == []


def test_deleting_a_source_promotes_its_replicas(rds):
    _postgres(rds, "src")
    rds.create_db_instance_read_replica(
        DBInstanceIdentifier="src-replica", SourceDBInstanceIdentifier="src"
    )
    rds.delete_db_instance(DBInstanceIdentifier="src", SkipFinalSnapshot=True)
    replica = rds.describe_db_instances(DBInstanceIdentifier="src-replica")["DBInstances"][0]
    assert "ReadReplicaSourceDBInstanceIdentifier" not in replica


def test_engines_without_explicit_version_get_awss_defaults(rds):
    created = rds.create_db_instance(
        DBInstanceIdentifier="maria",
        DBInstanceClass="db.t3.micro",
        Engine="mariadb",
        AllocatedStorage=20,
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
    )["DBInstance"]
    assert created["EngineVersion"]
    assert created["Endpoint"]["Port"] == 3306


def test_rds_custom_automation_can_be_paused_and_is_reported(rds):
    # Given an RDS Custom for SQL Server instance
    rds.create_db_instance(
        DBInstanceIdentifier="erp-sql",
        DBInstanceClass="db.m5.xlarge",
        Engine="custom-sqlserver-se",
        AllocatedStorage=200,
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
        CustomIamInstanceProfile="AWSRDSCustomSQLServerInstanceProfile",
    )
    described = rds.describe_db_instances(DBInstanceIdentifier="erp-sql")["DBInstances"][0]
    assert described["AutomationMode"] == "full"
    assert described["Endpoint"]["Port"] == 1433
    # When automation is paused for two hours
    rds.modify_db_instance(
        DBInstanceIdentifier="erp-sql",
        AutomationMode="all-paused",
        ResumeFullAutomationModeMinutes=120,
    )
    # Then the mode and the resume time are reported
    described = rds.describe_db_instances(DBInstanceIdentifier="erp-sql")["DBInstances"][0]
    assert described["AutomationMode"] == "all-paused"
    resume = described["ResumeFullAutomationModeTime"].astimezone(UTC)
    assert timedelta(minutes=119) < resume - _utcnow() <= timedelta(minutes=120)


def test_automation_mode_is_refused_on_a_regular_instance(rds):
    _postgres(rds, "plain")
    with pytest.raises(ClientError) as caught:
        rds.modify_db_instance(DBInstanceIdentifier="plain", AutomationMode="all-paused")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert "AutomationMode" not in rds.describe_db_instances()["DBInstances"][0]


def test_static_parameter_change_is_pending_reboot_until_rebooted(rds):
    # Given an instance on a custom parameter group
    rds.create_db_parameter_group(
        DBParameterGroupName="pg15-tuned", DBParameterGroupFamily="postgres15", Description="t"
    )
    _postgres(rds, "db1", DBParameterGroupName="pg15-tuned")
    # When a static parameter is changed
    rds.modify_db_parameter_group(
        DBParameterGroupName="pg15-tuned",
        Parameters=[
            {
                "ParameterName": "shared_buffers",
                "ParameterValue": "262144",
                "ApplyMethod": "pending-reboot",
            }
        ],
    )

    # Then the instance reports the group pending-reboot, and the parameter is the user's
    def apply_status() -> str:
        instance = rds.describe_db_instances(DBInstanceIdentifier="db1")["DBInstances"][0]
        return instance["DBParameterGroups"][0]["ParameterApplyStatus"]

    assert apply_status() == "pending-reboot"
    parameter = rds.describe_db_parameters(DBParameterGroupName="pg15-tuned")["Parameters"][0]
    assert (parameter["Source"], parameter["ApplyType"]) == ("user", "static")
    # And a reboot applies it
    rds.reboot_db_instance(DBInstanceIdentifier="db1")
    assert apply_status() == "in-sync"


def test_restore_and_backtrack_times_follow_awss_rules(rds):
    # Given an Aurora MySQL cluster with a 24 h backtrack window
    aurora_mysql_cluster(rds, "orders", readers=0, BacktrackWindow=86400, BackupRetentionPeriod=7)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    created = cluster["ClusterCreateTime"]
    # Then a new cluster can be backtracked and restored back to its creation
    assert cluster["EarliestBacktrackTime"] == created
    assert cluster["EarliestRestorableTime"] == created
    assert cluster["LatestRestorableTime"] == created  # younger than the 5 minute lag
    # And an instance without automated backups has no latest restorable time
    _postgres(rds, "nobackup", BackupRetentionPeriod=0)
    instance = rds.describe_db_instances(DBInstanceIdentifier="nobackup")["DBInstances"][0]
    assert "LatestRestorableTime" not in instance


def test_old_resources_have_windows_bounded_by_retention_and_backtrack(sandbox, rds):
    # Given a cluster created long ago (backdated on moto's model, as the seed does)
    from moto.rds.models import rds_backends

    aurora_mysql_cluster(rds, "orders", readers=0, BacktrackWindow=86400, BackupRetentionPeriod=7)
    backend = rds_backends["123456789012"]["eu-west-1"]
    backend.clusters["orders"].created = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    # When it is described
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    now = _utcnow()
    # Then the windows are now minus the backtrack window / retention / the lag
    assert abs(now - timedelta(days=1) - cluster["EarliestBacktrackTime"]) < timedelta(seconds=30)
    assert abs(now - timedelta(days=7) - cluster["EarliestRestorableTime"]) < timedelta(seconds=30)
    assert abs(now - timedelta(minutes=5) - cluster["LatestRestorableTime"]) < timedelta(seconds=30)


def test_instance_automated_backups_carry_retention_and_restore_window(rds):
    _postgres(rds, "db1", BackupRetentionPeriod=7, StorageEncrypted=True)
    backup = rds.describe_db_instance_automated_backups()["DBInstanceAutomatedBackups"][0]
    assert backup["DBInstanceIdentifier"] == "db1"
    assert backup["Status"] == "active"
    assert backup["BackupRetentionPeriod"] == 7
    assert backup["Encrypted"] is True
    assert backup["Region"] == "eu-west-1"
    assert backup["RestoreWindow"]["EarliestTime"] <= backup["RestoreWindow"]["LatestTime"]


def test_cluster_automated_backups_are_described(rds):
    # Given a cluster with backups and one without
    aurora_mysql_cluster(rds, "orders", readers=0, BackupRetentionPeriod=14)
    # When its automated backups are described
    backups = rds.describe_db_cluster_automated_backups()["DBClusterAutomatedBackups"]
    # Then it has one, active, with its retention and restore window
    assert [(b["DBClusterIdentifier"], b["Status"]) for b in backups] == [("orders", "active")]
    assert backups[0]["BackupRetentionPeriod"] == 14
    assert backups[0]["RestoreWindow"]["EarliestTime"] is not None
    with pytest.raises(ClientError) as caught:
        rds.describe_db_cluster_automated_backups(DBClusterIdentifier="missing")
    assert caught.value.response["Error"]["Code"] == "DBClusterAutomatedBackupNotFoundFault"


def test_aurora_default_parameter_groups_follow_the_engine_family(rds):
    # Given Aurora clusters without a parameter group of their own
    aurora_mysql_cluster(rds, "orders", readers=0)
    rds.create_db_cluster(
        DBClusterIdentifier="billing",
        Engine="aurora-postgresql",
        EngineVersion="15.4",
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
    )
    # Then each uses its family's default group, which can be described
    groups = {
        c["DBClusterIdentifier"]: c["DBClusterParameterGroup"]
        for c in rds.describe_db_clusters()["DBClusters"]
    }
    assert groups == {"orders": "default.aurora-mysql8.0", "billing": "default.aurora-postgresql15"}
    described = rds.describe_db_cluster_parameter_groups(
        DBClusterParameterGroupName="default.aurora-postgresql15"
    )["DBClusterParameterGroups"][0]
    assert described["DBParameterGroupFamily"] == "aurora-postgresql15"
    member = rds.describe_db_instances(DBInstanceIdentifier="orders-0")["DBInstances"][0]
    assert member["DBParameterGroups"][0]["DBParameterGroupName"] == "default.aurora-mysql8.0"


def test_a_global_databases_secondary_cluster_has_no_writer(sandbox):
    # Given a global database with a primary in us-east-1 and a secondary in us-west-2
    primary, secondary = client("rds", "us-east-1"), client("rds", "us-west-2")
    primary.create_global_cluster(
        GlobalClusterIdentifier="payments", Engine="aurora-postgresql", EngineVersion="15.4"
    )
    for rds, name in ((primary, "payments-east"), (secondary, "payments-west")):
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            EngineVersion="15.4",
            GlobalClusterIdentifier="payments",
            **({"MasterUsername": "app", "MasterUserPassword": PASSWORD} if rds is primary else {}),
        )
        rds.create_db_instance(
            DBInstanceIdentifier=f"{name}-1",
            DBClusterIdentifier=name,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )

    # Then only the primary cluster has a writer member
    def writers(rds, name):
        cluster = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
        return [m["IsClusterWriter"] for m in cluster["DBClusterMembers"]]

    assert writers(primary, "payments-east") == [True]
    assert writers(secondary, "payments-west") == [False]


def test_certificate_details_and_performance_insights_are_reported(rds):
    # Given one instance on AWS's default CA with Performance Insights, one on rds-ca-2019
    _postgres(rds, "current", EnablePerformanceInsights=True)
    _postgres(rds, "stale", CACertificateIdentifier="rds-ca-2019")

    def describe(name):
        return rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]

    current, stale = describe("current"), describe("stale")
    # Then the default CA's server certificate is valid for up to a year ahead
    assert current["CACertificateIdentifier"] == "rds-ca-rsa2048-g1"
    valid_till = current["CertificateDetails"]["ValidTill"]
    assert _utcnow() < valid_till <= _utcnow() + timedelta(days=366)
    assert current["PerformanceInsightsEnabled"] is True
    # And the 2019 CA's certificate has expired
    assert stale["CertificateDetails"]["ValidTill"] < _utcnow()
    assert stale["PerformanceInsightsEnabled"] is False


def test_cross_region_replica_of_a_source_with_a_custom_option_group(sandbox, rds):
    # Given a MySQL source with a custom option group in eu-west-1
    rds.create_option_group(
        OptionGroupName="audit",
        EngineName="mysql",
        MajorEngineVersion="8.0",
        OptionGroupDescription="audit",
    )
    source = rds.create_db_instance(
        DBInstanceIdentifier="shop",
        DBInstanceClass="db.m6g.large",
        Engine="mysql",
        EngineVersion="8.0.35",
        AllocatedStorage=50,
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
        OptionGroupName="audit",
    )["DBInstance"]
    # When it gets a replica in us-west-2
    dr = client("rds", "us-west-2")
    dr.create_db_instance_read_replica(
        DBInstanceIdentifier="shop-dr",
        SourceDBInstanceIdentifier=source["DBInstanceArn"],
        SourceRegion="eu-west-1",
    )
    # Then us-west-2 can be described and the replica uses its region's default group
    replica = dr.describe_db_instances()["DBInstances"][0]
    assert replica["OptionGroupMemberships"][0]["OptionGroupName"] == "default:mysql-8-0"
