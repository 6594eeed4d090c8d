"""Resources made in the sandbox for the operation kinds, their mirroring (the way sync
would, for the few columns the kinds read), users by role and the mutating-call log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import Group, User

from estate import aws, roles
from estate.models import (
    Account,
    DbCluster,
    DbEndpoint,
    DbInstance,
    EndpointKind,
    GlobalCluster,
)
from sandbox import calllog

ACCOUNT_ID = "111111111111"


REGION = "us-east-1"


def _role(name: str) -> Group:
    """The role's group (a transactional test's flush removes the data migration's)."""
    from django.contrib.auth.models import Permission

    group, created = Group.objects.get_or_create(name=name)
    if created:
        for perm in roles.ROLE_PERMS[name]:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
    return group


def _user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username, password="pw")
    if role:
        user.groups.add(_role(role))
    return user


def quiet_windows(now: datetime | None = None) -> dict[str, str]:
    """A daily backup window and a weekly maintenance window that do not contain ``now``
    (UTC) nor the next few hours: a drill's preflight refuses to run inside either, and
    moto's fixed defaults (an instance's backup window is 13:14-13:44) would make tests
    fail at those times of day."""
    now = now or datetime.now(UTC)
    backup = now + timedelta(hours=12)
    maintenance = now + timedelta(days=3, hours=6)

    def span(start: datetime, fmt: str) -> str:
        return f"{start:{fmt}}-{start + timedelta(minutes=30):{fmt}}".lower()

    return {
        "PreferredBackupWindow": span(backup, "%H:%M"),
        "PreferredMaintenanceWindow": span(maintenance, "%a:%H:%M"),
    }


def create_cluster(
    rds: Any,
    name: str,
    *,
    engine: str = "aurora-postgresql",
    instances: int = 2,
    backtrack_window: int = 0,
) -> None:
    kwargs: dict[str, Any] = {
        "DBClusterIdentifier": name,
        "Engine": engine,
        "MasterUsername": "admin",
        "MasterUserPassword": "password123",
        **quiet_windows(),
    }
    if backtrack_window:
        kwargs["BacktrackWindow"] = backtrack_window
    rds.create_db_cluster(**kwargs)
    for i in range(instances):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{name}-{i + 1}",
            DBClusterIdentifier=name,
            Engine=engine,
            DBInstanceClass="db.r6g.large",
        )


def create_instance(rds: Any, name: str, *, multi_az: bool = True, **kw: Any) -> None:
    rds.create_db_instance(
        DBInstanceIdentifier=name,
        Engine="postgres",
        DBInstanceClass="db.t3.micro",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
        MultiAZ=multi_az,
        BackupRetentionPeriod=7,
        **{**quiet_windows(), **kw},
    )


