"""RDS Proxy as AWS reports it: proxy endpoints, and targets with roles and ports.

moto 5.2.5 lacks ``DescribeDBProxyEndpoints`` (and Create/Delete), reports port 5432 for
every target, and registering a cluster yields only the TRACKED_CLUSTER target. AWS
reports the cluster target plus one RDS_INSTANCE target per cluster member, with
``Role`` READ_WRITE (the writer) or READ_ONLY, the member's endpoint and the engine
family's port; the instance targets follow the cluster's current membership.

Custom proxy endpoints live in backend state::

    backend.__dict__["estate_proxy_endpoints"][endpoint_name] = {
        "DBProxyEndpointName", "DBProxyEndpointArn", "DBProxyName", "Status",
        "VpcId", "VpcSecurityGroupIds", "VpcSubnetIds", "Endpoint", "CreatedDate",
        "TargetRole": READ_WRITE|READ_ONLY, "IsDefault": False}

The proxy's default endpoint is listed first, as AWS does.
"""

from __future__ import annotations

import re
import string
from typing import Any

from moto.core.responses import ActionResult, PaginatedResult
from moto.moto_api._internal import mock_random as random
from moto.rds.exceptions import InvalidParameterValue, RDSClientError
from moto.rds.models import DBProxy, DBProxyTarget, RDSBackend
from moto.rds.responses import RDSResponse

from sandbox.patching import add_action, filter_values, now, state

ENDPOINTS_KEY = "estate_proxy_endpoints"
FAMILY_PORTS = {"MYSQL": 3306, "POSTGRESQL": 5432, "SQLSERVER": 1433}
_NAME = re.compile(r"^[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,62}(?<!-)$")


def _proxy(backend: RDSBackend, name: str | None) -> DBProxy:
    proxy = backend.db_proxies.get(name or "")
    if proxy is None:
        raise RDSClientError("DBProxyNotFoundFault", f"DBProxy {name} not found.")
    return proxy


def proxy_endpoints(backend: RDSBackend) -> dict[str, dict[str, Any]]:
    endpoints: dict[str, dict[str, Any]] = state(backend, ENDPOINTS_KEY, dict)
    for name in [k for k, e in endpoints.items() if e["DBProxyName"] not in backend.db_proxies]:
        del endpoints[name]
    return endpoints


def _default_endpoint(proxy: DBProxy) -> dict[str, Any]:
    return {
        "DBProxyEndpointName": "default",
        "DBProxyName": proxy.db_proxy_name,
        "Status": proxy.status,
        "VpcId": proxy.vpc_id,
        "VpcSecurityGroupIds": list(proxy.vpc_security_group_ids),
        "VpcSubnetIds": list(proxy.vpc_subnet_ids),
        "Endpoint": proxy.endpoint,
        "CreatedDate": proxy.created_date,
        "TargetRole": "READ_WRITE",
        "IsDefault": True,
    }


@add_action(RDSResponse)
def create_db_proxy_endpoint(self: RDSResponse) -> ActionResult:
    backend = self.backend
    params = self.params
    proxy = _proxy(backend, params.get("DBProxyName"))
    name = str(params.get("DBProxyEndpointName") or "")
    if not _NAME.match(name) or name.lower() == "default":
        raise InvalidParameterValue(f"The parameter DBProxyEndpointName is not valid: {name!r}.")
    endpoints = proxy_endpoints(backend)
    if name in endpoints:
        raise RDSClientError(
            "DBProxyEndpointAlreadyExistsFault", f"DBProxyEndpoint {name} already exists."
        )
    role = params.get("TargetRole") or "READ_WRITE"
    if role not in ("READ_WRITE", "READ_ONLY"):
        raise InvalidParameterValue(f"Invalid TargetRole {role!r}: READ_WRITE or READ_ONLY.")
    subnets = list(params.get("VpcSubnetIds") or [])
    if not subnets:
        raise InvalidParameterValue("The parameter VpcSubnetIds must be provided.")
    url = "".join(random.choices(string.ascii_lowercase + string.digits, k=12))
    endpoint = {
        "DBProxyEndpointName": name,
        "DBProxyEndpointArn": (
            f"arn:aws:rds:{backend.region_name}:{backend.account_id}:db-proxy-endpoint:"
            f"prx-endpoint-{''.join(random.choices(string.ascii_lowercase + string.digits, k=17))}"
        ),
        "DBProxyName": proxy.db_proxy_name,
        "Status": "available",
        "VpcId": proxy.vpc_id,
        "VpcSecurityGroupIds": list(
            params.get("VpcSecurityGroupIds") or proxy.vpc_security_group_ids
        ),
        "VpcSubnetIds": subnets,
        "Endpoint": f"{name}.endpoint.proxy-{url}.{backend.region_name}.rds.amazonaws.com",
        "CreatedDate": now(),
        "TargetRole": role,
        "IsDefault": False,
        "Tags": list(params.get("Tags") or []),
    }
    endpoints[name] = endpoint
    return ActionResult({"DBProxyEndpoint": endpoint})


@add_action(RDSResponse)
def delete_db_proxy_endpoint(self: RDSResponse) -> ActionResult:
    name = str(self.params.get("DBProxyEndpointName") or "")
    endpoint = proxy_endpoints(self.backend).pop(name, None)
    if endpoint is None:
        raise RDSClientError("DBProxyEndpointNotFoundFault", f"DBProxyEndpoint {name} not found.")
    return ActionResult({"DBProxyEndpoint": {**endpoint, "Status": "deleting"}})


