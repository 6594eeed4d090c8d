"""Aurora cluster endpoints: Describe/Create/Modify/DeleteDBClusterEndpoint.

moto 5.2.5 has none of them. ``DescribeDBClusterEndpoints`` answers, like AWS, with the
cluster's built-in WRITER and READER endpoints (no identifier, no ARN) followed by its
custom endpoints. Custom endpoints live in backend state::

    backend.__dict__["estate_cluster_endpoints"][endpoint_id] = {
        "DBClusterEndpointIdentifier", "DBClusterIdentifier",
        "DBClusterEndpointResourceIdentifier", "Endpoint", "Status" ("available";
        lifecycle extensions may set "creating"/"modifying"/"deleting" and
        "estate_ready_at"), "EndpointType": "CUSTOM", "CustomEndpointType": READER|ANY,
        "StaticMembers": [...], "ExcludedMembers": [...], "DBClusterEndpointArn",
        "Tags": [...], "estate_created_at": datetime,
    }

``DescribeDBClusters`` also lists them in ``CustomEndpoints`` as AWS does.
"""

from __future__ import annotations

import re
import string
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

from sandbox.patching import add_action, filter_values, now, state

STATE_KEY = "estate_cluster_endpoints"
MAX_CUSTOM_ENDPOINTS_PER_CLUSTER = 5
_IDENTIFIER = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")


def custom_endpoints(backend: RDSBackend) -> dict[str, dict[str, Any]]:
    """Custom endpoints of one account/region, by identifier (dropping those whose
    cluster has been deleted, as AWS does)."""
    endpoints: dict[str, dict[str, Any]] = state(backend, STATE_KEY, dict)
    for endpoint_id in [
        k for k, e in endpoints.items() if e["DBClusterIdentifier"] not in backend.clusters
    ]:
        del endpoints[endpoint_id]
    return endpoints


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
    params = self.params
    backend = self.backend
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
        e for e in endpoints.values() if e["DBClusterIdentifier"] == cluster.db_cluster_identifier
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
        "Status": "available",
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
    return ActionResult(endpoint)


@add_action(RDSResponse)
def modify_db_cluster_endpoint(self: RDSResponse) -> ActionResult:
    params = self.params
    backend = self.backend
    endpoint_id = str(params.get("DBClusterEndpointIdentifier") or "").lower()
    endpoint = custom_endpoints(backend).get(endpoint_id)
    if endpoint is None:
        raise _not_found(endpoint_id)
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
    if endpoint_type:
        endpoint["CustomEndpointType"] = endpoint_type
    if new_static is not None:
        endpoint["StaticMembers"] = new_static
        if new_static:
            endpoint["ExcludedMembers"] = []
    if new_excluded is not None:
        endpoint["ExcludedMembers"] = new_excluded
        if new_excluded:
            endpoint["StaticMembers"] = []
    return ActionResult(endpoint)


@add_action(RDSResponse)
def delete_db_cluster_endpoint(self: RDSResponse) -> ActionResult:
    endpoint_id = str(self.params.get("DBClusterEndpointIdentifier") or "").lower()
    endpoints = custom_endpoints(self.backend)
    endpoint = endpoints.pop(endpoint_id, None)
    if endpoint is None:
        raise _not_found(endpoint_id)
    return ActionResult({**endpoint, "Status": "deleting"})


@add_action(RDSResponse)
def describe_db_cluster_endpoints(self: RDSResponse) -> ActionResult:
    params = self.params
    backend = self.backend
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
        e
        for e in custom_endpoints(backend).values()
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
    return ActionResult(result)


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
        for e in custom_endpoints(cluster.backend).values()
        if e["DBClusterIdentifier"] == cluster.db_cluster_identifier
    ]


# DescribeDBClusters' ``CustomEndpoints`` (moto's serializer picks the snake_case name).
DBCluster.custom_endpoints = property(_cluster_custom_endpoints)  # type: ignore[attr-defined]
