"""Aurora Global Database switchover and failover (both missing in moto 5.2.5).

* ``SwitchoverGlobalCluster`` (planned, no data loss) and ``FailoverGlobalCluster``
  (``AllowDataLoss=True`` for an unplanned failover, or ``Switchover=True``): the global
  cluster shows ``switching-over`` / ``failing-over`` with AWS's ``FailoverState`` for
  the configured "global" duration (``lifecycle_core``), then the target secondary is
  the writer and the old primary a secondary, and RDS events say so.
* Refused as AWS refuses: unknown global cluster, a target that is not a member or is
  already the primary, a global cluster that is not available, a failover that neither
  allows data loss nor asks for a switchover.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.rds.exceptions import InvalidParameterCombination, InvalidParameterValue, RDSClientError
from moto.rds.models import DBCluster, GlobalCluster
from moto.rds.responses import RDSResponse

from sandbox.extensions.lifecycle_core import begin, emit, settle
from sandbox.patching import add_action


def _global_status_get(self: GlobalCluster) -> str:
    pending = settle(self)
    if pending is not None:
        return pending
    return self.__dict__.get("_estate_status", "available")


def _global_status_set(self: GlobalCluster, value: str) -> None:
    self.__dict__["_estate_status"] = value


def _failover_state(self: GlobalCluster) -> dict[str, Any] | None:
    settle(self)
    return self.__dict__.get("_estate_failover_state")


GlobalCluster.status = property(_global_status_get, _global_status_set)  # type: ignore[assignment]
GlobalCluster.failover_state = property(_failover_state)  # type: ignore[attr-defined]


def _find(self: RDSResponse) -> GlobalCluster:
    identifier = (self.params.get("GlobalClusterIdentifier") or "").lower()
    found = self.global_backend.global_clusters.get(identifier)
    if found is None:
        raise RDSClientError(
            "GlobalClusterNotFoundFault", f"Global cluster {identifier} not found."
        )
    return found


def _target(group: GlobalCluster, reference: str) -> DBCluster:
    for member in group.members:
        if reference in (member.db_cluster_arn, member.db_cluster_identifier):
            return member
    raise InvalidParameterValue(
        f"The DB cluster {reference} is not a member of global cluster "
        f"{group.global_cluster_identifier}."
    )


def _change_writer(self: RDSResponse, *, planned: bool, allow_data_loss: bool) -> ActionResult:
    group = _find(self)
    if group.status != "available":
        raise RDSClientError(
            "InvalidGlobalClusterStateFault",
            f"Global cluster {group.global_cluster_identifier} is {group.status}; it must be "
            "available.",
        )
    target = _target(group, self.params.get("TargetDbClusterIdentifier") or "")
    if target.is_writer:
        raise InvalidParameterValue(
            f"The DB cluster {target.db_cluster_identifier} is already the primary of global "
            f"cluster {group.global_cluster_identifier}."
        )
    old = next((m for m in group.members if m.is_writer), None)
    status = "switching-over" if planned else "failing-over"
    group.__dict__["_estate_failover_state"] = {
        "Status": status,
        "FromDbClusterArn": old.db_cluster_arn if old else "",
        "ToDbClusterArn": target.db_cluster_arn,
        "IsDataLossAllowed": allow_data_loss,
    }
    what = "switchover" if planned else "failover"
    emit(
        target,
        f"Global {what} to DB cluster {target.db_cluster_identifier} started.",
        ["global-failover"],
        "db-cluster",
    )

    def finish() -> None:
        if old is not None:
            old.is_writer = False
        target.is_writer = True
        group.__dict__["_estate_failover_state"] = None
        emit(
            target,
            f"Global {what} to DB cluster {target.db_cluster_identifier} completed.",
            ["global-failover"],
            "db-cluster",
        )

    begin(group, status, "global", finish)
    return ActionResult({"GlobalCluster": group})


@add_action(RDSResponse)
def switchover_global_cluster(self: RDSResponse) -> ActionResult:
    return _change_writer(self, planned=True, allow_data_loss=False)


@add_action(RDSResponse)
def failover_global_cluster(self: RDSResponse) -> ActionResult:
    allow = bool(self.params.get("AllowDataLoss"))
    switchover = bool(self.params.get("Switchover"))
    if allow == switchover:
        raise InvalidParameterCombination(
            "Specify exactly one of AllowDataLoss (unplanned failover) or Switchover."
        )
    return _change_writer(self, planned=switchover, allow_data_loss=allow)
