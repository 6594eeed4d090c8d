"""ElastiCache as sync reads it: replication-group members, parameter groups, serverless.

moto 5.2.5 gaps fixed here:

* Replication groups: ``NumCacheClusters`` is honoured with cluster mode disabled (moto
  made one member), every ``NodeGroupMember`` reports ``CurrentRole`` (the first member
  of a shard starts as ``primary``, the rest are ``replica``; a failover extension may
  swap the ``current_role`` values kept in ``node_group["node_group_members"]``),
  availability zones and endpoint names use the group's region (moto said us-east-1),
  and an engine version is set when none is given.
  Note: real AWS reports ``CurrentRole`` only for cluster-mode-disabled groups; the
  sandbox reports it for both.
* Each member is also a cache cluster in ``DescribeCacheClusters`` (with the group id,
  engine, version, node type, encryption, AUTH, parameter group and ``CacheNodes``),
  as in AWS; ``ShowCacheClustersNotInReplicationGroups`` filters them out. Members of a
  deleted group disappear with it.
* ``CacheNodes`` for every cache cluster (memcached: ``NumCacheNodes`` nodes).
* Cache parameter groups: ``Create/Describe/Modify/DeleteCacheParameterGroup`` and
  ``DescribeCacheParameters`` with a small but real default set per family (enough to
  read a cache's eviction policy, ``maxmemory-policy``). State::

      backend.__dict__["estate_cache_parameter_groups"][name] = {
          "CacheParameterGroupName", "CacheParameterGroupFamily", "Description",
          "IsGlobal": False, "ARN", "parameters": {name: {Parameter dict}}}

* Serverless caches: ``Create/Describe/DeleteServerlessCache`` (empty unless seeded),
  state ``backend.__dict__["estate_serverless_caches"][name] = {ServerlessCache dict}``.
"""

from __future__ import annotations

import inspect
import string
from copy import deepcopy
from typing import Any

import moto.elasticache.models as elasticache_models
from moto.core.responses import ActionResult, PaginatedResult
from moto.elasticache.exceptions import ElastiCacheException
from moto.elasticache.models import CacheCluster, ElastiCacheBackend, ReplicationGroup
from moto.elasticache.responses import ElastiCacheResponse
from moto.moto_api._internal import mock_random as random

from sandbox.patching import add_action, now, state

DEFAULT_ENGINE_VERSIONS = {"redis": "7.1", "valkey": "8.0", "memcached": "1.6.22"}
GROUPS_KEY = "estate_cache_parameter_groups"
SERVERLESS_KEY = "estate_serverless_caches"

_REGION_SHORT = {
    "us-east-1": "use1",
    "us-east-2": "use2",
    "us-west-1": "usw1",
    "us-west-2": "usw2",
    "eu-west-1": "euw1",
    "eu-west-2": "euw2",
    "eu-central-1": "euc1",
    "ap-southeast-1": "apse1",
    "ap-northeast-1": "apne1",
}


def region_short(region: str) -> str:
    return _REGION_SHORT.get(region, region.replace("-", ""))


def _error(code: str, message: str) -> ElastiCacheException:
    error = ElastiCacheException(message)
    error.code = code
    return error


# --- Parameter groups ----------------------------------------------------------------


def _param(
    name: str, value: str, description: str, allowed: str = "", data_type: str = "string"
) -> dict[str, Any]:
    return {
        "ParameterName": name,
        "ParameterValue": value,
        "Description": description,
        "Source": "system",
        "DataType": data_type,
        "AllowedValues": allowed,
        "IsModifiable": True,
        "MinimumEngineVersion": "",
        "ChangeType": "immediate",
    }


_EVICTION = (
    "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,"
    "volatile-ttl,noeviction"
)


def _redis_like_defaults(cluster_enabled: str = "no") -> list[dict[str, Any]]:
    return [
        _param("maxmemory-policy", "volatile-lru", "Max memory policy.", _EVICTION),
        _param("timeout", "0", "Close idle client connections after N seconds.", "0-", "integer"),
        _param("maxmemory-samples", "3", "Keys sampled by eviction.", "1-", "integer"),
        _param("notify-keyspace-events", "", "Keyspace notifications."),
        {
            **_param("cluster-enabled", cluster_enabled, "Cluster mode.", "yes,no"),
            "IsModifiable": False,
            "ChangeType": "requires-reboot",
        },
    ]


