"""A seeded sandbox gives the same identifiers every time (a restarted demo resyncs
onto the same mirror rows)."""

from __future__ import annotations

import urllib.request

from tests.sandbox.helpers import aurora_mysql_cluster, client


def _build(sandbox) -> list[str]:
    """Reset, seed moto's generator, create one of each randomly named thing."""
    sandbox.reset()
    request = urllib.request.Request(f"{sandbox.url}/moto-api/seed?a=42", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    rds = client("rds", "eu-west-1")
    aurora_mysql_cluster(rds, "orders", readers=0)
    endpoint = rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="ro", EndpointType="ANY"
    )
    dms = client("dms", "eu-west-1")
    dms_endpoint = dms.create_endpoint(
        EndpointIdentifier="src", EndpointType="source", EngineName="mysql"
    )["Endpoint"]
    ec = client("elasticache", "eu-west-1")
    group = ec.create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="s",
        Engine="valkey",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=2,
    )["ReplicationGroup"]
    instance = rds.describe_db_instances()["DBInstances"][0]
    return [
        endpoint["Endpoint"],
        endpoint["DBClusterEndpointResourceIdentifier"],
        instance["DbiResourceId"],
        dms_endpoint["EndpointArn"],
        group["NodeGroups"][0]["PrimaryEndpoint"]["Address"],
    ]


def test_same_seed_same_identifiers(sandbox):
    assert _build(sandbox) == _build(sandbox)
