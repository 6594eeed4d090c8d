"""ElastiCache lifecycle moto lacks: ``TestFailover`` of a replication group's shard,
and ``DescribeEvents`` for the events it emits.

``TestFailover`` is refused as AWS refuses it (unknown group or shard, automatic
failover off, a shard without replicas, a group not available, more than 15 shards in a
rolling 24 hours); otherwise the group is ``modifying`` for the configured "failover"
duration (``lifecycle_core``) and then the shard's first replica is the primary and the
old primary a replica (the ``current_role`` values the elasticache extension reports).
"""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import ActionResult
from moto.elasticache.exceptions import ElastiCacheException
from moto.elasticache.models import ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse

from sandbox.extensions.lifecycle_core import begin, settle
from sandbox.patching import add_action, now, state

EVENTS_KEY = "estate_cache_events"
FAILOVERS_KEY = "estate_test_failovers"
MAX_TEST_FAILOVERS_PER_DAY = 15


def _error(code: str, message: str) -> ElastiCacheException:
    return ElastiCacheException(code, message)


def _events(backend: ElastiCacheBackend) -> list[dict[str, Any]]:
    return state(backend, EVENTS_KEY, list)


def emit(backend: ElastiCacheBackend, source: str, source_type: str, message: str) -> None:
    _events(backend).append(
        {"SourceIdentifier": source, "SourceType": source_type, "Message": message, "Date": now()}
    )


# ReplicationGroup keeps a plain ``status``: a property lets a transition show through.
def _group_status_get(self: ReplicationGroup) -> str:
    pending = settle(self)
    if pending is not None:
        return pending
    return self.__dict__.get("_estate_status", "available")


def _group_status_set(self: ReplicationGroup, value: str) -> None:
    self.__dict__["_estate_status"] = value


ReplicationGroup.status = property(_group_status_get, _group_status_set)  # type: ignore[assignment]


def _members(node_group: dict[str, Any]) -> list[dict[str, Any]]:
    return node_group.get("node_group_members", [])


@add_action(ElastiCacheResponse)
def test_failover(self: ElastiCacheResponse) -> ActionResult:
    backend: ElastiCacheBackend = self.elasticache_backend
    group_id = self._get_param("ReplicationGroupId")
    shard_id = self._get_param("NodeGroupId")
    group = backend.replication_groups.get(group_id)
    if group is None:
        raise _error("ReplicationGroupNotFoundFault", f"Replication group {group_id} not found.")
    if group.status != "available":
        raise _error(
            "InvalidReplicationGroupState",
            f"Replication group {group_id} is {group.status}; it must be available.",
        )
    if getattr(group, "automatic_failover", "disabled") != "enabled":
        raise _error(
            "InvalidReplicationGroupState",
            f"Automatic failover is not enabled for replication group {group_id}.",
        )
    node_group = next((g for g in group.node_groups if g["node_group_id"] == shard_id), None)
    if node_group is None:
        raise _error("NodeGroupNotFoundFault", f"Node group {shard_id} not found in {group_id}.")
    members = _members(node_group)
    if len(members) < 2:
        raise _error(
            "InvalidParameterValue", f"Node group {shard_id} has no replica to fail over to."
        )
    recent: list[float] = state(backend, FAILOVERS_KEY, list)
    day_ago = time.time() - 86400
    recent[:] = [t for t in recent if t > day_ago]
    if len(recent) >= MAX_TEST_FAILOVERS_PER_DAY:
        raise _error(
            "TestFailoverNotAvailableFault",
            f"TestFailover can be called for at most {MAX_TEST_FAILOVERS_PER_DAY} node groups "
            "in a rolling 24 hours.",
        )
    recent.append(time.time())
    primary = next(m for m in members if m.get("current_role") == "primary")
    replica = next(m for m in members if m is not primary)
    emit(
        backend,
        group_id,
        "replication-group",
        f"Test Failover API called for node group {shard_id}",
    )

    def finish() -> None:
        primary["current_role"] = "replica"
        replica["current_role"] = "primary"
        emit(
            backend,
            group_id,
            "replication-group",
            f"Failover from primary node {primary['cache_cluster_id']} to replica node "
            f"{replica['cache_cluster_id']} completed",
        )

    begin(group, "modifying", "failover", finish)
    return ActionResult({"ReplicationGroup": group})


@add_action(ElastiCacheResponse)
def describe_events(self: ElastiCacheResponse) -> ActionResult:
    source = self._get_param("SourceIdentifier")
    source_type = self._get_param("SourceType")
    for group in self.elasticache_backend.replication_groups.values():
        settle(group)  # finish due failovers so their events are there
    found = [
        e
        for e in _events(self.elasticache_backend)
        if (not source or e["SourceIdentifier"] == source)
        and (not source_type or e["SourceType"] == source_type)
    ]
    return ActionResult({"Events": list(reversed(found))})
