"""DMS replication task lifecycle over time (moto: ``running`` at once, stats fixed at
100 %), and connection tests that can fail.

* ``CreateReplicationTask``: ``creating``, then ``ready``.
* ``StartReplicationTask``: ``starting``, then ``running``. The full load progresses
  over the configured "full_load" duration (``lifecycle_core``): ``ReplicationTaskStats``
  and the per-table statistics (``DescribeTableStatistics``, kept by the dms
  extension) grow with it. A ``full-load`` task then stops by itself (``StopReason``
  FULL_LOAD_ONLY_FINISHED); ``full-load-and-cdc`` and ``cdc`` tasks keep running with
  CDC changes counted per table.
* ``StartReplicationTaskType``: ``start-replication`` only for a task never started
  (AWS refuses it afterwards), ``resume-processing`` continues where the task stopped,
  ``reload-target`` starts the full load again.
* ``StopReplicationTask``: ``stopping``, then ``stopped`` with the progress kept.
* ``TestConnection``: an endpoint whose server name ends in ``.unreachable`` fails with
  AWS's kind of message; others succeed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from moto.dms.exceptions import InvalidResourceStateFault, ResourceNotFoundFault
from moto.dms.models import DatabaseMigrationServiceBackend, FakeConnection, FakeReplicationTask
from moto.dms.responses import DatabaseMigrationServiceResponse

import sandbox.extensions.dms as dms_reads
from sandbox.extensions.lifecycle_core import begin, duration, settle
from sandbox.patching import now

RUN_KEY = "_estate_run"
ROWS_PER_TABLE = 1000  # table i of a task holds (i + 1) x this many rows
CDC_ROWS_PER_SECOND = 5.0
DEFAULT_TABLES = (("public", "orders"), ("public", "customers"), ("public", "payments"))


def _run(task: FakeReplicationTask) -> dict[str, Any]:
    return task.__dict__.setdefault(
        RUN_KEY,
        {"loaded_s": 0.0, "since": None, "cdc_since": None, "started": False, "stop_reason": ""},
    )


def _progress(task: FakeReplicationTask) -> float:
    """Full-load progress 0..1 (a cdc-only task has no full load)."""
    if task.migration_type == "cdc":
        return 1.0
    run = _run(task)
    loaded = run["loaded_s"] + (time.monotonic() - run["since"] if run["since"] else 0.0)
    total = duration("full_load")
    return 1.0 if total <= 0 else min(1.0, loaded / total)


def _freeze(task: FakeReplicationTask) -> None:
    run = _run(task)
    if run["since"] is not None:
        run["loaded_s"] += time.monotonic() - run["since"]
        run["since"] = None


def _status_get(self: FakeReplicationTask) -> str:
    pending = settle(self)
    if pending is not None:
        return pending
    status = self.__dict__.get("_estate_status", "creating")
    if status == "running" and self.migration_type == "full-load" and _progress(self) >= 1.0:
        _freeze(self)
        _run(self)["stop_reason"] = "Stop Reason FULL_LOAD_ONLY_FINISHED"
        self.__dict__["_estate_status"] = status = "stopped"
        self.stop_date = now()
    return status


def _status_set(self: FakeReplicationTask, value: str) -> None:
    self.__dict__["_estate_status"] = value


FakeReplicationTask.status = property(_status_get, _status_set)  # type: ignore[assignment]


def _tables(task: FakeReplicationTask) -> list[tuple[str, str]]:
    """Tables named by the task's selection rules (wildcards: a default set)."""
    try:
        rules = json.loads(task.table_mappings or "{}").get("rules", [])
    except (TypeError, ValueError):
        rules = []
    named = []
    for rule in rules:
        locator = rule.get("object-locator") or {}
        schema, table = locator.get("schema-name", ""), locator.get("table-name", "")
        if rule.get("rule-type") == "selection" and schema and table and "%" not in schema + table:
            named.append((schema, table))
    return named or list(DEFAULT_TABLES)


