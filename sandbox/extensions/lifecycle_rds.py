"""RDS lifecycle moto lacks or gets wrong: the mutating calls Estate's operations make.

Each call passes through the transitional state AWS shows, for the duration configured
in ``lifecycle_core`` (``SANDBOX_TRANSITION_SECONDS``), emits the events AWS emits, and
ends in the state AWS leaves:

* ``FailoverDBCluster``: cluster ``failing-over``; the writer moves when it ends
  (moto moved it at once); a second failover meanwhile is refused.
* ``RebootDBInstance`` (``ForceFailover``): instance ``rebooting``; a Multi-AZ instance
  swaps primary and standby AZ (moto changed nothing and reported no standby AZ).
* ``PromoteReadReplica``: ``modifying``, then standalone: detached from its source.
* ``CreateDBInstance`` / ``CreateDBInstanceReadReplica`` / ``CreateDBCluster`` /
  ``RestoreDBClusterToPointInTime``: ``creating``; a copy-on-write restore (a clone)
  gets the source's ``CloneGroupId``; a restore time outside the restorable window and
  an identifier already taken are refused as AWS refuses them.
* ``RestoreDBInstanceToPointInTime``: ``creating``; refused as AWS refuses it for a
  missing source, a cluster member, automated backups off, a time outside the
  restorable window and a taken identifier; the copy is standalone (moto copied the
  source's replica link) and says where it came from in an event.
* ``ModifyDBCluster``: ``modifying`` (Serverless v2 range, backtrack window...).
* ``BacktrackDBCluster`` / ``DescribeDBClusterBacktracks`` (missing in moto):
  ``backtracking``, Aurora MySQL with a backtrack window only, inside the window only.
* ``RebootDBCluster`` (missing in moto): ``rebooting``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    DBInstanceNotFoundError,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)
from moto.rds.models import DBCluster, DBInstance, RDSBackend
from moto.rds.responses import RDSResponse

from sandbox.extensions import rds_speed
from sandbox.extensions.lifecycle_core import TRANSITION_KEY, begin, emit
from sandbox.patching import add_action, now, state

CLUSTER = "db-cluster"


def _naive_utc(value: Any) -> datetime | None:
    """moto keeps naive UTC datetimes; requests bring aware ones (or ISO strings)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _cluster(backend: RDSBackend, identifier: str) -> DBCluster:
    cluster = backend.clusters.get((identifier or "").lower()) or backend.clusters.get(identifier)
    if cluster is None:
        raise DBClusterNotFoundError(identifier)
    return cluster


def _require_cluster_available(cluster: DBCluster, action: str) -> None:
    if cluster.status != "available":
        raise InvalidDBClusterStateFault(
            f"DbCluster {cluster.db_cluster_identifier} is not in a valid state for {action}: "
            f"its status is {cluster.status}."
        )


# --- FailoverDBCluster ---------------------------------------------------------------

_failover_db_cluster = RDSBackend.failover_db_cluster


def failover_db_cluster(
    self: RDSBackend, db_cluster_identifier: str, target_db_instance_identifier: str | None = None
) -> DBCluster:
    cluster = self.clusters.get(db_cluster_identifier)
    if cluster is not None:
        _require_cluster_available(cluster, "failover")
    old_writer = cluster.writer if cluster is not None else None
    result = _failover_db_cluster(self, db_cluster_identifier, target_db_instance_identifier)
    new_writer = cluster.writer if cluster is not None else None
    if cluster is None or new_writer is None or old_writer is None or new_writer is old_writer:
        return result
    # moto moved the writer at once; AWS moves it at the end of the failover.
    new_writer.is_cluster_writer = False
    old_writer.is_cluster_writer = True
    target = new_writer.db_instance_identifier
    emit(cluster, f"Started cross AZ failover to DB instance: {target}", ["failover"], CLUSTER)

    def finish() -> None:
        old_writer.is_cluster_writer = False
        new_writer.is_cluster_writer = True
        emit(cluster, f"Completed failover to DB instance: {target}", ["failover"], CLUSTER)

    begin(cluster, "failing-over", "failover", finish)
    return result


RDSBackend.failover_db_cluster = failover_db_cluster  # type: ignore[method-assign]


# --- RebootDBInstance with failover --------------------------------------------------


def _secondary_az(self: DBInstance) -> str | None:
    if not self.multi_az or getattr(self, "db_cluster_identifier", None):
        return None
    chosen = self.__dict__.get("_estate_secondary_az")
    if chosen is None:
        primary = self.availability_zone
        chosen = next(az for az in (f"{self.region}{s}" for s in "abcdef") if az != primary)
        self.__dict__["_estate_secondary_az"] = chosen
    return chosen