FAMILY_DEFAULTS: dict[str, list[dict[str, Any]]] = {
    "redis6.x": _redis_like_defaults(),
    "redis7": _redis_like_defaults(),
    "valkey7": _redis_like_defaults(),
    "valkey8": _redis_like_defaults(),
    "memcached1.6": [
        _param("max_item_size", "1048576", "Largest item size (bytes).", "1-", "integer"),
        _param("chunk_size", "48", "Minimum space for key, value and flags.", "1-", "integer"),
        _param("maxconns_fast", "0", "Reject new connections past the limit.", "0,1"),
    ],
}


def family_for(engine: str, version: str | None) -> str:
    major = (version or DEFAULT_ENGINE_VERSIONS.get(engine, "7")).split(".")[0]
    if engine == "memcached":
        return "memcached1.6"
    if engine == "redis" and major == "6":
        return "redis6.x"
    return f"{engine}{major}"


def parameter_groups(backend: ElastiCacheBackend) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = state(backend, GROUPS_KEY, dict)
    if not groups:
        for family, defaults in FAMILY_DEFAULTS.items():
            name = f"default.{family}"
            groups[name] = _new_group(
                backend, name, family, f"Default parameter group for {family}"
            )
            groups[name]["parameters"] = {p["ParameterName"]: dict(p) for p in defaults}
            if family != "memcached1.6":
                on = f"default.{family}.cluster.on"
                groups[on] = _new_group(backend, on, family, f"Customized default for {family}")
                groups[on]["parameters"] = {
                    p["ParameterName"]: dict(p) for p in _redis_like_defaults("yes")
                }
    return groups


def _new_group(
    backend: ElastiCacheBackend, name: str, family: str, description: str
) -> dict[str, Any]:
    return {
        "CacheParameterGroupName": name,
        "CacheParameterGroupFamily": family,
        "Description": description,
        "IsGlobal": False,
        "ARN": f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:parametergroup:{name}",
        "parameters": {},
    }


def _group(backend: ElastiCacheBackend, name: str) -> dict[str, Any]:
    group = parameter_groups(backend).get(name or "")
    if group is None:
        raise _error("CacheParameterGroupNotFound", f"CacheParameterGroup {name} not found.")
    return group


def default_group_name(engine: str, version: str | None, cluster_mode: bool) -> str:
    family = family_for(engine, version)
    return f"default.{family}.cluster.on" if cluster_mode else f"default.{family}"


