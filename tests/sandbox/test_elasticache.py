"""ElastiCache in the sandbox as sync reads it, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import client


@pytest.fixture
def ec(sandbox):
    return client("elasticache", "eu-west-1")


def test_cluster_mode_group_reports_shards_roles_and_member_clusters(ec):
    # Given a cluster-mode Redis group of 2 shards x (primary + 1 replica) with TLS + AUTH
    ec.create_replication_group(
        ReplicationGroupId="carts",
        ReplicationGroupDescription="cart store",
        Engine="redis",
        CacheNodeType="cache.r6g.large",
        ClusterMode="enabled",
        NumNodeGroups=2,
        ReplicasPerNodeGroup=1,
        TransitEncryptionEnabled=True,
        AtRestEncryptionEnabled=True,
        AuthToken="a-long-enough-auth-token",
        AutomaticFailoverEnabled=True,
        MultiAZEnabled=True,
    )
    # When it is described
    group = ec.describe_replication_groups(ReplicationGroupId="carts")["ReplicationGroups"][0]
    # Then each shard has one primary and one replica in eu-west-1
    roles = [
        [(m["CacheClusterId"], m["CurrentRole"]) for m in ng["NodeGroupMembers"]]
        for ng in group["NodeGroups"]
    ]
    assert roles == [
        [("carts-0001-001", "primary"), ("carts-0001-002", "replica")],
        [("carts-0002-001", "primary"), ("carts-0002-002", "replica")],
    ]
    zones = {
        m["PreferredAvailabilityZone"] for ng in group["NodeGroups"] for m in ng["NodeGroupMembers"]
    }
    assert all(z.startswith("eu-west-1") for z in zones)
    assert ".euw1.cache.amazonaws.com" in group["ConfigurationEndpoint"]["Address"]
    # And every member is a cache cluster of the group, with its node and settings
    clusters = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"]
    assert sorted(c["CacheClusterId"] for c in clusters) == sorted(group["MemberClusters"])
    member = clusters[0]
    assert member["ReplicationGroupId"] == "carts"
    assert member["Engine"] == "redis"
    assert member["EngineVersion"]
    assert member["TransitEncryptionEnabled"] is True
    assert member["AuthTokenEnabled"] is True
    assert member["CacheParameterGroup"]["CacheParameterGroupName"] == "default.redis7.cluster.on"
    assert len(member["CacheNodes"]) == 1


def test_non_cluster_group_honours_num_cache_clusters(ec):
    ec.create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="sessions",
        Engine="valkey",
        CacheNodeType="cache.r7g.large",
        NumCacheClusters=3,
        AutomaticFailoverEnabled=True,
    )
    group = ec.describe_replication_groups()["ReplicationGroups"][0]
    members = group["NodeGroups"][0]["NodeGroupMembers"]
    assert [m["CurrentRole"] for m in members] == ["primary", "replica", "replica"]
    assert group["MemberClusters"] == ["sessions-001", "sessions-002", "sessions-003"]
    only_standalone = ec.describe_cache_clusters(ShowCacheClustersNotInReplicationGroups=True)
    assert only_standalone["CacheClusters"] == []


def test_eviction_policy_is_readable_from_a_custom_parameter_group(ec):
    # Given a Valkey parameter group with an LRU eviction policy, used by a group
    ec.create_cache_parameter_group(
        CacheParameterGroupName="sessions-valkey8",
        CacheParameterGroupFamily="valkey8",
        Description="session store",
    )
    ec.modify_cache_parameter_group(
        CacheParameterGroupName="sessions-valkey8",
        ParameterNameValues=[
            {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}
        ],
    )
    ec.create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="sessions",
        Engine="valkey",
        CacheNodeType="cache.r7g.large",
        NumCacheClusters=2,
        CacheParameterGroupName="sessions-valkey8",
    )
    # When sync reads the member's parameter group and its parameters
    member = ec.describe_cache_clusters(CacheClusterId="sessions-001")["CacheClusters"][0]
    group_name = member["CacheParameterGroup"]["CacheParameterGroupName"]
    parameters = ec.describe_cache_parameters(CacheParameterGroupName=group_name)["Parameters"]
    # Then the eviction policy is the user's
    policy = next(p for p in parameters if p["ParameterName"] == "maxmemory-policy")
    assert (policy["ParameterValue"], policy["Source"]) == ("allkeys-lru", "user")
    names = [
        g["CacheParameterGroupName"]
        for g in ec.describe_cache_parameter_groups()["CacheParameterGroups"]
    ]
    assert "sessions-valkey8" in names
    assert "default.redis7" in names


def test_bad_parameter_changes_are_refused(ec):
    ec.create_cache_parameter_group(
        CacheParameterGroupName="p1", CacheParameterGroupFamily="redis7", Description="d"
    )
    with pytest.raises(ClientError) as caught:
        ec.modify_cache_parameter_group(
            CacheParameterGroupName="p1",
            ParameterNameValues=[{"ParameterName": "maxmemory-policy", "ParameterValue": "lru"}],
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as caught:
        ec.describe_cache_parameters(CacheParameterGroupName="missing")
    assert caught.value.response["Error"]["Code"] == "CacheParameterGroupNotFound"


def test_memcached_cluster_has_its_nodes_and_configuration_endpoint(ec):
    ec.create_cache_cluster(
        CacheClusterId="catalog-mc",
        Engine="memcached",
        CacheNodeType="cache.t3.medium",
        NumCacheNodes=3,
    )
    cluster = ec.describe_cache_clusters(ShowCacheNodeInfo=True)["CacheClusters"][0]
    assert [n["CacheNodeId"] for n in cluster["CacheNodes"]] == ["0001", "0002", "0003"]
    assert cluster["ConfigurationEndpoint"]["Port"] == 11211
    assert cluster["CacheParameterGroup"]["CacheParameterGroupName"] == "default.memcached1.6"


def test_serverless_caches_are_empty_until_created(ec):
    assert ec.describe_serverless_caches()["ServerlessCaches"] == []
    ec.create_serverless_cache(ServerlessCacheName="feature-flags", Engine="valkey")
    cache = ec.describe_serverless_caches()["ServerlessCaches"][0]
    assert (cache["ServerlessCacheName"], cache["Status"], cache["Engine"]) == (
        "feature-flags",
        "available",
        "valkey",
    )
    with pytest.raises(ClientError) as caught:
        ec.describe_serverless_caches(ServerlessCacheName="nope")
    assert caught.value.response["Error"]["Code"] == "ServerlessCacheNotFoundFault"