DBInstance.secondary_availability_zone = property(_secondary_az)  # type: ignore[attr-defined]


@add_action(RDSResponse)
def reboot_db_instance(self: RDSResponse) -> ActionResult:
    identifier = self.params.get("DBInstanceIdentifier")
    force = bool(self.params.get("ForceFailover"))
    database = self.backend.describe_db_instances(identifier)[0]
    if database.status != "available":
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"DB instance {identifier} is not in a valid state for reboot: its status is "
            f"{database.status}.",
        )
    if force and not (database.multi_az and not getattr(database, "db_cluster_identifier", None)):
        raise InvalidParameterCombination(
            "Reboot with failover is only supported for Multi-AZ DB instances."
        )
    if force:
        _secondary_az(database)  # fix the standby before it swaps
        emit(database, "Multi-AZ instance failover started.", ["failover"])

    def finish() -> None:
        if force:
            primary = database.availability_zone
            database.availability_zone = database.__dict__["_estate_secondary_az"]
            database.__dict__["_estate_secondary_az"] = primary
            emit(database, "Multi-AZ instance failover completed.", ["failover"])
        emit(database, "DB instance restarted", ["availability"])

    begin(database, "rebooting", "failover" if force else "reboot", finish)
    return ActionResult({"DBInstance": database})


# --- PromoteReadReplica --------------------------------------------------------------


def promote_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    identifier = db_kwargs["db_instance_identifier"]
    database = self.describe_db_instances(identifier)[0]
    if not database.is_replica:
        raise RDSClientError("InvalidDBInstanceState", "DB Instance is not a read replica.")
    if database.status != "available":
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"DB instance {identifier} is not in a valid state for promotion: its status "
            f"is {database.status}.",
        )
    updates = {k: v for k, v in db_kwargs.items() if k != "db_instance_identifier"}
    if updates:
        database.update(**updates)
    emit(database, "Promoting Read Replica.", ["read replica"])

    def finish() -> None:
        source_id = database.source_db_instance_identifier
        database.is_replica = False
        database.source_db_instance_identifier = None
        source = _find_instance(source_id)
        if source is not None:
            for name in (database.db_instance_identifier, database.db_instance_arn):
                if name in source.replicas:
                    source.replicas.remove(name)
        emit(database, "Read replica promoted to a standalone DB instance.", ["read replica"])

    begin(database, "modifying", "promote", finish)
    return database


def _find_instance(identifier: str | None) -> DBInstance | None:
    """The instance named by an identifier (same backend) or an ARN (any region)."""
    if not identifier:
        return None
    from moto.rds.models import rds_backends

    if identifier.startswith("arn:"):
        parts = identifier.split(":")
        account, region, name = parts[4], parts[3], parts[-1]
        return rds_backends[account][region].databases.get(name)
    for account_backends in rds_backends.values():
        for backend in account_backends.values():
            found = backend.databases.get(identifier)
            if found is not None:
                return found
    return None


RDSBackend.promote_read_replica = promote_read_replica  # type: ignore[method-assign]


# --- creations -----------------------------------------------------------------------

_create_db_instance = RDSBackend.create_db_instance
_create_read_replica = RDSBackend.create_db_instance_read_replica
_create_db_cluster = RDSBackend.create_db_cluster


def create_db_instance(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    database = _create_db_instance(self, db_kwargs)
    database.__dict__.pop(TRANSITION_KEY, None)  # restores copy their source's __dict__
    begin(database, "creating", "create")
    return database


def create_db_instance_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    source_id = db_kwargs["source_db_instance_identifier"]
    source = self.find_db_from_id(source_id)
    if source.status != "available":
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"DB instance {source_id} is not in a valid state to create a read replica: "
            f"its status is {source.status}.",
        )
    if db_kwargs["db_instance_identifier"] in self.databases:
        raise RDSClientError("DBInstanceAlreadyExists", "DB instance already exists")
    replica = _create_read_replica(self, db_kwargs)
    # moto builds the replica as a shallow copy of its source: own its state.
    replica.__dict__.pop(TRANSITION_KEY, None)
    replica.__dict__.pop("_estate_secondary_az", None)
    replica.replicas = []
    emit(replica, "Creating read replica.", ["creation", "read replica"])
    begin(replica, "creating", "create")
    return replica


