"""Restore windows, backtrack times and automated backups as AWS reports them.

moto 5.2.5 says ``LatestRestorableTime`` is always "now", sets ``EarliestRestorableTime``
once at creation, never reports ``EarliestBacktrackTime``, has no
``DescribeDBClusterAutomatedBackups`` and reports instance automated backups with only
an identifier and a status. AWS's rules, applied here:

* latest restorable time: about five minutes behind now (never before creation), and
  none for an instance with automated backups off (retention 0);
* earliest restorable time: creation time, or now minus the retention period once the
  resource is older than that;
* earliest backtrack time (Aurora MySQL with a backtrack window): creation time, or now
  minus the window once the cluster is older than it;
* automated backups (instances and clusters) carry the resource's details, retention and
  ``RestoreWindow``; status ``active`` while the resource exists, ``retained`` after.

The seed may backdate ``created`` on moto's models to give a demo realistic windows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult, PaginatedResult
from moto.rds.exceptions import InvalidParameterValue, RDSClientError
from moto.rds.models import (
    DBCluster,
    DBClusterSnapshot,
    DBInstance,
    DBInstanceAutomatedBackup,
    RDSBackend,
)
from moto.rds.responses import RDSResponse

from sandbox.patching import add_action, filter_values, now

# How far behind "now" AWS's latest restorable time usually is.
RESTORE_LAG = timedelta(minutes=5)


def latest_restorable(created: datetime, retention_days: int) -> datetime | None:
    if not retention_days:
        return None
    return max(created, now() - RESTORE_LAG)


def earliest_restorable(created: datetime, retention_days: int) -> datetime | None:
    if not retention_days:
        return None
    return max(created, now() - timedelta(days=retention_days))


# --- DBCluster -----------------------------------------------------------------------


def _cluster_earliest_restorable(self: DBCluster) -> datetime | None:
    return earliest_restorable(self.created, int(self.backup_retention_period or 0))


def _ignore_set(self: Any, value: Any) -> None:
    # moto assigns these in __init__; they are derived from the creation time instead.
    return


def _cluster_latest_restorable(self: DBCluster) -> datetime | None:
    return latest_restorable(self.created, int(self.backup_retention_period or 0))


def _cluster_earliest_backtrack(self: DBCluster) -> datetime | None:
    override = self.__dict__.get("_estate_earliest_backtrack_time")
    if override is not None:
        return override  # set by an operation (e.g. a backtrack) through the setter
    window = int(getattr(self, "backtrack_window", 0) or 0)
    if not window:
        return None
    return max(self.created, now() - timedelta(seconds=window))


DBCluster.earliest_restorable_time = property(_cluster_earliest_restorable, _ignore_set)  # type: ignore[attr-defined]
DBCluster.latest_restorable_time = property(_cluster_latest_restorable)  # type: ignore[assignment,method-assign]


def _set_earliest_backtrack(self: DBCluster, value: datetime | None) -> None:
    self.__dict__["_estate_earliest_backtrack_time"] = value


DBCluster.earliest_backtrack_time = property(  # type: ignore[attr-defined]
    _cluster_earliest_backtrack, _set_earliest_backtrack
)


# --- DBInstance ----------------------------------------------------------------------


def _instance_latest_restorable(self: DBInstance) -> datetime | None:
    if self.is_replica:
        return None  # AWS reports none for read replicas
    return latest_restorable(self.created, int(self.backup_retention_period or 0))


DBInstance.latest_restorable_time = property(_instance_latest_restorable)  # type: ignore[assignment,method-assign]


class _InstanceBackupDetails:
    """Mixed into moto's DBInstanceAutomatedBackup: the fields AWS reports, read from
    the instance while it exists and from its newest automated snapshot after."""

    db_instance_identifier: str
    automated_snapshots: list
    backend: RDSBackend

    @property
    def _source(self) -> Any:
        instance = self.backend.databases.get(self.db_instance_identifier)
        if instance is not None:
            return instance
        return max(self.automated_snapshots, key=lambda s: s.created).database

    def __getattr__(self, name: str) -> Any:
        forwarded = {
            "db_instance_arn",
            "dbi_resource_id",
            "allocated_storage",
            "port",
            "availability_zone",
            "instance_create_time",
            "master_username",
            "engine",
            "engine_version",
            "license_model",
            "iops",
            "option_group_name",
            "storage_type",
            "kms_key_id",
            "backup_retention_period",
            "preferred_backup_window",
            "iam_database_authentication_enabled",
        }
        if name in forwarded:
            return getattr(self._source, name)
        raise AttributeError(name)

    @property
    def region(self) -> str:
        return self.backend.region_name

    @property
    def encrypted(self) -> bool:
        return bool(self._source.storage_encrypted)

    @property
    def db_instance_automated_backups_arn(self) -> str:
        source = self._source
        return (
            f"arn:aws:rds:{self.backend.region_name}:{self.backend.account_id}"
            f":auto-backup:ab-{source.dbi_resource_id.removeprefix('db-').lower()}"
        )

    @property
    def restore_window(self) -> dict[str, datetime | None]:
        source = self._source
        retention = int(source.backup_retention_period or 0) or 1
        if self.db_instance_identifier in self.backend.databases:
            return {
                "EarliestTime": earliest_restorable(source.created, retention),
                "LatestTime": latest_restorable(source.created, retention),
            }
        times = [s.created for s in self.automated_snapshots]
        return {"EarliestTime": min(times), "LatestTime": max(times)}


for _name, _value in vars(_InstanceBackupDetails).items():
    if not _name.startswith("__") or _name == "__getattr__":
        setattr(DBInstanceAutomatedBackup, _name, _value)


# --- DescribeDBClusterAutomatedBackups -----------------------------------------------


def _cluster_backup(backend: RDSBackend, cluster: DBCluster, status: str) -> dict[str, Any]:
    retention = int(cluster.backup_retention_period or 0) or 1
    return {
        "Engine": cluster.engine,
        "EngineVersion": cluster.engine_version,
        "EngineMode": cluster.engine_mode,
        "DBClusterIdentifier": cluster.db_cluster_identifier,
        "DBClusterArn": cluster.db_cluster_arn,
        "DbClusterResourceId": cluster.db_cluster_resource_id,
        "DBClusterAutomatedBackupsArn": (
            f"arn:aws:rds:{backend.region_name}:{backend.account_id}:cluster-auto-backup:"
            f"cab-{cluster.db_cluster_resource_id.removeprefix('cluster-').lower()}"
        ),
        "Region": backend.region_name,
        "Status": status,
        "MasterUsername": cluster.master_username,
        "ClusterCreateTime": cluster.created,
        "RestoreWindow": {
            "EarliestTime": earliest_restorable(cluster.created, retention),
            "LatestTime": latest_restorable(cluster.created, retention),
        },
        "BackupRetentionPeriod": retention,
        "PreferredBackupWindow": cluster.preferred_backup_window,
        "StorageEncrypted": bool(cluster.storage_encrypted),
        "KmsKeyId": cluster.kms_key_id if cluster.storage_encrypted else None,
        "AllocatedStorage": cluster.allocated_storage,
        "AvailabilityZones": list(cluster.availability_zones or []),
        "Port": cluster.port,
        "StorageType": cluster.storage_type,
        "IAMDatabaseAuthenticationEnabled": bool(cluster.iam_auth),
        "LicenseModel": cluster.license_model,
        "TagList": list(cluster.tags or []),
    }


@add_action(RDSResponse)
def describe_db_cluster_automated_backups(self: RDSResponse) -> ActionResult:
    backend = self.backend
    params = self.params
    cluster_id = (params.get("DBClusterIdentifier") or "").lower()
    resource_id = params.get("DbClusterResourceId")
    filters = filter_values(params)
    backups = [
        _cluster_backup(backend, cluster, "active")
        for cluster in backend.clusters.values()
        if cluster.backup_retention_period
    ]
    # Clusters deleted with their automated backups retained.
    live = set(backend.clusters)
    retained: dict[str, DBClusterSnapshot] = {}
    for snapshot in backend.cluster_snapshots.values():
        if snapshot.snapshot_type == "automated" and snapshot.cluster.resource_id not in live:
            retained[snapshot.cluster.resource_id] = snapshot
    backups += [_cluster_backup(backend, s.cluster, "retained") for s in retained.values()]
    if cluster_id:
        backups = [b for b in backups if b["DBClusterIdentifier"] == cluster_id]
    if resource_id:
        backups = [b for b in backups if b["DbClusterResourceId"] == resource_id]
    for name, values in filters.items():
        key = {
            "status": "Status",
            "db-cluster-id": "DBClusterIdentifier",
            "db-cluster-resource-id": "DbClusterResourceId",
        }.get(name)
        if key is None:
            raise InvalidParameterValue(f"Unrecognized filter name: {name}")
        backups = [b for b in backups if b[key] in values]
    if (cluster_id or resource_id) and not backups:
        raise RDSClientError(
            "DBClusterAutomatedBackupNotFoundFault",
            f"No automated backup found for DB cluster {cluster_id or resource_id}.",
        )
    return PaginatedResult({"DBClusterAutomatedBackups": backups})