@add_action(RDSResponse)
def describe_db_proxy_endpoints(self: RDSResponse) -> ActionResult:
    backend = self.backend
    params = self.params
    proxy_name = params.get("DBProxyName")
    endpoint_name = params.get("DBProxyEndpointName")
    proxies = [_proxy(backend, proxy_name)] if proxy_name else list(backend.db_proxies.values())
    found: list[dict[str, Any]] = []
    custom = proxy_endpoints(backend)
    for proxy in proxies:
        found.append(_default_endpoint(proxy))
        found.extend(e for e in custom.values() if e["DBProxyName"] == proxy.db_proxy_name)
    if endpoint_name:
        found = [e for e in found if e["DBProxyEndpointName"] == endpoint_name]
        if not found:
            raise RDSClientError(
                "DBProxyEndpointNotFoundFault", f"DBProxyEndpoint {endpoint_name} not found."
            )
    for name, values in filter_values(params).items():
        raise InvalidParameterValue(f"Unrecognized filter name: {name} ({values})")
    return PaginatedResult({"DBProxyEndpoints": found})


# --- Targets -------------------------------------------------------------------------


def _proxy_port(backend: RDSBackend, proxy_name: str) -> int:
    proxy = backend.db_proxies.get(proxy_name)
    return FAMILY_PORTS.get(proxy.engine_family if proxy else "", 5432)


def _target_dict(target: DBProxyTarget, port: int) -> dict[str, Any]:
    return {
        "TargetArn": target.target_arn,
        "Endpoint": target.endpoint,
        "TrackedClusterId": target.__dict__.get("tracked_cluster_id"),
        "RdsResourceId": target.rds_resource_id,
        "Port": port,
        "Type": target.type,
        "Role": target.role,
        "TargetHealth": target.target_health,
    }


def _targets(backend: RDSBackend, proxy: DBProxy) -> list[dict[str, Any]]:
    """The registered targets, with each tracked cluster expanded into its members."""
    port = _proxy_port(backend, proxy.db_proxy_name)
    result: list[dict[str, Any]] = []
    for target in proxy.proxy_target_groups["default"].targets:
        health = target.target_health
        if target.type == "TRACKED_CLUSTER":
            cluster = backend.clusters.get(target.rds_resource_id)
            result.append({**_target_dict(target, port), "TargetHealth": health})
            for member in cluster.members if cluster else []:
                result.append(
                    {
                        "TargetArn": member.db_instance_arn,
                        "Endpoint": member.address,
                        "TrackedClusterId": cluster.db_cluster_identifier,
                        "RdsResourceId": member.db_instance_identifier,
                        "Port": port,
                        "Type": "RDS_INSTANCE",
                        "Role": "READ_WRITE" if member.is_cluster_writer else "READ_ONLY",
                        "TargetHealth": _instance_health(member, health),
                    }
                )
        else:
            instance = backend.databases.get(target.rds_resource_id)
            row = _target_dict(target, port)
            if instance is not None:
                row.update(
                    TargetArn=instance.db_instance_arn,
                    Endpoint=instance.address,
                    Role="READ_ONLY" if instance.is_replica else "READ_WRITE",
                    TargetHealth=_instance_health(instance, health),
                )
            result.append(row)
    return result


def _instance_health(instance: Any, registered: dict[str, Any]) -> dict[str, Any]:
    if registered.get("State") == "REGISTERING":
        return registered
    if instance.status != "available":
        return {
            "State": "UNAVAILABLE",
            "Reason": "CONNECTION_FAILED",
            "Description": f"DB instance is {instance.status}.",
        }
    return {"State": "AVAILABLE"}


@add_action(RDSResponse)
def describe_db_proxy_targets(self: RDSResponse) -> ActionResult:
    backend = self.backend
    proxy = _proxy(backend, self.params.get("DBProxyName"))
    group = self.params.get("TargetGroupName") or "default"
    if group not in proxy.proxy_target_groups:
        raise RDSClientError(
            "DBProxyTargetGroupNotFoundFault", f"DBProxyTargetGroup {group} not found."
        )
    return PaginatedResult({"Targets": _targets(backend, proxy)})


_original_register = RDSBackend.register_db_proxy_targets


def register_db_proxy_targets(self: RDSBackend, **kwargs: Any) -> list[DBProxyTarget]:
    proxy = _proxy(self, kwargs.get("db_proxy_name"))
    for cluster_id in kwargs.get("db_cluster_identifiers") or []:
        if cluster_id not in self.clusters:
            raise RDSClientError("DBClusterNotFoundFault", f"DBCluster {cluster_id} not found.")
    for instance_id in kwargs.get("db_instance_identifiers") or []:
        if instance_id not in self.databases:
            raise RDSClientError("DBInstanceNotFound", f"DBInstance {instance_id} not found.")
    targets = _original_register(self, **kwargs)
    port = _proxy_port(self, proxy.db_proxy_name)
    for target in targets:
        target.port = port
        if target.type == "RDS_INSTANCE":
            instance = self.databases[target.rds_resource_id]
            target.endpoint = instance.address
            target.target_arn = instance.db_instance_arn
            target.role = "READ_ONLY" if instance.is_replica else "READ_WRITE"
        else:
            target.target_arn = self.clusters[target.rds_resource_id].db_cluster_arn
    return targets


RDSBackend.register_db_proxy_targets = register_db_proxy_targets  # type: ignore[method-assign]
