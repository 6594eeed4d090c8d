"""DMS as sync reads it: endpoints become active, and per-table statistics.

moto 5.2.5 leaves endpoints ``creating`` forever (AWS: ``active`` once created), reports
``EndpointType`` in lower case (AWS: ``SOURCE``/``TARGET``), sends task and instance
dates as zone-less strings (botocore then gives naive datetimes) and has no
``DescribeTableStatistics``.

Table statistics live in backend state, one list per replication task::

    backend.__dict__["estate_table_stats"][task_arn] = [
        {
            "SchemaName": "shop", "TableName": "orders",
            "Inserts": 0, "Deletes": 0, "Updates": 0, "Ddls": 0,
            "AppliedInserts": 0, "AppliedDeletes": 0, "AppliedUpdates": 0,
            "AppliedDdls": 0,
            "FullLoadRows": 120000, "FullLoadCondtnlChkFailedRows": 0,
            "FullLoadErrorRows": 0,
            "FullLoadStartTime": datetime | None,   # naive UTC (moto's convention)
            "FullLoadEndTime": datetime | None,
            "FullLoadReloaded": False,
            "LastUpdateTime": datetime,
            "TableState": "Before load" | "Full load" | "Table completed"
                          | "Table cancelled" | "Table error",
            "ValidationPendingRecords": 0, "ValidationFailedRecords": 0,
            "ValidationSuspendedRecords": 0, "ValidationState": "Not enabled",
            "ValidationStateDetails": "",
        },
        ...
    ]

Keys are AWS's ``TableStatistics`` members; missing ones are simply not reported, and
datetimes are sent as epoch seconds (the JSON protocol's timestamps). The operations
extension updates the same structure as tasks run; ``table_statistics(backend, arn)``
gives the list to update, ``new_table_stat(schema, table)`` a fresh entry.
"""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime
from typing import Any

import moto.dms.models as dms_models
from moto.dms.exceptions import InvalidParameterCombinationException, ResourceNotFoundFault
from moto.dms.models import (
    DatabaseMigrationServiceBackend,
    Endpoint,
    FakeReplicationInstance,
    FakeReplicationTask,
)
from moto.dms.responses import DatabaseMigrationServiceResponse
from moto.moto_api._internal import mock_random

from sandbox.patching import add_action, now, state

STATS_KEY = "estate_table_stats"
_FILTERS = {"schema-name": "SchemaName", "table-name": "TableName", "table-state": "TableState"}


def table_statistics(backend: DatabaseMigrationServiceBackend, task_arn: str) -> list[dict]:
    """The (mutable) statistics list of one task."""
    stats: dict[str, list[dict]] = state(backend, STATS_KEY, dict)
    return stats.setdefault(task_arn, [])


def new_table_stat(schema: str, table: str, state_: str = "Before load") -> dict[str, Any]:
    return {
        "SchemaName": schema,
        "TableName": table,
        "Inserts": 0,
        "Deletes": 0,
        "Updates": 0,
        "Ddls": 0,
        "AppliedInserts": 0,
        "AppliedDeletes": 0,
        "AppliedUpdates": 0,
        "AppliedDdls": 0,
        "FullLoadRows": 0,
        "FullLoadCondtnlChkFailedRows": 0,
        "FullLoadErrorRows": 0,
        "FullLoadStartTime": None,
        "FullLoadEndTime": None,
        "FullLoadReloaded": False,
        "LastUpdateTime": now(),
        "TableState": state_,
        "ValidationPendingRecords": 0,
        "ValidationFailedRecords": 0,
        "ValidationSuspendedRecords": 0,
        "ValidationState": "Not enabled",
        "ValidationStateDetails": "",
    }


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp()
    return value


