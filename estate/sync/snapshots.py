"""RDS snapshots: instance and cluster snapshots with their sharing."""

from __future__ import annotations

from collections.abc import Iterator

from estate.models import DbCluster, DbInstance, DbSnapshot
from estate.sync.fetch import Event, FetchContext, stream, text
from estate.sync.store import Lookups, PartSpec, Row
from estate.sync.tagging import described

# --- snapshots ------------------------------------------------------------------------


def _resolve_snapshot(row: Row, lookups: Lookups) -> None:
    source = row["source_identifier"]
    if row["scope"] == DbSnapshot.Scope.CLUSTER:
        row["cluster_id"] = lookups.ids(DbCluster).get(source)
    else:
        row["instance_id"] = lookups.ids(DbInstance).get(source)


INSTANCE_SNAPSHOTS = PartSpec(
    "instance_snapshots",
    DbSnapshot,
    scope={"scope": DbSnapshot.Scope.INSTANCE},
    link_fields=("instance_id",),
    resolve=_resolve_snapshot,
)
CLUSTER_SNAPSHOTS = PartSpec(
    "cluster_snapshots",
    DbSnapshot,
    scope={"scope": DbSnapshot.Scope.CLUSTER},
    link_fields=("cluster_id",),
    resolve=_resolve_snapshot,
)


def _restore_attribute(attributes: list[dict]) -> tuple[list[str], bool]:
    for attribute in attributes:
        if attribute.get("AttributeName") == "restore":
            values = attribute.get("AttributeValues") or []
            return sorted(v for v in values if v != "all"), "all" in values
    return [], False


def fetch_snapshots(ctx: FetchContext) -> Iterator[Event]:
    """Instance and cluster snapshots (manual, automated, AWS Backup). Sharing is read
    from the ``restore`` attribute for manual snapshots only: automated ones cannot be
    shared, and one attribute call per snapshot is the expensive part of this kind."""

    def instance_snapshot(item: dict) -> Row:
        shared, public = [], False
        if item.get("SnapshotType") == "manual":
            result = ctx.call(
                "rds",
                "describe_db_snapshot_attributes",
                DBSnapshotIdentifier=item["DBSnapshotIdentifier"],
            )
            shared, public = _restore_attribute(
                result.get("DBSnapshotAttributesResult", {}).get("DBSnapshotAttributes") or []
            )
        return {
            "arn": item["DBSnapshotArn"],
            "identifier": item["DBSnapshotIdentifier"],
            "status": text(item.get("Status")),
            **described(item),
            "scope": DbSnapshot.Scope.INSTANCE,
            "snapshot_type": text(item.get("SnapshotType")),
            "source_identifier": text(item.get("DBInstanceIdentifier")),
            "engine": text(item.get("Engine")),
            "engine_version": text(item.get("EngineVersion")),
            "created_time": item.get("SnapshotCreateTime"),
            "allocated_storage": item.get("AllocatedStorage"),
            "encrypted": bool(item.get("Encrypted")),
            "kms_key_id": text(item.get("KmsKeyId")),
            "source_region": text(item.get("SourceRegion")),
            "source_snapshot_arn": text(item.get("SourceDBSnapshotIdentifier")),
            "shared_with": shared,
            "is_public": public,
        }

    def cluster_snapshot(item: dict) -> Row:
        shared, public = [], False
        if item.get("SnapshotType") == "manual":
            result = ctx.call(
                "rds",
                "describe_db_cluster_snapshot_attributes",
                DBClusterSnapshotIdentifier=item["DBClusterSnapshotIdentifier"],
            )
            shared, public = _restore_attribute(
                result.get("DBClusterSnapshotAttributesResult", {}).get(
                    "DBClusterSnapshotAttributes"
                )
                or []
            )
        return {
            "arn": item["DBClusterSnapshotArn"],
            "identifier": item["DBClusterSnapshotIdentifier"],
            "status": text(item.get("Status")),
            **described(item),
            "scope": DbSnapshot.Scope.CLUSTER,
            "snapshot_type": text(item.get("SnapshotType")),
            "source_identifier": text(item.get("DBClusterIdentifier")),
            "engine": text(item.get("Engine")),
            "engine_version": text(item.get("EngineVersion")),
            "created_time": item.get("SnapshotCreateTime"),
            "allocated_storage": item.get("AllocatedStorage"),
            "encrypted": bool(item.get("StorageEncrypted")),
            "kms_key_id": text(item.get("KmsKeyId")),
            "source_region": "",
            "source_snapshot_arn": text(item.get("SourceDBClusterSnapshotArn")),
            "shared_with": shared,
            "is_public": public,
        }

    yield from stream(
        INSTANCE_SNAPSHOTS,
        ctx.paginate("rds", "describe_db_snapshots", "DBSnapshots"),
        instance_snapshot,
    )
    yield from stream(
        CLUSTER_SNAPSHOTS,
        ctx.paginate("rds", "describe_db_cluster_snapshots", "DBClusterSnapshots"),
        cluster_snapshot,
    )