def wait_available(rds: Any, *, clusters: list[str] = (), instances: list[str] = ()) -> None:
    """Poll the sandbox with a deadline until the resources are available."""
    import threading
    import time

    deadline = time.monotonic() + 5
    pause = threading.Event()
    while time.monotonic() < deadline:
        ok = all(
            rds.describe_db_clusters(DBClusterIdentifier=c)["DBClusters"][0]["Status"]
            == "available"
            for c in clusters
        ) and all(
            rds.describe_db_instances(DBInstanceIdentifier=i)["DBInstances"][0]["DBInstanceStatus"]
            == "available"
            for i in instances
        )
        if ok:
            return
        pause.wait(0.01)
    raise TimeoutError(f"not available: {clusters} {instances}")


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def mirror(account: Account, rds: Any, region: str = REGION) -> None:
    """Mirror the sandbox's clusters, instances and custom endpoints (what the kinds
    read), as sync would."""
    for c in rds.describe_db_clusters()["DBClusters"]:
        members = [
            {
                "identifier": m["DBInstanceIdentifier"],
                "is_writer": m["IsClusterWriter"],
                "promotion_tier": m.get("PromotionTier"),
            }
            for m in c.get("DBClusterMembers", [])
        ]
        window = c.get("BacktrackWindow") or None
        DbCluster.objects.update_or_create(
            arn=c["DBClusterArn"],
            defaults={
                "account": account,
                "region": region,
                "identifier": c["DBClusterIdentifier"],
                "status": c["Status"],
                "engine": c["Engine"],
                "members": members,
                "backtrack_window": window,
                "earliest_backtrack_time": _aware(
                    c.get("EarliestBacktrackTime")
                    or (c.get("ClusterCreateTime") if window else None)
                ),
                "tags": {t["Key"]: t["Value"] for t in c.get("TagList", [])},
                "clone_group_id": c.get("CloneGroupId") or "",
            },
        )
    for i in rds.describe_db_instances()["DBInstances"]:
        cluster = DbCluster.objects.filter(
            account=account, identifier=i.get("DBClusterIdentifier") or "-"
        ).first()
        DbInstance.objects.update_or_create(
            arn=i["DBInstanceArn"],
            defaults={
                "account": account,
                "region": region,
                "identifier": i["DBInstanceIdentifier"],
                "status": i["DBInstanceStatus"],
                "engine": i["Engine"],
                "instance_class": i["DBInstanceClass"],
                "multi_az": bool(i.get("MultiAZ")),
                "availability_zone": i.get("AvailabilityZone", ""),
                "secondary_availability_zone": i.get("SecondaryAvailabilityZone") or "",
                "cluster": cluster,
                "is_cluster_writer": any(
                    m["identifier"] == i["DBInstanceIdentifier"] and m["is_writer"]
                    for m in (cluster.members if cluster else [])
                ),
                "replica_source_identifier": i.get("ReadReplicaSourceDBInstanceIdentifier") or "",
                "backup_retention_period": i.get("BackupRetentionPeriod"),
                "latest_restorable_time": i.get("LatestRestorableTime"),
                "created_time": i.get("InstanceCreateTime"),
            },
        )
    try:
        endpoints = rds.describe_db_cluster_endpoints()["DBClusterEndpoints"]
    except Exception:  # noqa: BLE001 - the endpoint extension may be absent
        endpoints = []
    for e in endpoints:
        if e.get("EndpointType") != "CUSTOM":
            continue
        DbEndpoint.objects.update_or_create(
            arn=e["DBClusterEndpointArn"],
            defaults={
                "account": account,
                "region": region,
                "identifier": e["DBClusterEndpointIdentifier"],
                "status": e["Status"],
                "kind": EndpointKind.CUSTOM,
                "address": e.get("Endpoint", ""),
                "custom_type": e.get("CustomEndpointType", ""),
                "static_members": e.get("StaticMembers", []),
                "cluster": DbCluster.objects.filter(
                    account=account, identifier=e["DBClusterIdentifier"]
                ).first(),
            },
        )


def mutating_calls(action: str | None = None) -> list[calllog.Call]:
    return calllog.calls(action, succeeded=True)


def make_global_database(account) -> GlobalCluster:
    """An Aurora PostgreSQL global database "payments" in the sandbox (writer in
    us-east-1, secondary in eu-west-1), mirrored as a GlobalCluster row."""
    primary = aws.client(account, "us-east-1", "rds")
    secondary = aws.client(account, "eu-west-1", "rds")
    primary.create_global_cluster(GlobalClusterIdentifier="payments", Engine="aurora-postgresql")
    for client, name in ((primary, "payments-use1"), (secondary, "payments-euw1")):
        client.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            GlobalClusterIdentifier="payments",
            MasterUsername="admin",
            MasterUserPassword="password123",
            **quiet_windows(),
        )
    live = primary.describe_global_clusters()["GlobalClusters"][0]
    return GlobalCluster.objects.create(
        account=account,
        region="us-east-1",
        arn=live["GlobalClusterArn"],
        identifier="payments",
        status=live["Status"],
        engine="aurora-postgresql",
        members=[
            {
                "cluster_arn": m["DBClusterArn"],
                "region": m["DBClusterArn"].split(":")[3],
                "is_writer": m["IsWriter"],
            }
            for m in live["GlobalClusterMembers"]
        ],
    )