@add_action(DatabaseMigrationServiceResponse)
def describe_table_statistics(self: DatabaseMigrationServiceResponse) -> str:
    backend = self.dms_backend
    task_arn = self._get_param("ReplicationTaskArn")
    if not task_arn:
        raise InvalidParameterCombinationException("ReplicationTaskArn is required.")
    if task_arn not in backend.replication_tasks:
        raise ResourceNotFoundFault("Replication task could not be found.")
    rows = list(state(backend, STATS_KEY, dict).get(task_arn, []))
    for spec in self._get_param("Filters", []) or []:
        key = _FILTERS.get(spec.get("Name", ""))
        if key is None:
            raise InvalidParameterCombinationException(f"Invalid filter name: {spec.get('Name')}")
        values = set(spec.get("Values") or [])
        rows = [r for r in rows if r.get(key) in values]
    max_records = int(self._get_param("MaxRecords") or 100)
    if not 20 <= max_records <= 500:
        raise InvalidParameterCombinationException("MaxRecords must be between 20 and 500.")
    start = int(self._get_param("Marker") or 0)
    page = rows[start : start + max_records]
    body: dict[str, Any] = {
        "ReplicationTaskArn": task_arn,
        # keys starting with "_" are the lifecycle extension's bookkeeping
        "TableStatistics": [
            {k: _wire(v) for k, v in row.items() if v is not None and not k.startswith("_")}
            for row in page
        ],
    }
    if start + max_records < len(rows):
        body["Marker"] = str(start + max_records)
    return json.dumps(body)


# --- Endpoints are active once created -----------------------------------------------

_original_create_endpoint = DatabaseMigrationServiceBackend.create_endpoint


def create_endpoint(self: DatabaseMigrationServiceBackend, **kwargs: Any) -> Any:
    endpoint = _original_create_endpoint(self, **kwargs)
    endpoint.status = "active"
    return endpoint


DatabaseMigrationServiceBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]

# AWS reports EndpointType in capitals ("SOURCE"/"TARGET"); moto echoes the request's
# lower case (and filters on it, so only the output changes).
_original_endpoint_to_dict = Endpoint.to_dict


def _endpoint_to_dict(self: Endpoint) -> dict[str, Any]:
    data = _original_endpoint_to_dict(self)
    data["EndpointType"] = str(data.get("EndpointType") or "").upper()
    return data


Endpoint.to_dict = _endpoint_to_dict  # type: ignore[method-assign]


# --- Timestamps ----------------------------------------------------------------------
# moto writes DMS dates as ISO strings without a zone (naive UTC), which botocore turns
# into naive datetimes; AWS's JSON protocol sends epoch seconds, parsed as UTC.

_TASK_DATES = ("ReplicationTaskCreationDate", "ReplicationTaskStartDate")
_STATS_DATES = (
    "FreshStartDate",
    "StartDate",
    "StopDate",
    "FullLoadStartDate",
    "FullLoadFinishDate",
)


def _epoch(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return _wire(parsed)
    return _wire(value)


_original_task_to_dict = FakeReplicationTask.to_dict
_original_instance_to_dict = FakeReplicationInstance.to_dict


def _task_to_dict(self: FakeReplicationTask) -> dict[str, Any]:
    data = _original_task_to_dict(self)
    for key in _TASK_DATES:
        if data.get(key) is not None:
            data[key] = _epoch(data[key])
    stats = data.get("ReplicationTaskStats") or {}
    for key in _STATS_DATES:
        if stats.get(key) is not None:
            stats[key] = _epoch(stats[key])
    return data


def _instance_to_dict(self: FakeReplicationInstance) -> dict[str, Any]:
    data = _original_instance_to_dict(self)
    if data.get("InstanceCreateTime") is not None:
        data["InstanceCreateTime"] = _epoch(data["InstanceCreateTime"])
    return data


FakeReplicationTask.to_dict = _task_to_dict  # type: ignore[method-assign]
FakeReplicationInstance.to_dict = _instance_to_dict  # type: ignore[method-assign]


# --- Reproducible identifiers --------------------------------------------------------
# moto's DMS ARNs come from Python's global random; use moto's seedable generator
# (POST /moto-api/seed) so that a seeded estate gets the same ARNs every time.


def _random_id(uppercase: bool = True, length: int = 13) -> str:
    letters = string.ascii_uppercase if uppercase else string.ascii_lowercase
    chars = string.digits + letters
    return mock_random.choice(letters) + "".join(
        mock_random.choice(chars) for _ in range(length - 1)
    )


dms_models.random_id = _random_id  # type: ignore[attr-defined]
