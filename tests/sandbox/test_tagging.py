"""Tags in the sandbox, through boto3, as AWS answers them: GetResources with AWS's
resource types for every kind Estate mirrors, and each service's tag calls."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.sandbox import tagged_estate
from tests.sandbox.helpers import client

REGION = "eu-west-1"

# GetResources types (service:<type in the ARN>) of the kinds the estate builds.
TYPES = {
    "instance": "rds:db",
    "cluster": "rds:cluster",
    "instance_snapshot": "rds:snapshot",
    "cluster_snapshot": "rds:cluster-snapshot",
    "parameter_group": "rds:pg",
    "cluster_parameter_group": "rds:cluster-pg",
    "option_group": "rds:og",
    "cluster_endpoint": "rds:cluster-endpoint",
    "proxy": "rds:db-proxy",
    "proxy_endpoint": "rds:db-proxy-endpoint",
    "replication_group": "elasticache:replicationgroup",
    "cache_cluster": "elasticache:cluster",
    "serverless_cache": "elasticache:serverlesscache",
    "cache_parameter_group": "elasticache:parametergroup",
    "dms_instance": "dms:rep",
    "dms_source": "dms:endpoint",
    "dms_target": "dms:endpoint",
    "dms_task": "dms:task",
}


@functools.cache
def clients(service: str) -> Any:
    # Built once per service: a new boto3 client loads its service model (~0.2 s).
    return client(service, REGION)


@pytest.fixture
def estate(sandbox) -> dict[str, str]:
    return tagged_estate.build(clients, REGION)


def _listed(types: list[str], **kw: Any) -> dict[str, dict[str, str]]:
    pages = clients("resourcegroupstaggingapi").get_paginator("get_resources")
    found: dict[str, dict[str, str]] = {}
    for page in pages.paginate(ResourceTypeFilters=types, **kw):
        for item in page["ResourceTagMappingList"]:
            found[item["ResourceARN"]] = {t["Key"]: t["Value"] for t in item["Tags"]}
    return found


def test_get_resources_lists_every_kind_under_awss_resource_type(estate):
    for name, resource_type in TYPES.items():
        listed = _listed([resource_type])
        assert listed.get(estate[name]) == tagged_estate.TAGS, (name, resource_type)
        # A type filter returns that type only.
        assert all(arn.split(":")[5] == resource_type.split(":")[1] for arn in listed), name


def test_every_type_in_one_paginated_pass(estate):
    listed = _listed(sorted(set(TYPES.values())), ResourcesPerPage=5)
    assert {arn for arn in estate.values() if arn in listed} == set(estate.values()) - {
        estate["global_cluster"]  # regional API; global clusters carry TagList instead
    }
    # The replication group's tags were replicated to its member clusters (AWS does).
    members = [arn for arn in listed if ":cluster:carts-" in arn]
    assert len(members) == 2
    assert all(listed[arn] == tagged_estate.TAGS for arn in members)


def test_untagged_resources_are_absent_and_previously_tagged_ones_listed_empty(sandbox):
    ec = clients("elasticache")
    ec.create_cache_cluster(
        CacheClusterId="untagged", Engine="memcached", CacheNodeType="cache.t4g.small"
    )
    dms = clients("dms")
    instance = dms.create_replication_instance(
        ReplicationInstanceIdentifier="was-tagged",
        ReplicationInstanceClass="dms.t3.medium",
        Tags=[{"Key": "team", "Value": "data"}],
    )["ReplicationInstance"]["ReplicationInstanceArn"]
    dms.remove_tags_from_resource(ResourceArn=instance, TagKeys=["team"])
    listed = _listed(["elasticache:cluster", "dms:rep"])
    assert not any(":cluster:untagged" in arn for arn in listed)
    assert listed[instance] == {}


def test_tag_calls_of_each_service_work_on_every_kind(estate):
    for name, arn in estate.items():
        assert tagged_estate.aws_tags(clients, arn) == tagged_estate.TAGS, name
        tagged_estate.add_tags(clients, arn, {"team/owner": "ops", "new": "1"})
        tagged_estate.remove_tags(clients, arn, ["with space"])
        expected = {**tagged_estate.TAGS, "team/owner": "ops", "new": "1"}
        del expected["with space"]
        assert tagged_estate.aws_tags(clients, arn) == expected, name


def test_create_global_cluster_keeps_its_tags(estate):
    described = clients("rds").describe_global_clusters()["GlobalClusters"][0]
    assert {t["Key"]: t["Value"] for t in described["TagList"]} == tagged_estate.TAGS


def test_list_tags_of_a_missing_rds_resource_is_awss_not_found_fault(sandbox):
    arn = "arn:aws:rds:eu-west-1:123456789012:db:nothing-here"
    with pytest.raises(ClientError) as raised:
        clients("rds").list_tags_for_resource(ResourceName=arn)
    assert raised.value.response["Error"]["Code"] == "DBInstanceNotFound"
    with pytest.raises(ClientError) as raised:
        clients("dms").add_tags_to_resource(
            ResourceArn="arn:aws:dms:eu-west-1:123456789012:rep:NOPE", Tags=[]
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundFault"


def test_a_deleted_serverless_cache_does_not_pass_its_tags_on(sandbox):
    ec = clients("elasticache")
    arn = ec.create_serverless_cache(
        ServerlessCacheName="flags", Engine="valkey", Tags=[{"Key": "team", "Value": "web"}]
    )["ServerlessCache"]["ARN"]
    ec.delete_serverless_cache(ServerlessCacheName="flags")
    again = ec.create_serverless_cache(ServerlessCacheName="flags", Engine="valkey")
    assert again["ServerlessCache"]["ARN"] == arn
    assert ec.list_tags_for_resource(ResourceName=arn)["TagList"] == []
    assert arn not in _listed(["elasticache:serverlesscache"])


def test_tagging_api_tag_and_untag_reach_the_extension_kinds(estate):
    tagging = clients("resourcegroupstaggingapi")
    arns = [estate["cluster_endpoint"], estate["proxy_endpoint"], estate["dms_task"]]
    assert (
        tagging.tag_resources(ResourceARNList=arns, Tags={"via": "tagging-api"})[
            "FailedResourcesMap"
        ]
        == {}
    )
    tagging.untag_resources(ResourceARNList=arns, TagKeys=["team/owner"])
    for arn in arns:
        tags = tagged_estate.aws_tags(clients, arn)
        assert tags["via"] == "tagging-api"
        assert "team/owner" not in tags


def test_a_page_holds_resources_per_page_whatever_their_tag_count(estate):
    tagging = clients("resourcegroupstaggingapi")
    types = sorted(set(TYPES.values()))
    # 20 tagged resources of 5 tags each: moto cut every page at 100 tags (19 of
    # them); AWS pages by the limit the caller gives.
    page = tagging.get_resources(ResourceTypeFilters=types, ResourcesPerPage=20)
    assert len(page["ResourceTagMappingList"]) == 20
    page = tagging.get_resources(ResourceTypeFilters=types, ResourcesPerPage=20, TagsPerPage=100)
    assert len(page["ResourceTagMappingList"]) == 19
    assert page["PaginationToken"]
    with pytest.raises(ClientError, match="ResourcesPerPage"):
        tagging.get_resources(ResourcesPerPage=101)