def create_db_cluster(self: RDSBackend, kwargs: dict[str, Any]) -> DBCluster:
    cluster_id = kwargs["db_cluster_identifier"]
    if cluster_id in self.clusters or str(cluster_id).lower() in self.clusters:
        raise RDSClientError("DBClusterAlreadyExistsFault", "DB Cluster already exists")
    cluster = _create_db_cluster(self, kwargs)
    cluster.__dict__.pop(TRANSITION_KEY, None)
    cluster.__dict__.pop("clone_group_id", None)
    # moto shows "creating" on the first read only; the transition below says it for
    # as long as the configured duration instead.
    cluster._status = "available"
    emit(cluster, "DB cluster created", ["creation"], CLUSTER)
    begin(cluster, "creating", "create")
    return cluster


RDSBackend.create_db_instance = create_db_instance  # type: ignore[method-assign]
RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica  # type: ignore[method-assign]
RDSBackend.create_db_cluster = create_db_cluster  # type: ignore[method-assign]


# --- RestoreDBClusterToPointInTime (PITR and clones) ---------------------------------

_restore_cluster_pitr = RDSBackend.restore_db_cluster_to_point_in_time


def restorable_window(cluster: DBCluster) -> tuple[datetime, datetime]:
    earliest = _naive_utc(getattr(cluster, "earliest_restorable_time", None)) or now()
    latest = _naive_utc(getattr(cluster, "latest_restorable_time", None)) or now()
    return earliest, latest


def _require_inside(when: datetime, earliest: datetime, latest: datetime, what: str) -> None:
    # AWS restores to the second: compare at that precision.
    if not earliest.replace(microsecond=0) <= when <= latest:
        raise RDSClientError(
            "InvalidRestoreFault",
            f"The specified restore time {when.isoformat()}Z is outside the restorable "
            f"window of {what} ({earliest.isoformat()}Z to {latest.isoformat()}Z).",
        )


def restore_db_cluster_to_point_in_time(
    self: RDSBackend,
    db_cluster_identifier: str,
    source_db_cluster_identifier: str,
    restore_type: str = "full-copy",
    restore_to_time: datetime | None = None,
    use_latest_restorable_time: bool = False,
    **overrides: Any,
) -> DBCluster:
    source = _cluster(self, source_db_cluster_identifier)
    _require_cluster_available(source, "restore")
    when = _naive_utc(restore_to_time)
    if when is not None:
        earliest, latest = restorable_window(source)
        _require_inside(when, earliest, latest, f"DB cluster {source.db_cluster_identifier}")
    elif not use_latest_restorable_time and restore_type != "copy-on-write":
        raise InvalidParameterCombination(
            "You must specify either RestoreToTime or UseLatestRestorableTime."
        )
    restored = _restore_cluster_pitr(
        self,
        db_cluster_identifier,
        source_db_cluster_identifier,
        restore_type=restore_type,
        restore_to_time=restore_to_time,
        use_latest_restorable_time=use_latest_restorable_time,
        **overrides,
    )
    if restore_type == "copy-on-write":
        group = source.__dict__.setdefault("clone_group_id", str(uuid.uuid4()))
        restored.__dict__["clone_group_id"] = group
    return restored


RDSBackend.restore_db_cluster_to_point_in_time = restore_db_cluster_to_point_in_time  # type: ignore[method-assign]
# moto reports CloneGroupId from this attribute; absent means "not a clone".
DBCluster.clone_group_id = property(lambda self: self.__dict__.get("clone_group_id"))  # type: ignore[attr-defined]


# --- RestoreDBInstanceToPointInTime --------------------------------------------------

_restore_instance_pitr = RDSBackend.restore_db_instance_to_point_in_time


