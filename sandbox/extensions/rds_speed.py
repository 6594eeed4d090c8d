"""Keep moto's RDS requests cheap at fleet scale: cluster membership from an index.

moto finds a cluster's members by scanning every DB instance of the region, several
times per cluster (``members``, ``writer``, ``designate_writer``, ``multi_az``): a page
of 100 clusters in a region of 2,500 instances cost ~1 s, and even a single-cluster
describe or failover paid a scan of the region's instances (a third of the sandbox's
CPU in the operations benchmark).

Membership is kept in an index per backend, grouped once and reused until the
backend's instances change: the instance mapping counts its own writes (an instance
created, deleted, renamed), and every RDS request that could move an instance between
clusters other than those writes drops the index. Describe requests and the mutating
ones that move roles but never add or remove a cluster's instances (failovers,
reboots, backtrack) read it; the others keep moto's scan.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from moto.rds.models import DBCluster, DBInstance, DBInstanceClustered, RDSBackend
from moto.rds.responses import RDSResponse
from requests.structures import CaseInsensitiveDict

_local = threading.local()
# Mutating actions that never add an instance to a cluster or remove one from it.
MEMBERSHIP_KEEPING = frozenset(
    {
        "FailoverDBCluster",
        "FailoverGlobalCluster",
        "SwitchoverGlobalCluster",
        "RebootDBCluster",
        "RebootDBInstance",
        "BacktrackDBCluster",
    }
)
_original_members = DBCluster._members


class CountedInstances(CaseInsensitiveDict):
    """moto's instance mapping, counting its writes: the membership index is valid
    while the count has not moved."""

    writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.writes += 1

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.writes += 1


_original_init = RDSBackend.__init__


def _init(self: RDSBackend, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    counted = CountedInstances(self.databases)
    self.databases = counted
    self.resource_map[DBInstance] = counted


def _index(backend: RDSBackend) -> dict[str, list[DBInstance]]:
    """Cluster identifier (lower case) -> the instances naming it, in moto's order."""
    databases = backend.databases
    writes = getattr(databases, "writes", None)
    cached = backend.__dict__.get("_estate_members")
    if cached is not None and writes is not None and cached[0] == writes:
        return cached[1]
    groups: dict[str, list[DBInstance]] = defaultdict(list)
    for instance in databases.values():
        cluster = getattr(instance, "db_cluster_identifier", None)
        if cluster:
            groups[str(cluster).lower()].append(instance)
    backend.__dict__["_estate_members"] = (writes, groups)
    return groups


def forget_index(backend: RDSBackend) -> None:
    backend.__dict__.pop("_estate_members", None)


def instances_of_cluster(backend: RDSBackend, cluster_identifier: str) -> list[DBInstance]:
    """The instances whose DBClusterIdentifier is ``cluster_identifier`` (any case), as
    a scan of the region's instances would find them."""
    wanted = cluster_identifier.lower()
    return [
        instance
        for instance in _index(backend).get(wanted, ())
        # An instance moved to another cluster in place is not a member any more.
        if str(getattr(instance, "db_cluster_identifier", None) or "").lower() == wanted
    ]


def _members(self: DBCluster) -> list[DBInstanceClustered]:
    if not getattr(_local, "indexed", False):
        return _original_members.fget(self)  # type: ignore[attr-defined]
    return [
        instance
        for instance in instances_of_cluster(self.backend, str(self.resource_id))
        if isinstance(instance, DBInstanceClustered)
        and instance.db_cluster_identifier == self.resource_id
    ]


def call_action(self: RDSResponse) -> Any:
    # Looked up at call time, so that wrappers installed on BaseResponse later (the
    # call log) still run.
    base = super(RDSResponse, self).call_action
    action = str(self._get_action())
    if not action.startswith("Describe") and action not in MEMBERSHIP_KEEPING:
        # It may change membership in ways the mapping does not see: rebuild after.
        try:
            return base()
        finally:
            forget_index(self.backend)
    _local.indexed = True
    try:
        return base()
    finally:
        _local.indexed = False


RDSBackend.__init__ = _init  # type: ignore[method-assign]
DBCluster._members = property(_members)  # type: ignore[assignment,method-assign]
RDSResponse.call_action = call_action  # type: ignore[method-assign]
