"""Aurora cluster endpoints: Describe/Create/Modify/DeleteDBClusterEndpoint.

moto 5.2.5 has none of them. ``DescribeDBClusterEndpoints`` answers, like AWS, with the
cluster's built-in WRITER and READER endpoints (no identifier, no ARN) followed by its
custom endpoints; an unknown ``DBClusterEndpointIdentifier`` gives an empty list (AWS's
only error there is ``DBClusterNotFoundFault``). Custom endpoints live in backend state::

    backend.__dict__["estate_cluster_endpoints"][endpoint_id] = {
        "DBClusterEndpointIdentifier", "DBClusterIdentifier",
        "DBClusterEndpointResourceIdentifier", "Endpoint", "Status" (the settled status:
        "available"), "EndpointType": "CUSTOM", "CustomEndpointType": READER|ANY,
        "StaticMembers": [...], "ExcludedMembers": [...], "DBClusterEndpointArn",
        "Tags": [...], "estate_created_at": datetime,
        "_estate_transition": lifecycle_core.Transition (while one runs; never shown),
    }

Custom endpoints pass through AWS's transitional states, each lasting the duration of
the ``endpoint`` transition kind (``lifecycle_core.duration("endpoint")``: the default
duration unless set on its own, e.g. ``set_durations(endpoint=5)``):

* ``CreateDBClusterEndpoint``: ``creating``, then ``available``.
* ``ModifyDBClusterEndpoint``: ``modifying``, then ``available``. The answer to the call
  shows the requested type and members (as AWS's does); Describe keeps showing the old
  ones until the modification is over, as AWS does, and the new ones from then on.
* ``DeleteDBClusterEndpoint``: ``deleting``, then the endpoint is gone from Describe
  (and from the cluster's ``CustomEndpoints``).

Modify and delete are refused with ``InvalidDBClusterEndpointStateFault`` (HTTP 400)
unless the endpoint is ``available``. The transition is lifecycle_core's: kept in the
endpoint dict itself under a private key (Describe strips it), its status computed when
something reads the endpoint, so the ``db-cluster-endpoint-status`` filter sees it too.
No RDS events: a custom endpoint is not an event source type in AWS.

``DescribeDBClusters`` also lists them in ``CustomEndpoints`` as AWS does.
"""

from __future__ import annotations

import re
import string
import threading
from typing import Any

from moto.core.responses import ActionResult
from moto.moto_api._internal import mock_random as random
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)
from moto.rds.models import DBCluster, RDSBackend
from moto.rds.responses import RDSResponse

from sandbox.extensions.lifecycle_core import TRANSITION_KEY, begin, settle
from sandbox.patching import add_action, filter_values, now, state

STATE_KEY = "estate_cluster_endpoints"
TRANSITION_KIND = "endpoint"
MAX_CUSTOM_ENDPOINTS_PER_CLUSTER = 5
_IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")
# The sandbox answers requests on several threads: a state check and the change it
# allows (or an identifier check and the insert), and the settling of a due deletion by
# another request, must not interleave. Re-entrant: actions call ``custom_endpoints``.
_lock = threading.RLock()


class _AsResource:
    """An endpoint dict seen as a resource by lifecycle_core, whose ``begin``/``settle``
    keep the transition in ``resource.__dict__``: here that is the endpoint dict itself."""

    def __init__(self, endpoint: dict[str, Any]) -> None:
        self.__dict__ = endpoint


def custom_endpoints(backend: RDSBackend) -> dict[str, dict[str, Any]]:
    """Custom endpoints of one account/region, by identifier: the transitions that are
    due are finished (a finished deletion removes its endpoint) and the endpoints whose
    cluster has been deleted are dropped, as AWS does.

    The only place that settles endpoints: an action holding ``_lock`` then reads one
    snapshot (``status_of``), and no endpoint vanishes from under it. Others iterate
    over a copy (``list(...)``): another request may settle a deletion meanwhile."""
    endpoints: dict[str, dict[str, Any]] = state(backend, STATE_KEY, dict)
    with _lock:
        for endpoint_id, endpoint in list(endpoints.items()):
            if endpoint["DBClusterIdentifier"] not in backend.clusters:
                endpoints.pop(endpoint_id, None)
            else:
                settle(_AsResource(endpoint))
    return endpoints


