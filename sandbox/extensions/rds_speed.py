"""Keep moto's DescribeDBClusters linear in the fleet size.

moto finds a cluster's members by scanning every DB instance of the region, several
times per cluster (``members``, ``writer``, ``designate_writer``): a page of 100
clusters in a region of 2,500 instances cost ~1 s, so a 1,000-cluster benchmark spent
most of its time there. During a read-only RDS request (any ``Describe*`` action,
serialization included), and during the mutating ones that move roles but never add or
remove a cluster's instances (failovers, reboots, backtrack), the membership is grouped
once per backend and reused: nothing changes it in the middle of such a request. The
others (creating or deleting instances, ...) keep moto's scan.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from moto.rds.models import DBCluster, DBInstanceClustered
from moto.rds.responses import RDSResponse

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


def _members(self: DBCluster) -> list[DBInstanceClustered]:
    groups_by_backend: dict[int, dict[str, list]] | None = getattr(_local, "groups", None)
    if groups_by_backend is None:
        return _original_members.fget(self)  # type: ignore[attr-defined]
    groups = groups_by_backend.get(id(self.backend))
    if groups is None:
        groups = defaultdict(list)
        for instance in self.backend.databases.values():
            if isinstance(instance, DBInstanceClustered):
                groups[instance.db_cluster_identifier].append(instance)
        groups_by_backend[id(self.backend)] = groups
    return list(groups.get(self.resource_id, ()))


def call_action(self: RDSResponse) -> Any:
    # Looked up at call time, so that wrappers installed on BaseResponse later (the
    # call log) still run.
    base = super(RDSResponse, self).call_action
    action = str(self._get_action())
    if not action.startswith("Describe") and action not in MEMBERSHIP_KEEPING:
        return base()
    _local.groups = {}
    try:
        return base()
    finally:
        _local.groups = None


DBCluster._members = property(_members)  # type: ignore[assignment,method-assign]
RDSResponse.call_action = call_action  # type: ignore[method-assign]
