"""DMS: replication instances, endpoints and replication tasks with a summary of their
table statistics (one DescribeTableStatistics listing per task)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from estate.models import DmsEndpoint, DmsReplicationInstance, DmsReplicationTask
from estate.sync.fetch import Event, FetchContext, stream, text
from estate.sync.store import Lookups, PartSpec, Row
from estate.sync.tagging import buffered


def _resolve_task(row: Row, lookups: Lookups) -> None:
    endpoints = lookups.ids(DmsEndpoint, "arn")
    row["source_endpoint_id"] = endpoints.get(row.pop("_source_arn", ""))
    row["target_endpoint_id"] = endpoints.get(row.pop("_target_arn", ""))
    row["replication_instance_id"] = lookups.ids(DmsReplicationInstance, "arn").get(
        row.pop("_instance_arn", "")
    )


REPLICATION_INSTANCES = PartSpec("replication_instances", DmsReplicationInstance)
DMS_ENDPOINTS = PartSpec("dms_endpoints", DmsEndpoint)
REPLICATION_TASKS = PartSpec(
    "replication_tasks",
    DmsReplicationTask,
    link_fields=("source_endpoint_id", "target_endpoint_id", "replication_instance_id"),
    resolve=_resolve_task,
)

# ReplicationTaskStats keys that move on every describe of a running task without
# anything an operator would call a change.
VOLATILE_STATS = {"ElapsedTimeMillis"}


def map_replication_instance(item: dict) -> Row:
    return {
        "arn": item["ReplicationInstanceArn"],
        "identifier": item["ReplicationInstanceIdentifier"],
        "status": text(item.get("ReplicationInstanceStatus")),
        "instance_class": text(item.get("ReplicationInstanceClass")),
        "engine_version": text(item.get("EngineVersion")),
        "multi_az": bool(item.get("MultiAZ")),
        "publicly_accessible": bool(item.get("PubliclyAccessible")),
        "availability_zone": text(item.get("AvailabilityZone")),
        "allocated_storage": item.get("AllocatedStorage"),
        "kms_key_id": text(item.get("KmsKeyId")),
    }


def map_endpoint(item: dict) -> Row:
    return {
        "arn": item["EndpointArn"],
        "identifier": item["EndpointIdentifier"],
        "status": text(item.get("Status")),
        "endpoint_type": text(item.get("EndpointType")).lower(),
        "engine_name": text(item.get("EngineName")),
        "server_name": text(item.get("ServerName")),
        "port": item.get("Port"),
        "database_name": text(item.get("DatabaseName")),
        "ssl_mode": text(item.get("SslMode")),
    }


def summarize_table_statistics(tables: list[dict]) -> dict[str, int]:
    return {
        "tables": len(tables),
        "full_load_rows": sum(int(t.get("FullLoadRows") or 0) for t in tables),
        "inserts": sum(int(t.get("Inserts") or 0) for t in tables),
        "updates": sum(int(t.get("Updates") or 0) for t in tables),
        "deletes": sum(int(t.get("Deletes") or 0) for t in tables),
        "errored": sum(1 for t in tables if "error" in text(t.get("TableState")).lower()),
    }


def fetch_dms(ctx: FetchContext) -> Iterator[Event]:
    def listing(operation: str, key: str, arn_key: str) -> Iterator[dict]:
        # Without the tagging API, DMS answers the tags of a whole batch in one call.
        items = ctx.paginate("dms", operation, key)
        return buffered(items, lambda batch: ctx.tags.prefetch(batch, arn_key))

    yield from stream(
        REPLICATION_INSTANCES,
        listing("describe_replication_instances", "ReplicationInstances", "ReplicationInstanceArn"),
        ctx.tags.mapper(map_replication_instance),
    )
    yield from stream(
        DMS_ENDPOINTS,
        listing("describe_endpoints", "Endpoints", "EndpointArn"),
        ctx.tags.mapper(map_endpoint),
    )

    def task(item: dict) -> Row:
        arn = item["ReplicationTaskArn"]
        stats = {
            # JSON columns hold JSON: AWS's Start/Stop/FreshStartDate become ISO strings.
            k: v.isoformat() if isinstance(v, datetime) else v
            for k, v in (item.get("ReplicationTaskStats") or {}).items()
            if k not in VOLATILE_STATS
        }
        tables = list(
            ctx.paginate(
                "dms", "describe_table_statistics", "TableStatistics", ReplicationTaskArn=arn
            )
        )
        return {
            "arn": arn,
            "identifier": item["ReplicationTaskIdentifier"],
            "status": text(item.get("Status")),
            **ctx.tags.of(arn),
            "migration_type": text(item.get("MigrationType")),
            "progress_percent": stats.get("FullLoadProgressPercent"),
            "last_failure_message": text(item.get("LastFailureMessage")),
            "stop_reason": text(item.get("StopReason")),
            "stats": stats,
            "table_statistics_summary": summarize_table_statistics(tables),
            "started_time": item.get("ReplicationTaskStartDate"),
            "_source_arn": text(item.get("SourceEndpointArn")),
            "_target_arn": text(item.get("TargetEndpointArn")),
            "_instance_arn": text(item.get("ReplicationInstanceArn")),
        }

    yield from stream(
        REPLICATION_TASKS,
        listing("describe_replication_tasks", "ReplicationTasks", "ReplicationTaskArn"),
        task,
    )
    yield from ctx.tag_problems()