def status_of(endpoint: dict[str, Any]) -> str:
    """The endpoint's status as of the last ``custom_endpoints``: a transition still
    kept is still running."""
    transition = endpoint.get(TRANSITION_KEY)
    return transition.status if transition is not None else endpoint["Status"]


def _shown(endpoint: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """The endpoint as answered: private keys dropped, its current status."""
    shown = {k: v for k, v in endpoint.items() if not k.startswith("_")}
    shown["Status"] = status or status_of(endpoint)
    return shown


def _require_available(endpoint: dict[str, Any], action: str) -> None:
    status = status_of(endpoint)
    if status != "available":
        raise RDSClientError(
            "InvalidDBClusterEndpointStateFault",
            f"Cannot {action} DBClusterEndpoint {endpoint['DBClusterEndpointIdentifier']}: "
            f"its status is {status}, and it must be available.",
        )


def builtin_endpoints(cluster: DBCluster) -> list[dict[str, Any]]:
    status = "available" if cluster._status in ("available", "creating") else cluster._status
    base = {"DBClusterIdentifier": cluster.db_cluster_identifier, "Status": status}
    return [
        {**base, "Endpoint": cluster.endpoint, "EndpointType": "WRITER"},
        {**base, "Endpoint": cluster.reader_endpoint, "EndpointType": "READER"},
    ]


def _not_found(endpoint_id: str) -> RDSClientError:
    return RDSClientError(
        "DBClusterEndpointNotFoundFault", f"DBClusterEndpoint {endpoint_id} not found."
    )


def _cluster(backend: RDSBackend, cluster_id: str) -> DBCluster:
    cluster = backend.clusters.get((cluster_id or "").lower())
    if cluster is None:
        raise DBClusterNotFoundError(cluster_id)
    return cluster


def _validate_members(
    cluster: DBCluster, endpoint_type: str | None, static: list[str], excluded: list[str]
) -> None:
    if endpoint_type is not None and endpoint_type not in ("READER", "ANY"):
        raise InvalidParameterValue(
            f"Invalid endpoint type: {endpoint_type}. Valid values are READER and ANY."
        )
    if static and excluded:
        raise InvalidParameterCombination(
            "StaticMembers and ExcludedMembers cannot both be specified."
        )
    member_ids = {m.db_instance_identifier for m in cluster._members}
    unknown = sorted({m.lower() for m in [*static, *excluded]} - member_ids)
    if unknown:
        raise InvalidParameterValue(
            f"DB instance(s) {', '.join(unknown)} are not members of DB cluster "
            f"{cluster.db_cluster_identifier}."
        )


def _url_hash(cluster: DBCluster) -> str:
    return str(cluster.url_identifier)


@add_action(RDSResponse)
def create_db_cluster_endpoint(self: RDSResponse) -> ActionResult:
    with _lock:
        return ActionResult(_create(self.backend, self.params))


def _create(backend: RDSBackend, params: Any) -> dict[str, Any]:
    cluster = _cluster(backend, params.get("DBClusterIdentifier", ""))
    endpoint_id = str(params.get("DBClusterEndpointIdentifier") or "")
    if not _IDENTIFIER.match(endpoint_id):
        raise InvalidParameterValue(
            f"The parameter DBClusterEndpointIdentifier is not a valid identifier: "
            f"{endpoint_id!r}. Identifiers must begin with a letter; must contain only "
            "ASCII letters, digits, and hyphens; and must not end with a hyphen or contain "
            "two consecutive hyphens."
        )
    endpoint_id = endpoint_id.lower()
    endpoints = custom_endpoints(backend)
    if endpoint_id in endpoints:
        raise RDSClientError(
            "DBClusterEndpointAlreadyExistsFault",
            f"DBClusterEndpoint with identifier {endpoint_id} already exists.",
        )
    endpoint_type = params.get("EndpointType")
    if not endpoint_type:
        raise InvalidParameterValue("The parameter EndpointType must be provided.")
    static = [m.lower() for m in params.get("StaticMembers") or []]
    excluded = [m.lower() for m in params.get("ExcludedMembers") or []]
    _validate_members(cluster, endpoint_type, static, excluded)
    siblings = [
        e
        for e in list(endpoints.values())
        if e["DBClusterIdentifier"] == cluster.db_cluster_identifier
    ]
    if len(siblings) >= MAX_CUSTOM_ENDPOINTS_PER_CLUSTER:
        raise RDSClientError(
            "DBClusterEndpointQuotaExceededFault",
            f"Cannot create more than {MAX_CUSTOM_ENDPOINTS_PER_CLUSTER} custom endpoints "
            f"for DB cluster {cluster.db_cluster_identifier}.",
        )
    resource_id = "cluster-endpoint-" + "".join(
        random.choice(string.ascii_uppercase + string.digits) for _ in range(26)
    )
    endpoint = {
        "DBClusterEndpointIdentifier": endpoint_id,
        "DBClusterIdentifier": cluster.db_cluster_identifier,
        "DBClusterEndpointResourceIdentifier": resource_id,
        "Endpoint": (
            f"{endpoint_id}.cluster-custom-{_url_hash(cluster)}.{backend.region_name}"
            ".rds.amazonaws.com"
        ),
        "Status": "available",  # once "creating" is over
        "EndpointType": "CUSTOM",
        "CustomEndpointType": endpoint_type,
        "StaticMembers": static,
        "ExcludedMembers": excluded,
        "DBClusterEndpointArn": (
            f"arn:aws:rds:{backend.region_name}:{backend.account_id}:cluster-endpoint:{endpoint_id}"
        ),
        "Tags": list(params.get("Tags") or []),
        "estate_created_at": now(),
    }
    endpoints[endpoint_id] = endpoint
    begin(_AsResource(endpoint), "creating", TRANSITION_KIND)
    # AWS answers "creating" however short the creation: so does the sandbox, even with
    # zero durations.
    return _shown(endpoint, "creating")


@add_action(RDSResponse)
def modify_db_cluster_endpoint(self: RDSResponse) -> ActionResult:
    with _lock:
        return ActionResult(_modify(self.backend, self.params))


def _modify(backend: RDSBackend, params: Any) -> dict[str, Any]:
    endpoint_id = str(params.get("DBClusterEndpointIdentifier") or "").lower()
    endpoint = custom_endpoints(backend).get(endpoint_id)
    if endpoint is None:
        raise _not_found(endpoint_id)
    _require_available(endpoint, "modify")
    cluster = _cluster(backend, endpoint["DBClusterIdentifier"])
    endpoint_type = params.get("EndpointType")
    static = params.get("StaticMembers")
    excluded = params.get("ExcludedMembers")
    new_static = [m.lower() for m in static] if static is not None else None
    new_excluded = [m.lower() for m in excluded] if excluded is not None else None
    # Setting one list clears the other, as in AWS (they are mutually exclusive).
    if new_static and new_excluded:
        raise InvalidParameterCombination(
            "StaticMembers and ExcludedMembers cannot both be specified."
        )
    _validate_members(cluster, endpoint_type, new_static or [], new_excluded or [])
    changes: dict[str, Any] = {}
    if endpoint_type:
        changes["CustomEndpointType"] = endpoint_type
    if new_static is not None:
        changes["StaticMembers"] = new_static
        if new_static:
            changes["ExcludedMembers"] = []
    if new_excluded is not None:
        changes["ExcludedMembers"] = new_excluded
        if new_excluded:
            changes["StaticMembers"] = []
    # The new type and members apply when "modifying" ends: until then Describe shows
    # the old ones, as AWS does; the answer to this call shows the new ones, as AWS's.
    begin(_AsResource(endpoint), "modifying", TRANSITION_KIND, lambda: endpoint.update(changes))
    return _shown({**endpoint, **changes}, "modifying")


@add_action(RDSResponse)
def delete_db_cluster_endpoint(self: RDSResponse) -> ActionResult:
    with _lock:
        return ActionResult(_delete(self.backend, self.params))


def _delete(backend: RDSBackend, params: Any) -> dict[str, Any]:
    endpoint_id = str(params.get("DBClusterEndpointIdentifier") or "").lower()
    endpoints = custom_endpoints(backend)
    endpoint = endpoints.get(endpoint_id)
    if endpoint is None:
        raise _not_found(endpoint_id)
    _require_available(endpoint, "delete")

    def gone() -> None:
        if endpoints.get(endpoint_id) is endpoint:
            del endpoints[endpoint_id]

    begin(_AsResource(endpoint), "deleting", TRANSITION_KIND, gone)
    return _shown(endpoint, "deleting")


@add_action(RDSResponse)
def describe_db_cluster_endpoints(self: RDSResponse) -> ActionResult:
    with _lock:
        return ActionResult(_describe(self.backend, self.params))


def _describe(backend: RDSBackend, params: Any) -> dict[str, Any]:
    cluster_id = params.get("DBClusterIdentifier")
    endpoint_id = (params.get("DBClusterEndpointIdentifier") or "").lower()
    filters = filter_values(params)
    clusters = [_cluster(backend, cluster_id)] if cluster_id else list(backend.clusters.values())
    wanted = {c.db_cluster_identifier for c in clusters}
    found: list[dict[str, Any]] = []
    if not endpoint_id:
        for cluster in clusters:
            found.extend(builtin_endpoints(cluster))
    found.extend(
        _shown(e)
        for e in list(custom_endpoints(backend).values())
        if e["DBClusterIdentifier"] in wanted
        and (not endpoint_id or e["DBClusterEndpointIdentifier"] == endpoint_id)
    )
    found = [e for e in found if _matches(e, filters)]
    # Paged here by offset: moto's generic paginator keys pages on an identifier the
    # built-in WRITER/READER endpoints do not have (it answered HTTP 500 past 100).
    limit = _max_records(params.get("MaxRecords"))
    start = _marker_offset(params.get("Marker"))
    page = found[start : start + limit]
    result: dict[str, Any] = {"DBClusterEndpoints": page}
    if start + limit < len(found):
        result["Marker"] = str(start + limit)
    return result


def _max_records(raw: Any) -> int:
    if raw in (None, ""):
        return 100
    value = int(raw)
    if not 20 <= value <= 100:
        raise InvalidParameterValue("MaxRecords must be between 20 and 100.")
    return value


def _marker_offset(raw: Any) -> int:
    if not raw:
        return 0
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise InvalidParameterValue(f"Invalid marker: {raw}") from exc


def _matches(endpoint: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    fields = {
        "db-cluster-endpoint-type": endpoint.get("EndpointType", "").lower(),
        "db-cluster-endpoint-custom-type": endpoint.get("CustomEndpointType", "").lower(),
        "db-cluster-endpoint-id": endpoint.get("DBClusterEndpointIdentifier", ""),
        "db-cluster-endpoint-status": endpoint.get("Status", ""),
    }
    for name, values in filters.items():
        if name not in fields:
            raise InvalidParameterValue(f"Unrecognized filter name: {name}")
        if fields[name] not in {v.lower() for v in values}:
            return False
    return True


def _cluster_custom_endpoints(cluster: DBCluster) -> list[str]:
    return [
        e["Endpoint"]
        for e in list(custom_endpoints(cluster.backend).values())
        if e["DBClusterIdentifier"] == cluster.db_cluster_identifier
    ]


# DescribeDBClusters' ``CustomEndpoints`` (moto's serializer picks the snake_case name).
DBCluster.custom_endpoints = property(_cluster_custom_endpoints)  # type: ignore[attr-defined]