def refresh_statistics(backend: DatabaseMigrationServiceBackend, task: FakeReplicationTask) -> None:
    """Bring the task's per-table statistics up to its progress."""
    stats = dms_reads.table_statistics(backend, task.arn)
    run = _run(task)
    if not run["started"]:
        return
    if not stats:
        stats.extend(dms_reads.new_table_stat(s, t) for s, t in _tables(task))
    status = task.status
    progress = _progress(task)
    cdc_seconds = 0.0
    if run["cdc_since"] is not None and status == "running":
        cdc_seconds = time.monotonic() - run["cdc_since"]
    for index, row in enumerate(stats):
        target = (index + 1) * ROWS_PER_TABLE
        if task.migration_type != "cdc":
            row["FullLoadRows"] = int(target * progress)
            row["FullLoadStartTime"] = row.get("FullLoadStartTime") or task.start_date
            if progress >= 1.0:
                row["FullLoadEndTime"] = row.get("FullLoadEndTime") or now()
        done = progress >= 1.0
        if task.migration_type == "full-load":
            row["TableState"] = "Table completed" if done else "Full load"
        else:
            row["TableState"] = "Table completed" if done else "Full load"
            if done and run["cdc_since"] is None and status == "running":
                run["cdc_since"] = time.monotonic()
            row["Inserts"] = row.get("_cdc_base", 0) + int(cdc_seconds * CDC_ROWS_PER_SECOND)
            row["AppliedInserts"] = row["Inserts"]
        row["LastUpdateTime"] = now()
    if status != "running" and run["cdc_since"] is not None:
        for row in stats:
            row["_cdc_base"] = row.get("Inserts", 0)
        run["cdc_since"] = None


def _task_stats(task: FakeReplicationTask, stats: list[dict[str, Any]]) -> dict[str, Any]:
    progress = _progress(task) if _run(task)["started"] else 0.0
    loaded = sum(1 for r in stats if r.get("TableState") == "Table completed")
    loading = sum(1 for r in stats if r.get("TableState") == "Full load")
    return {
        "FullLoadProgressPercent": int(progress * 100),
        "ElapsedTimeMillis": int(_run(task)["loaded_s"] * 1000),
        "TablesLoaded": loaded,
        "TablesLoading": loading,
        "TablesQueued": max(0, len(stats) - loaded - loading),
        "TablesErrored": 0,
    }


_to_dict = FakeReplicationTask.to_dict


def _task_to_dict(self: FakeReplicationTask) -> dict[str, Any]:
    body = _to_dict(self)
    body["Status"] = self.status
    stats = body.get("ReplicationTaskStats") or {}
    table_stats = self.__dict__.get("_estate_stats_view", [])
    stats.update(_task_stats(self, table_stats))
    body["ReplicationTaskStats"] = stats
    if _run(self)["stop_reason"] and body["Status"] == "stopped":
        body["StopReason"] = _run(self)["stop_reason"]
    return body


FakeReplicationTask.to_dict = _task_to_dict  # type: ignore[method-assign]


def _task(backend: DatabaseMigrationServiceBackend, arn: str) -> FakeReplicationTask:
    task = backend.replication_tasks.get(arn)
    if task is None:
        raise ResourceNotFoundFault("Replication task could not be found.")
    refresh_statistics(backend, task)
    task.__dict__["_estate_stats_view"] = dms_reads.table_statistics(backend, arn)
    return task


# --- backend calls -------------------------------------------------------------------

_create_task = DatabaseMigrationServiceBackend.create_replication_task


def create_replication_task(self: DatabaseMigrationServiceBackend, **kwargs: Any) -> Any:
    task = _create_task(self, **kwargs)
    task.__dict__["_estate_status"] = "ready"
    begin(task, "creating", "create")
    return task


def start_replication_task(
    self: DatabaseMigrationServiceBackend,
    replication_task_arn: str,
    start_type: str = "start-replication",
) -> FakeReplicationTask:
    task = _task(self, replication_task_arn)
    run = _run(task)
    if task.status not in ("ready", "stopped", "failed"):
        raise InvalidResourceStateFault(
            f"Replication task is {task.status}; it can be started when ready, stopped or failed."
        )
    if start_type == "start-replication" and run["started"]:
        raise InvalidResourceStateFault(
            "Replication task has run before: use resume-processing or reload-target."
        )
    if start_type not in ("start-replication", "resume-processing", "reload-target"):
        raise InvalidResourceStateFault(f"Unknown StartReplicationTaskType {start_type}.")
    if start_type == "reload-target":
        run["loaded_s"] = 0.0
        dms_reads.table_statistics(self, task.arn).clear()
    run["started"] = True
    run["stop_reason"] = ""
    task.start_date = task.start_date or now()
    task.__dict__["_estate_status"] = "running"

    def running() -> None:
        run["since"] = time.monotonic()

    begin(task, "starting", "dms_start", running)
    return task


