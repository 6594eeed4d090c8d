"""Tags on every resource kind Estate mirrors, as AWS answers for them.

What moto 5.2.5 gets wrong, and what this module makes AWS-like:

* **Resource Groups Tagging API ``GetResources``.** AWS names a resource type
  ``service:<the resource type embedded in the ARN>`` (``rds:pg``,
  ``elasticache:replicationgroup``, ``dms:rep``). moto lists RDS instances, clusters,
  snapshots and proxies only, and names ElastiCache and DMS types its own way
  (``elasticache:cache_clusters``, ``elasticache:replication-group``,
  ``dms:replication-instance``), so ``ResourceTypeFilters`` with AWS's names found
  nothing. Here every backend derives the type from the ARN, and RDS also lists DB and
  cluster parameter groups, option groups, custom cluster endpoints and proxy
  endpoints; ElastiCache also serverless caches and cache parameter groups.
* **Page size.** moto cut every page at 100 tags (its default ``TagsPerPage``) even
  when the caller asked for ``ResourcesPerPage``: a page of resources with 5 tags each
  held 20 of them. AWS recommends ``ResourcesPerPage`` *instead of* ``TagsPerPage``; here
  a page is cut by the limits the caller gives (``ResourcesPerPage`` defaults to 50, as
  in moto, and ``TagsPerPage`` applies only when given).
* **"Tagged or previously tagged".** AWS's GetResources returns the resources that have
  tags, and those that had some and lost them all (with ``Tags: []``); never-tagged
  resources are absent. moto returned every ElastiCache and DMS resource and no
  untagged RDS one. Here a resource is listed when it has tags, or when tags were once
  removed from it (``previously_tagged``: a resource can only lose all its tags
  through a removal).
* **Tag calls of each service.** RDS ``ListTagsForResource`` / ``AddTagsToResource`` /
  ``RemoveTagsFromResource`` refused custom cluster endpoints, proxy endpoints and
  global clusters (``Invalid resource name``); ElastiCache's refused serverless caches
  and cache parameter groups (``InvalidARN``); DMS had no ``AddTagsToResource`` /
  ``RemoveTagsFromResource``. RDS answered an empty tag list for a resource that does
  not exist, where AWS answers its not-found fault.
* **Tags given at creation.** ``CreateGlobalCluster`` dropped ``Tags`` (so
  ``DescribeGlobalClusters`` showed ``TagList: []``); ``CreateCacheParameterGroup``
  ignored them; the member clusters of a replication group got none, where AWS
  replicates the group's tags to its nodes.

Global clusters are not listed by GetResources here: their ARN names no region
(``arn:aws:rds::<account>:global-cluster:<name>``) and the tagging API answers per
region; Estate reads their tags from ``DescribeGlobalClusters``' ``TagList``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from moto.core.resource_tagging import TaggedResource
from moto.core.responses import ActionResult
from moto.dms.exceptions import ResourceNotFoundFault
from moto.dms.models import DatabaseMigrationServiceBackend
from moto.dms.responses import DatabaseMigrationServiceResponse
from moto.elasticache.models import ElastiCacheBackend
from moto.elasticache.responses import ElastiCacheResponse
from moto.rds.exceptions import RDSClientError
from moto.rds.models import RDSBackend, rds_backends
from moto.rds.responses import RDSResponse
from moto.resourcegroupstaggingapi.exceptions import ResourceGroupsTaggingAPIError
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse

# Loaded first: this module wraps functions they install.
from sandbox.extensions import elasticache as cache_extension
from sandbox.extensions import rds_cluster_endpoints, rds_proxy
from sandbox.patching import add_action, state

PREVIOUSLY_TAGGED_KEY = "estate_previously_tagged"
# "No limit" for moto's page builder when the caller gives no TagsPerPage.
_UNLIMITED_TAGS = 1 << 30

# RDS ListTagsForResource's not-found faults (AWS documents these for the action).
_RDS_NOT_FOUND = {
    "db": "DBInstanceNotFound",
    "cluster": "DBClusterNotFoundFault",
    "snapshot": "DBSnapshotNotFound",
    "db-proxy": "DBProxyNotFoundFault",
    "db-proxy-endpoint": "DBProxyEndpointNotFoundFault",
    "cluster-endpoint": "DBClusterEndpointNotFoundFault",
    "global-cluster": "GlobalClusterNotFoundFault",
}
_ELASTICACHE_ARN = re.compile(
    r"^arn:aws[a-z-]*:elasticache:[^:]*:[0-9]*:"
    r"(cluster|snapshot|subnetgroup|replicationgroup|user|usergroup|serverlesscache|"
    r"parametergroup):.+$"
)


def resource_type_of(arn: str) -> str:
    """AWS's GetResources type of an ARN: its service and the resource type it embeds
    (``arn:aws:rds:eu-west-1:1:cluster-pg:x`` -> ``rds:cluster-pg``)."""
    parts = arn.split(":", 6)
    if len(parts) < 6:
        return ""
    return f"{parts[2]}:{re.split('[:/]', parts[5], maxsplit=1)[0]}"


def previously_tagged(backend: Any) -> set[str]:
    """ARNs that lost tags through a removal (AWS lists them even with no tags left)."""
    return state(backend, PREVIOUSLY_TAGGED_KEY, set)


def _listed(backend: Any, arn: str, tags: dict[str, str]) -> TaggedResource:
    return TaggedResource(
        arn=arn,
        tags=tags,
        resource_type=resource_type_of(arn),
        extra={"include_untagged": arn in previously_tagged(backend)},
    )


def _as_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags or []}


# --- GetResources -----------------------------------------------------------------------


_get_resources = ResourceGroupsTaggingAPIResponse.get_resources


def _get_resources_paged_as_asked(self: ResourceGroupsTaggingAPIResponse) -> Any:
    if self._get_param("TagsPerPage") is not None:
        return _get_resources(self)  # both limits, validated by moto
    resources_per_page = self._get_int_param("ResourcesPerPage", 50)
    if resources_per_page not in range(1, 101):
        raise ResourceGroupsTaggingAPIError(
            "InvalidParameterException", "ResourcesPerPage must be between 1 and 100"
        )
    token, resources = self.backend.get_resources(
        pagination_token=self._get_param("PaginationToken"),
        tag_filters=self._get_param("TagFilters", []),
        resources_per_page=resources_per_page,
        tags_per_page=_UNLIMITED_TAGS,
        resource_type_filters=self._get_param("ResourceTypeFilters", []),
        resource_arn_list=self._get_param("ResourceARNList", []),
    )
    return ActionResult(
        {
            "ResourceTagMappingList": [
                {
                    "ResourceARN": r.arn,
                    "Tags": [{"Key": k, "Value": v} for k, v in r.tags.items()],
                }
                for r in resources
            ],
            "PaginationToken": token,
        }
    )


ResourceGroupsTaggingAPIResponse.get_resources = _get_resources_paged_as_asked  # type: ignore[method-assign]


# --- RDS --------------------------------------------------------------------------------


class _DictTags:
    """A resource kept as a dict by an extension (``{"Tags": [...]}``), with the tag
    methods moto's RDS tag calls use on its models."""

    def __init__(self, resource: dict[str, Any]) -> None:
        self.resource = resource

    def get_tags(self) -> list[dict[str, str]]:
        return list(self.resource.setdefault("Tags", []))

    def add_tags(self, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        keys = {t["Key"] for t in tags}
        kept = [t for t in self.resource.get("Tags") or [] if t["Key"] not in keys]
        self.resource["Tags"] = kept + [
            {"Key": t["Key"], "Value": t.get("Value", "")} for t in tags
        ]
        return self.get_tags()

    def remove_tags(self, tag_keys: list[str]) -> None:
        keys = set(tag_keys)
        self.resource["Tags"] = [t for t in self.resource.get("Tags") or [] if t["Key"] not in keys]


def _rds_tagged(self: RDSBackend) -> Iterator[TaggedResource]:
    models: list[Iterable[Any]] = [
        self.databases.values(),
        self.clusters.values(),
        self.database_snapshots.values(),
        self.cluster_snapshots.values(),
        self.db_proxies.values(),
        self.db_parameter_groups.values(),
        self.db_cluster_parameter_groups.values(),
        self.option_groups.values(),
    ]
    for resources in models:
        for resource in list(resources):
            yield _listed(self, resource.arn, _as_dict(resource.get_tags()))
    for endpoint in list(rds_cluster_endpoints.custom_endpoints(self).values()):
        yield _listed(self, endpoint["DBClusterEndpointArn"], _as_dict(endpoint.get("Tags")))
    for endpoint in list(rds_proxy.proxy_endpoints(self).values()):
        yield _listed(self, endpoint["DBProxyEndpointArn"], _as_dict(endpoint.get("Tags")))


_rds_resource_for_tagging = RDSBackend._get_resource_for_tagging


def _rds_find_for_tagging(self: RDSBackend, arn: str) -> Any:
    parts = str(arn or "").split(":", 6)
    kind, name = (parts[5], parts[6]) if len(parts) == 7 and parts[2] == "rds" else ("", "")
    found: Any
    if kind == "cluster-endpoint":
        endpoint = rds_cluster_endpoints.custom_endpoints(self).get(name)
        found = _DictTags(endpoint) if endpoint is not None else None
    elif kind == "db-proxy-endpoint":
        endpoint = next(
            (e for e in rds_proxy.proxy_endpoints(self).values() if e["DBProxyEndpointArn"] == arn),
            None,
        )
        found = _DictTags(endpoint) if endpoint is not None else None
    elif kind == "global-cluster":
        # Global clusters are account-wide; moto keeps them in us-east-1's backend.
        found = rds_backends[self.account_id]["us-east-1"].global_clusters.get(name)
    else:
        found = _rds_resource_for_tagging(self, arn)
    if found is None and kind in _RDS_NOT_FOUND:
        raise RDSClientError(_RDS_NOT_FOUND[kind], f"{arn} not found.")
    return found


_rds_remove_tags = RDSBackend.remove_tags_from_resource


def _rds_remove_tags_from_resource(self: RDSBackend, arn: str, tag_keys: list[str]) -> None:
    _rds_remove_tags(self, arn, tag_keys)
    previously_tagged(self).add(arn)


RDSBackend.iter_tagged_resources = _rds_tagged  # type: ignore[method-assign]
RDSBackend._get_resource_for_tagging = _rds_find_for_tagging  # type: ignore[method-assign]
RDSBackend.remove_tags_from_resource = _rds_remove_tags_from_resource  # type: ignore[method-assign]

_create_global_cluster = RDSResponse.create_global_cluster


def _create_global_cluster_with_tags(self: RDSResponse) -> Any:
    result = _create_global_cluster(self)
    tags = self.params.get("Tags") or []
    if tags:
        identifier = self.params["GlobalClusterIdentifier"]
        self.global_backend.global_clusters[identifier].add_tags(list(tags))
    return result


RDSResponse.create_global_cluster = _create_global_cluster_with_tags  # type: ignore[method-assign]


# --- ElastiCache ------------------------------------------------------------------------


def _cache_tagged(self: ElastiCacheBackend) -> Iterator[TaggedResource]:
    arns: list[str] = []
    for resources in (
        self.cache_clusters,
        self.replication_groups,
        self.snapshots,
        self.cache_subnet_groups,
    ):
        arns.extend(r.arn for r in list(resources.values()))
    arns.extend(u.arn for u in list(self.users.values()) if u.id != "default")
    arns.extend(c["ARN"] for c in list(cache_extension.serverless_caches(self).values()))
    arns.extend(g["ARN"] for g in list(cache_extension.parameter_groups(self).values()))
    for arn in arns:
        yield _listed(self, arn, self.tagging_service.get_tag_dict_for_resource(arn))


_cache_list_tags = ElastiCacheBackend.list_tags_for_resource


def _cache_list_tags_for_resource(self: ElastiCacheBackend, arn: str) -> Any:
    if _ELASTICACHE_ARN.match(arn or ""):
        return self.tagging_service.list_tags_for_resource(arn)
    return _cache_list_tags(self, arn)  # moto's InvalidARN


_cache_remove_tags = ElastiCacheBackend.remove_tags_from_resource
_cache_untag = ElastiCacheBackend.untag_resource


def _cache_remove_tags_from_resource(self: ElastiCacheBackend, arn: str, tags: list[str]) -> None:
    _cache_remove_tags(self, arn, tags)
    previously_tagged(self).add(arn)


def _cache_untag_resource(self: ElastiCacheBackend, arn: str, tag_keys: list[str]) -> None:
    _cache_untag(self, arn, tag_keys)
    previously_tagged(self).add(arn)


ElastiCacheBackend.iter_tagged_resources = _cache_tagged  # type: ignore[method-assign]
ElastiCacheBackend.list_tags_for_resource = _cache_list_tags_for_resource  # type: ignore[method-assign]
ElastiCacheBackend.remove_tags_from_resource = _cache_remove_tags_from_resource  # type: ignore[method-assign]
ElastiCacheBackend.untag_resource = _cache_untag_resource  # type: ignore[method-assign]

_create_replication_group = ElastiCacheBackend.create_replication_group


def _create_replication_group_tagging_members(self: ElastiCacheBackend, **kwargs: Any) -> Any:
    """AWS: "Tags on replication groups will be replicated to all nodes"."""
    group = _create_replication_group(self, **kwargs)
    tags = list(kwargs.get("tags") or [])
    if tags:
        for member in group.member_clusters:
            cluster = self.cache_clusters.get(member)
            if cluster is not None:
                self.tagging_service.tag_resource(cluster.arn, tags)
    return group


ElastiCacheBackend.create_replication_group = _create_replication_group_tagging_members  # type: ignore[method-assign]


def _tagging_on_create(action: Callable[..., Any], key: str, arn_of: Callable[..., str]) -> None:
    """Wrap an extension's Create action so that its ``Tags`` land in the backend's
    tagging service (where ElastiCache's tag calls and GetResources read them)."""
    original = getattr(ElastiCacheResponse, action.__name__)

    def create(self: ElastiCacheResponse) -> Any:
        result = original(self)
        tags = self._get_param("Tags") or []
        if tags:
            self.elasticache_backend.tagging_service.tag_resource(
                arn_of(self.elasticache_backend, self._get_param(key)), tags
            )
        return result

    create.__name__ = action.__name__
    setattr(ElastiCacheResponse, action.__name__, create)


def _forgetting_on_delete(action: Callable[..., Any], key: str, arn_of: Callable[..., str]) -> None:
    """Wrap an extension's Delete action: a resource made again under the same name
    must not inherit the tags of the deleted one."""
    original = getattr(ElastiCacheResponse, action.__name__)

    def delete(self: ElastiCacheResponse) -> Any:
        backend = self.elasticache_backend
        arn = arn_of(backend, self._get_param(key))
        result = original(self)
        backend.tagging_service.delete_all_tags_for_resource(arn)
        previously_tagged(backend).discard(arn)
        return result

    delete.__name__ = action.__name__
    setattr(ElastiCacheResponse, action.__name__, delete)


def _arn(kind: str) -> Callable[[ElastiCacheBackend, str], str]:
    def arn_of(backend: ElastiCacheBackend, name: str) -> str:
        return f"arn:aws:elasticache:{backend.region_name}:{backend.account_id}:{kind}:{name}"

    return arn_of


_tagging_on_create(
    cache_extension.create_serverless_cache, "ServerlessCacheName", _arn("serverlesscache")
)
_tagging_on_create(
    cache_extension.create_cache_parameter_group, "CacheParameterGroupName", _arn("parametergroup")
)
_forgetting_on_delete(
    cache_extension.delete_serverless_cache, "ServerlessCacheName", _arn("serverlesscache")
)
_forgetting_on_delete(
    cache_extension.delete_cache_parameter_group,
    "CacheParameterGroupName",
    _arn("parametergroup"),
)


# --- DMS --------------------------------------------------------------------------------


def _dms_arns(backend: DatabaseMigrationServiceBackend) -> list[str]:
    return [
        *(i.arn for i in list(backend.replication_instances.values())),
        *(e.endpoint_arn for e in list(backend.endpoints.values())),
        *(t.arn for t in list(backend.replication_tasks.values())),
    ]


def _dms_tagged(self: DatabaseMigrationServiceBackend) -> Iterator[TaggedResource]:
    for arn in _dms_arns(self):
        yield _listed(self, arn, self.tagger.get_tag_dict_for_resource(arn))


def _dms_resource(backend: DatabaseMigrationServiceBackend, arn: str | None) -> str:
    if not arn or arn not in _dms_arns(backend):
        raise ResourceNotFoundFault(f"Resource {arn} not found.")
    return arn


_dms_untag = DatabaseMigrationServiceBackend.untag_resource


def _dms_untag_resource(
    self: DatabaseMigrationServiceBackend, arn: str, tag_keys: list[str]
) -> None:
    _dms_untag(self, arn, tag_keys)
    previously_tagged(self).add(arn)


DatabaseMigrationServiceBackend.iter_tagged_resources = _dms_tagged  # type: ignore[method-assign]
DatabaseMigrationServiceBackend.untag_resource = _dms_untag_resource  # type: ignore[method-assign]


@add_action(DatabaseMigrationServiceResponse)
def add_tags_to_resource(self: DatabaseMigrationServiceResponse) -> str:
    backend = self.dms_backend
    arn = _dms_resource(backend, self._get_param("ResourceArn"))
    tags = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in self._get_param("Tags") or []]
    backend.tagger.tag_resource(arn, tags)
    return "{}"


@add_action(DatabaseMigrationServiceResponse)
def remove_tags_from_resource(self: DatabaseMigrationServiceResponse) -> str:
    backend = self.dms_backend
    arn = _dms_resource(backend, self._get_param("ResourceArn"))
    backend.tagger.untag_resource_using_names(arn, list(self._get_param("TagKeys") or []))
    previously_tagged(backend).add(arn)
    return "{}"