@add_action(ElastiCacheResponse)
def create_cache_parameter_group(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("CacheParameterGroupName") or ""
    family = self._get_param("CacheParameterGroupFamily") or ""
    description = self._get_param("Description") or ""
    groups = parameter_groups(backend)
    if not name or name.startswith("default."):
        raise _error("InvalidParameterValue", f"Invalid parameter group name: {name!r}.")
    if name in groups:
        raise _error("CacheParameterGroupAlreadyExists", f"Parameter group {name} already exists.")
    if family not in FAMILY_DEFAULTS:
        raise _error(
            "InvalidParameterValue",
            f"Unknown family {family!r}; valid: {', '.join(sorted(FAMILY_DEFAULTS))}.",
        )
    group = _new_group(backend, name, family, description)
    group["parameters"] = {p["ParameterName"]: dict(p) for p in FAMILY_DEFAULTS[family]}
    groups[name] = group
    return ActionResult({"CacheParameterGroup": group})


@add_action(ElastiCacheResponse)
def modify_cache_parameter_group(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("CacheParameterGroupName") or ""
    group = _group(backend, name)
    if name.startswith("default."):
        raise _error(
            "InvalidCacheParameterGroupState", "Default parameter groups cannot be modified."
        )
    changes = self._get_param("ParameterNameValues") or []
    for change in changes:
        parameter = group["parameters"].get(change.get("ParameterName"))
        if parameter is None or not parameter["IsModifiable"]:
            raise _error(
                "InvalidParameterValue",
                f"Unknown or unmodifiable parameter: {change.get('ParameterName')}.",
            )
        allowed = parameter["AllowedValues"]
        value = str(change.get("ParameterValue", ""))
        if allowed and "," in allowed and value not in allowed.split(","):
            raise _error(
                "InvalidParameterValue",
                f"Invalid value {value!r} for {parameter['ParameterName']}: {allowed}.",
            )
    for change in changes:
        parameter = group["parameters"][change["ParameterName"]]
        parameter["ParameterValue"] = str(change.get("ParameterValue", ""))
        parameter["Source"] = "user"
    return ActionResult({"CacheParameterGroupName": name})


@add_action(ElastiCacheResponse)
def delete_cache_parameter_group(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("CacheParameterGroupName") or ""
    _group(backend, name)
    if name.startswith("default."):
        raise _error(
            "InvalidCacheParameterGroupState", "Default parameter groups cannot be deleted."
        )
    del parameter_groups(backend)[name]
    return ActionResult({})


@add_action(ElastiCacheResponse)
def describe_cache_parameter_groups(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("CacheParameterGroupName")
    groups = [_group(backend, name)] if name else list(parameter_groups(backend).values())
    return PaginatedResult({"CacheParameterGroups": groups})


@add_action(ElastiCacheResponse)
def describe_cache_parameters(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    group = _group(backend, self._get_param("CacheParameterGroupName") or "")
    source = self._get_param("Source")
    parameters = [p for p in group["parameters"].values() if not source or p["Source"] == source]
    return PaginatedResult({"Parameters": parameters})


# --- Cache clusters: nodes and parameter group status --------------------------------


def _cache_nodes(self: CacheCluster) -> list[dict[str, Any]]:
    region = self.arn.split(":")[3]
    count = int(getattr(self, "num_cache_nodes", 1) or 1)
    zone = self.preferred_availability_zone or f"{region}a"
    domain = f"{self.__dict__.get('_estate_domain') or 'sandbox'}.{region_short(region)}"
    nodes = []
    for index in range(1, count + 1):
        node_id = f"{index:04d}"
        address = (
            f"{self.cache_cluster_id}.{node_id}.{domain}.cache.amazonaws.com"
            if self.engine == "memcached"
            else f"{self.cache_cluster_id}.{domain}.cache.amazonaws.com"
        )
        nodes.append(
            {
                "CacheNodeId": node_id,
                "CacheNodeStatus": "available",
                "CacheNodeCreateTime": self.cache_cluster_create_time,
                "Endpoint": {"Address": address, "Port": self.port},
                "ParameterGroupStatus": "in-sync",
                "CustomerAvailabilityZone": zone,
            }
        )
    return nodes


def _cache_parameter_group(self: CacheCluster) -> dict[str, Any]:
    name = self.cache_parameter_group_name or default_group_name(
        self.engine, self.engine_version, bool(self.__dict__.get("_estate_cluster_mode"))
    )
    return {
        "CacheParameterGroupName": name,
        "ParameterApplyStatus": "in-sync",
        "CacheNodeIdsToReboot": [],
    }


def _configuration_endpoint(self: CacheCluster) -> dict[str, Any] | None:
    if self.engine != "memcached":
        return None
    region = self.arn.split(":")[3]
    domain = f"{self.__dict__.get('_estate_domain') or 'sandbox'}.{region_short(region)}"
    return {
        "Address": f"{self.cache_cluster_id}.{domain}.cfg.cache.amazonaws.com",
        "Port": self.port,
    }


CacheCluster.cache_nodes = property(_cache_nodes)  # type: ignore[attr-defined]
CacheCluster.cache_parameter_group = property(_cache_parameter_group)  # type: ignore[attr-defined]
CacheCluster.configuration_endpoint = property(_configuration_endpoint)  # type: ignore[attr-defined]

_original_create_cache_cluster = ElastiCacheBackend.create_cache_cluster


def create_cache_cluster(self: ElastiCacheBackend, **kwargs: Any) -> CacheCluster:
    engine = kwargs.get("engine") or "redis"
    if engine not in DEFAULT_ENGINE_VERSIONS:
        raise _error("InvalidParameterValue", f"Invalid engine {engine!r}.")
    kwargs["engine"] = engine
    kwargs["engine_version"] = kwargs.get("engine_version") or DEFAULT_ENGINE_VERSIONS[engine]
    if engine == "memcached" and not kwargs.get("port"):
        kwargs["port"] = 11211
    if kwargs.get("cache_parameter_group_name"):
        _group(self, kwargs["cache_parameter_group_name"])
    cluster = _original_create_cache_cluster(self, **kwargs)
    cluster.preferred_availability_zone = (
        kwargs.get("preferred_availability_zone") or f"{self.region_name}a"
    )
    cluster.__dict__["_estate_domain"] = _random_domain()
    if engine != "memcached":
        # moto sets these for "redis" only; valkey is the same kind of cluster
        cluster.replication_group_id = kwargs.get("replication_group_id")
        cluster.num_cache_nodes = 1
    return cluster


ElastiCacheBackend.create_cache_cluster = create_cache_cluster  # type: ignore[method-assign]


def _random_domain() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=6))


# --- Replication groups --------------------------------------------------------------

_original_create_rg = ElastiCacheBackend.create_replication_group
_CACHE_CLUSTER_ARGS = [
    name for name in inspect.signature(CacheCluster.__init__).parameters if name != "self"
]


def create_replication_group(self: ElastiCacheBackend, **kwargs: Any) -> ReplicationGroup:
    engine = kwargs.get("engine") or "redis"
    if engine not in ("redis", "valkey"):
        raise _error(
            "InvalidParameterValue", f"Replication groups need redis or valkey, not {engine}."
        )
    group_id = kwargs["replication_group_id"]
    if group_id in self.replication_groups:
        raise _error(
            "ReplicationGroupAlreadyExists", f"Replication group {group_id} already exists."
        )
    kwargs["engine"] = engine
    kwargs["engine_version"] = kwargs.get("engine_version") or DEFAULT_ENGINE_VERSIONS[engine]
    if kwargs.get("cache_parameter_group_name"):
        _group(self, kwargs["cache_parameter_group_name"])
    num_cache_clusters = kwargs.get("num_cache_clusters")
    cluster_mode = (kwargs.get("cluster_mode") or "").lower() == "enabled" or bool(
        kwargs.get("num_node_groups") and int(kwargs["num_node_groups"]) > 1
    )
    if cluster_mode:
        kwargs["cluster_mode"] = "enabled"
    if not cluster_mode and num_cache_clusters and not kwargs.get("replicas_per_node_group"):
        # moto only reads ReplicasPerNodeGroup with cluster mode disabled
        kwargs["replicas_per_node_group"] = int(num_cache_clusters) - 1
    group = _original_create_rg(self, **kwargs)
    _localise(group, self.region_name)
    for node_group in group.node_groups:
        for index, member in enumerate(node_group["node_group_members"]):
            member["current_role"] = "primary" if index == 0 else "replica"
            member["cache_node_id"] = "0001"
            _add_member_cluster(self, group, member, kwargs, cluster_mode)
    return group


def _localise(group: ReplicationGroup, region: str) -> None:
    """moto writes us-east-1 zones and 'use1' endpoint names whatever the region."""
    short = region_short(region)
    zones = [f"{region}{letter}" for letter in "abc"]

    def fix(address: str) -> str:
        return address.replace(".use1.cache.", f".{short}.cache.")

    if getattr(group, "configuration_endpoint", None):
        group.configuration_endpoint["address"] = fix(group.configuration_endpoint["address"])
    for shard_index, node_group in enumerate(group.node_groups):
        for key in ("primary_endpoint_address", "reader_endpoint_address"):
            if key in node_group:
                node_group[key] = fix(node_group[key])
        if "primary_endpoint" in node_group:
            node_group["primary_endpoint"]["address"] = fix(
                node_group["primary_endpoint"]["address"]
            )
        if "reader_endpoint_address" in node_group:
            node_group["reader_endpoint"] = {
                "address": node_group["reader_endpoint_address"],
                "port": group.port,
            }
        for index, member in enumerate(node_group["node_group_members"]):
            zone = member.get("preferred_availability_zone") or ""
            if not zone.startswith(region):
                member["preferred_availability_zone"] = zones[(shard_index + index) % len(zones)]
            if "read_endpoint" in member:
                member["read_endpoint"]["address"] = fix(member["read_endpoint"]["address"])


def _add_member_cluster(
    backend: ElastiCacheBackend,
    group: ReplicationGroup,
    member: dict[str, Any],
    kwargs: dict[str, Any],
    cluster_mode: bool,
) -> None:
    args: dict[str, Any] = dict.fromkeys(_CACHE_CLUSTER_ARGS)
    args.update(
        account_id=backend.account_id,
        region_name=backend.region_name,
        cache_cluster_id=member["cache_cluster_id"],
        cache_node_type=group.cache_node_type,
        replication_group_id=group.replication_group_id,
        preferred_availability_zone=member["preferred_availability_zone"],
        num_cache_nodes=1,
        engine=group.engine,
        engine_version=group.engine_version,
        cache_parameter_group_name=kwargs.get("cache_parameter_group_name"),
        cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
        transit_encryption_enabled=group.transit_encryption_enabled,
        port=group.port,
        auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
        snapshot_retention_limit=group.snapshot_retention_limit,
        snapshot_window=group.snapshot_window,
        auth_token=kwargs.get("auth_token"),
        security_group_ids=kwargs.get("security_group_ids"),
        tags=list(kwargs.get("tags") or []),
        log_delivery_configurations=[],
    )
    cluster = CacheCluster(**args)
    cluster.replication_group_id = group.replication_group_id
    cluster.num_cache_nodes = 1
    cluster.at_rest_encryption_enabled = group.at_rest_encryption_enabled
    cluster.__dict__["_estate_cluster_mode"] = cluster_mode
    cluster.__dict__["_estate_domain"] = _random_domain()
    backend.cache_clusters[cluster.cache_cluster_id] = cluster


def _member_visible(backend: ElastiCacheBackend, cluster: CacheCluster) -> bool:
    group_id = getattr(cluster, "replication_group_id", None)
    return not group_id or group_id in backend.replication_groups


@add_action(ElastiCacheResponse)
def describe_cache_clusters(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    cluster_id = self._get_param("CacheClusterId")
    clusters = [
        c for c in backend.describe_cache_clusters(cluster_id) if _member_visible(backend, c)
    ]
    if cluster_id and not clusters:
        raise _error("CacheClusterNotFound", f"Cache cluster {cluster_id} not found.")
    if self._get_bool_param("ShowCacheClustersNotInReplicationGroups"):
        clusters = [c for c in clusters if not getattr(c, "replication_group_id", None)]
    for cluster in clusters:
        group_id = getattr(cluster, "replication_group_id", None)
        if group_id and backend.replication_groups[group_id].status == "deleting":
            cluster.cache_cluster_status = "deleting"
    return PaginatedResult({"CacheClusters": clusters})


ElastiCacheBackend.create_replication_group = create_replication_group  # type: ignore[method-assign]

# moto draws replication-group endpoint names from Python's global random; its own
# seedable generator (POST /moto-api/seed) makes a seeded estate reproducible.
elasticache_models.random = random  # type: ignore[attr-defined]


# --- Serverless caches ---------------------------------------------------------------


def serverless_caches(backend: ElastiCacheBackend) -> dict[str, dict[str, Any]]:
    return state(backend, SERVERLESS_KEY, dict)


@add_action(ElastiCacheResponse)
def create_serverless_cache(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("ServerlessCacheName") or ""
    engine = self._get_param("Engine") or ""
    caches = serverless_caches(backend)
    if not name:
        raise _error("InvalidParameterValue", "ServerlessCacheName is required.")
    if name in caches:
        raise _error(
            "ServerlessCacheAlreadyExistsFault", f"Serverless cache {name} already exists."
        )
    if engine not in ("redis", "valkey", "memcached"):
        raise _error("InvalidParameterValue", f"Invalid engine {engine!r}.")
    version = self._get_param("MajorEngineVersion") or DEFAULT_ENGINE_VERSIONS[engine].split(".")[0]
    default_version = DEFAULT_ENGINE_VERSIONS[engine]
    same_major = version == default_version.split(".")[0]
    full_version = default_version if same_major else f"{version}.0"
    domain = f"{name}-{_random_domain()}.serverless.{region_short(backend.region_name)}.cache.amazonaws.com"
    port = 11211 if engine == "memcached" else 6379
    cache = {
        "ServerlessCacheName": name,
        "Description": self._get_param("Description") or "",
        "CreateTime": now(),
        "Status": "available",
        "Engine": engine,
        "MajorEngineVersion": version,
        "FullEngineVersion": full_version,
        "CacheUsageLimits": self._get_param("CacheUsageLimits") or {},
        "KmsKeyId": self._get_param("KmsKeyId"),
        "SecurityGroupIds": self._get_param("SecurityGroupIds") or [],
        "Endpoint": {"Address": domain, "Port": port},
        "ReaderEndpoint": {"Address": domain, "Port": port + 1},
        "ARN": f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:serverlesscache:{name}",
        "UserGroupId": self._get_param("UserGroupId"),
        "SubnetIds": self._get_param("SubnetIds") or [],
        "SnapshotRetentionLimit": self._get_int_param("SnapshotRetentionLimit") or 0,
        "DailySnapshotTime": self._get_param("DailySnapshotTime") or "04:00",
        "Tags": self._get_param("Tags") or [],
    }
    caches[name] = cache
    return ActionResult({"ServerlessCache": cache})


@add_action(ElastiCacheResponse)
def describe_serverless_caches(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("ServerlessCacheName")
    caches = serverless_caches(backend)
    if name:
        if name not in caches:
            raise _error("ServerlessCacheNotFoundFault", f"Serverless cache {name} not found.")
        found = [caches[name]]
    else:
        found = list(caches.values())
    return PaginatedResult({"ServerlessCaches": deepcopy(found)})


@add_action(ElastiCacheResponse)
def delete_serverless_cache(self: ElastiCacheResponse) -> ActionResult:
    backend = self.elasticache_backend
    name = self._get_param("ServerlessCacheName") or ""
    cache = serverless_caches(backend).pop(name, None)
    if cache is None:
        raise _error("ServerlessCacheNotFoundFault", f"Serverless cache {name} not found.")
    return ActionResult({"ServerlessCache": {**cache, "Status": "deleting"}})