def stop_replication_task(
    self: DatabaseMigrationServiceBackend, replication_task_arn: str
) -> FakeReplicationTask:
    task = _task(self, replication_task_arn)
    if task.status != "running":
        raise InvalidResourceStateFault("Replication task is not running")
    refresh_statistics(self, task)
    _freeze(task)
    run = _run(task)
    run["stop_reason"] = "Stop Reason NORMAL"
    task.__dict__["_estate_status"] = "stopped"
    task.stop_date = now()
    begin(task, "stopping", "dms_stop", lambda: refresh_statistics(self, task))
    return task


DatabaseMigrationServiceBackend.create_replication_task = create_replication_task  # type: ignore[method-assign]
DatabaseMigrationServiceBackend.start_replication_task = start_replication_task  # type: ignore[method-assign]
DatabaseMigrationServiceBackend.stop_replication_task = stop_replication_task  # type: ignore[method-assign]


def _start_response(self: DatabaseMigrationServiceResponse) -> str:
    task = self.dms_backend.start_replication_task(
        replication_task_arn=self._get_param("ReplicationTaskArn"),
        start_type=self._get_param("StartReplicationTaskType") or "start-replication",
    )
    return json.dumps({"ReplicationTask": task.to_dict()})


def _describe_tasks_response(self: DatabaseMigrationServiceResponse) -> str:
    backend = self.dms_backend
    for arn in list(backend.replication_tasks):
        _task(backend, arn)
    return _describe_tasks(self)


_describe_tasks = DatabaseMigrationServiceResponse.describe_replication_tasks
_describe_table_statistics = DatabaseMigrationServiceResponse.describe_table_statistics


def _describe_table_statistics_response(self: DatabaseMigrationServiceResponse) -> str:
    arn = self._get_param("ReplicationTaskArn")
    if arn in self.dms_backend.replication_tasks:
        _task(self.dms_backend, arn)
    return _describe_table_statistics(self)


DatabaseMigrationServiceResponse.start_replication_task = _start_response  # type: ignore[method-assign]
DatabaseMigrationServiceResponse.describe_replication_tasks = _describe_tasks_response  # type: ignore[method-assign]
DatabaseMigrationServiceResponse.describe_table_statistics = _describe_table_statistics_response  # type: ignore[attr-defined]


# --- TestConnection ------------------------------------------------------------------

UNREACHABLE_SUFFIX = ".unreachable"
_test_connection = DatabaseMigrationServiceBackend.test_connection
_connection_to_dict = FakeConnection.to_dict


def test_connection(
    self: DatabaseMigrationServiceBackend, replication_instance_arn: str, endpoint_arn: str
) -> FakeConnection:
    connection = _test_connection(self, replication_instance_arn, endpoint_arn)
    endpoint = next(e for e in self.endpoints.values() if e.endpoint_arn == endpoint_arn)
    server = getattr(endpoint, "server_name", "") or ""
    connection.__dict__["_estate_failure"] = (
        f"Test connection for endpoint {endpoint.endpoint_identifier} failed: "
        f"could not connect to server {server}: Connection timed out"
        if server.endswith(UNREACHABLE_SUFFIX)
        else ""
    )
    connection.__dict__["_estate_ready_at"] = time.monotonic() + duration("dms_test")
    return connection


def _connection_dict(self: FakeConnection) -> dict[str, Any]:
    body = _connection_to_dict(self)
    if time.monotonic() < self.__dict__.get("_estate_ready_at", 0):
        body["Status"] = "testing"
    elif self.__dict__.get("_estate_failure"):
        body["Status"] = "failed"
        body["LastFailureMessage"] = self.__dict__["_estate_failure"]
    else:
        body["Status"] = "successful"
    return body


DatabaseMigrationServiceBackend.test_connection = test_connection  # type: ignore[method-assign]
FakeConnection.to_dict = _connection_dict  # type: ignore[method-assign]