def restore_db_instance_to_point_in_time(
    self: RDSBackend,
    source_db_identifier: str,
    target_db_identifier: str,
    overrides: dict[str, Any],
) -> DBInstance:
    from sandbox.extensions.rds_backups import earliest_restorable, latest_restorable

    source = self.databases.get(source_db_identifier or "")
    if source is None:
        raise DBInstanceNotFoundError(source_db_identifier)
    if getattr(source, "db_cluster_identifier", None):
        raise InvalidParameterCombination(
            f"DB instance {source_db_identifier} is a member of DB cluster "
            f"{source.db_cluster_identifier}: restore the cluster to a point in time instead."
        )
    retention = int(source.backup_retention_period or 0)
    if not retention:
        raise RDSClientError(
            "InvalidDBInstanceState",
            f"Automated backups are not enabled for DB instance {source_db_identifier}: "
            "there is no point in time to restore to.",
        )
    if target_db_identifier in self.databases:
        raise RDSClientError("DBInstanceAlreadyExists", "DB instance already exists")
    when = _naive_utc(overrides.get("restore_time"))
    use_latest = str(overrides.get("use_latest_restorable_time", "")).lower() in ("true", "1")
    if when is not None and use_latest:
        raise InvalidParameterCombination(
            "Only one of RestoreTime and UseLatestRestorableTime may be given."
        )
    if when is None and not use_latest:
        raise InvalidParameterCombination(
            "You must specify either RestoreTime or UseLatestRestorableTime."
        )
    if when is not None:
        earliest = earliest_restorable(source.created, retention) or now()
        latest = latest_restorable(source.created, retention) or now()
        _require_inside(when, earliest, latest, f"DB instance {source_db_identifier}")
    restored = _restore_instance_pitr(self, source_db_identifier, target_db_identifier, overrides)
    # moto copies the source's attributes: a restored instance is nobody's replica.
    restored.source_db_instance_identifier = None
    restored.replicas = []
    restored.__dict__.pop("_estate_secondary_az", None)
    restored.created = now()
    emit(
        restored,
        f"Restored from DB instance {source.db_instance_identifier} to "
        f"{(when or latest_restorable(source.created, retention) or now()).isoformat()}Z",
        ["creation", "restoration"],
    )
    return restored


RDSBackend.restore_db_instance_to_point_in_time = restore_db_instance_to_point_in_time  # type: ignore[method-assign]


# --- ModifyDBCluster -----------------------------------------------------------------

_modify_db_cluster = RDSBackend.modify_db_cluster


def modify_db_cluster(self: RDSBackend, kwargs: dict[str, Any]) -> DBCluster:
    cluster = _cluster(self, kwargs["db_cluster_identifier"])
    _require_cluster_available(cluster, "modification")
    scaling = kwargs.get("serverless_v2_scaling_configuration")
    if scaling:
        low = float(scaling.get("min_capacity", scaling.get("MinCapacity", 0.5)))
        high = float(scaling.get("max_capacity", scaling.get("MaxCapacity", low)))
        if not (0 <= low <= high <= 256) or (low * 2) % 1 or (high * 2) % 1:
            raise InvalidParameterValue(
                f"Invalid ServerlessV2ScalingConfiguration: MinCapacity {low} and "
                f"MaxCapacity {high} must be multiples of 0.5 between 0 and 256, with "
                "MinCapacity <= MaxCapacity."
            )
    result = _modify_db_cluster(self, kwargs)
    begin(cluster, "modifying", "modify")
    return result


RDSBackend.modify_db_cluster = modify_db_cluster  # type: ignore[method-assign]


# --- RebootDBCluster -----------------------------------------------------------------


@add_action(RDSResponse)
def reboot_db_cluster(self: RDSResponse) -> ActionResult:
    cluster = _cluster(self.backend, self.params.get("DBClusterIdentifier"))
    _require_cluster_available(cluster, "reboot")

    def finish() -> None:
        emit(cluster, "DB cluster restarted", ["availability"], CLUSTER)

    begin(cluster, "rebooting", "reboot", finish)
    return ActionResult({"DBCluster": cluster})


# --- BacktrackDBCluster / DescribeDBClusterBacktracks --------------------------------

BACKTRACKS_KEY = "estate_backtracks"


def earliest_backtrack_time(cluster: DBCluster) -> datetime | None:
    """Where the backtrack window starts: ``backtrack_window`` seconds ago, but never
    before the cluster existed (or before its last backtrack's target)."""
    if cluster.engine != "aurora-mysql" or not getattr(cluster, "backtrack_window", 0):
        return None
    reported = _naive_utc(getattr(cluster, "earliest_backtrack_time", None))
    if reported is not None:
        return reported
    created = _naive_utc(cluster.created) or now()
    return max(created, now() - timedelta(seconds=int(cluster.backtrack_window)))


def _backtracks(backend: RDSBackend) -> list[dict[str, Any]]:
    return state(backend, BACKTRACKS_KEY, list)


@add_action(RDSResponse)
def backtrack_db_cluster(self: RDSResponse) -> ActionResult:
    cluster = _cluster(self.backend, self.params.get("DBClusterIdentifier"))
    if cluster.engine != "aurora-mysql" or not getattr(cluster, "backtrack_window", 0):
        raise InvalidDBClusterStateFault(
            f"Backtrack is not enabled for DB cluster {cluster.db_cluster_identifier}."
        )
    _require_cluster_available(cluster, "backtrack")
    target = _naive_utc(self.params.get("BacktrackTo"))
    if target is None:
        raise InvalidParameterValue("BacktrackTo is required.")
    earliest = earliest_backtrack_time(cluster) or now()
    if target < earliest:
        if self.params.get("UseEarliestTimeOnPointInTimeUnavailable"):
            target = earliest
        else:
            raise InvalidParameterValue(
                f"The backtrack time {target.isoformat()}Z is earlier than the earliest "
                f"backtrack time {earliest.isoformat()}Z of DB cluster "
                f"{cluster.db_cluster_identifier}."
            )
    if target > now():
        raise InvalidParameterValue("The backtrack time cannot be in the future.")
    record: dict[str, Any] = {
        "DBClusterIdentifier": cluster.db_cluster_identifier,
        "BacktrackIdentifier": str(uuid.uuid4()),
        "BacktrackTo": target,
        "BacktrackedFrom": now(),
        "BacktrackRequestCreationTime": now(),
        "Status": "applying",
    }
    _backtracks(self.backend).append(record)
    emit(cluster, f"Backtrack to {target.isoformat()}Z started.", ["backtrack"], CLUSTER)

    def finish() -> None:
        record["Status"] = "completed"
        emit(cluster, "Backtrack completed.", ["backtrack"], CLUSTER)

    begin(cluster, "backtracking", "backtrack", finish)
    return ActionResult(dict(record))


@add_action(RDSResponse)
def describe_db_cluster_backtracks(self: RDSResponse) -> ActionResult:
    cluster = _cluster(self.backend, self.params.get("DBClusterIdentifier"))
    cluster.status  # noqa: B018 - reading the status finishes a due backtrack
    wanted = self.params.get("BacktrackIdentifier")
    found = [
        dict(b)
        for b in reversed(_backtracks(self.backend))
        if b["DBClusterIdentifier"] == cluster.db_cluster_identifier
        and (not wanted or b["BacktrackIdentifier"] == wanted)
    ]
    if wanted and not found:
        raise RDSClientError("DBClusterBacktrackNotFoundFault", f"Backtrack {wanted} not found.")
    return ActionResult({"DBClusterBacktracks": found})


# --- describe by identifier: a direct lookup -----------------------------------------
# moto answers DescribeDBClusters/DescribeDBInstances for one identifier by filtering
# every resource of the region (computing each one's ARN): ~11 ms at 500 clusters,
# which is most of the sandbox's time when hundreds of operations poll their targets.
# An identifier without other filters is a dictionary lookup, with the same answers.

_describe_db_clusters = RDSBackend.describe_db_clusters
_describe_db_instances = RDSBackend.describe_db_instances


def describe_db_clusters(
    self: RDSBackend, db_cluster_identifier: str | None = None, filters: Any = None
) -> list[DBCluster]:
    if db_cluster_identifier and not filters and not db_cluster_identifier.startswith("arn:"):
        found = self.clusters.get(db_cluster_identifier.lower()) or self.clusters.get(
            db_cluster_identifier
        )
        if found is None:
            raise DBClusterNotFoundError(db_cluster_identifier)
        return [found]
    return _describe_db_clusters(self, db_cluster_identifier, filters)


def describe_db_instances(
    self: RDSBackend, db_instance_identifier: str | None = None, filters: Any = None
) -> list[DBInstance]:
    if db_instance_identifier and not filters and not db_instance_identifier.startswith("arn:"):
        found = self.databases.get(db_instance_identifier.lower()) or self.databases.get(
            db_instance_identifier
        )
        if found is not None:
            return [found]
    if (
        not db_instance_identifier
        and filters
        and set(filters) == {"db-cluster-id"}
        and not any(str(v).startswith("arn:") for v in filters["db-cluster-id"])
    ):
        wanted = {str(v).lower() for v in filters["db-cluster-id"]}
        if len(wanted) == 1:
            # A cluster's instances (operations poll them): from the membership index.
            return rds_speed.instances_of_cluster(self, wanted.pop())
        return [
            db
            for db in self.databases.values()
            if (getattr(db, "db_cluster_identifier", None) or "").lower() in wanted
        ]
    return _describe_db_instances(self, db_instance_identifier, filters)


RDSBackend.describe_db_clusters = describe_db_clusters  # type: ignore[method-assign]
RDSBackend.describe_db_instances = describe_db_instances  # type: ignore[method-assign]
