"""RDS Proxy endpoints and targets in the sandbox, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import aurora_mysql_cluster, client

REGION = "us-west-2"


@pytest.fixture(scope="module")
def proxy(sandbox_server) -> dict:
    """A MySQL proxy in front of an Aurora cluster (writer + 1 reader), built once for
    the module (VPC, secret, cluster and proxy take seconds); tests leave it as found."""
    sandbox_server.reset()
    url = sandbox_server.url
    ec2 = client("ec2", REGION, endpoint_url=url)
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    secret = client("secretsmanager", REGION, endpoint_url=url).create_secret(
        Name="orders/proxy", SecretString='{"username":"app","password":"pw"}'
    )["ARN"]
    rds = client("rds", REGION, endpoint_url=url)
    aurora_mysql_cluster(rds, "orders", readers=1)
    rds.create_db_proxy(
        DBProxyName="orders-proxy",
        EngineFamily="MYSQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "DISABLED"}],
        RoleArn="arn:aws:iam::123456789012:role/rds-proxy",
        VpcSubnetIds=subnets,
        RequireTLS=True,
    )
    rds.register_db_proxy_targets(DBProxyName="orders-proxy", DBClusterIdentifiers=["orders"])
    yield {"rds": rds, "subnets": subnets}
    sandbox_server.reset()


def test_proxy_targets_are_the_cluster_and_its_members_with_roles(proxy):
    rds = proxy["rds"]
    # When the proxy's targets are described (after registration settles)
    rds.describe_db_proxy_targets(DBProxyName="orders-proxy")
    targets = rds.describe_db_proxy_targets(DBProxyName="orders-proxy")["Targets"]
    # Then the tracked cluster and one instance target per member are listed, on MySQL's port
    rows = [(t["Type"], t["RdsResourceId"], t.get("Role"), t["Port"]) for t in targets]
    assert rows == [
        ("TRACKED_CLUSTER", "orders", None, 3306),
        ("RDS_INSTANCE", "orders-0", "READ_WRITE", 3306),
        ("RDS_INSTANCE", "orders-1", "READ_ONLY", 3306),
    ]
    assert all(t["TargetHealth"]["State"] == "AVAILABLE" for t in targets)
    assert targets[1]["TrackedClusterId"] == "orders"


def test_proxy_endpoints_list_the_default_then_custom_ones(proxy):
    rds = proxy["rds"]
    created = rds.create_db_proxy_endpoint(
        DBProxyName="orders-proxy",
        DBProxyEndpointName="orders-ro",
        VpcSubnetIds=proxy["subnets"],
        TargetRole="READ_ONLY",
    )["DBProxyEndpoint"]
    assert created["Endpoint"].startswith("orders-ro.endpoint.proxy-")
    endpoints = rds.describe_db_proxy_endpoints(DBProxyName="orders-proxy")["DBProxyEndpoints"]
    assert [(e["DBProxyEndpointName"], e["TargetRole"], e["IsDefault"]) for e in endpoints] == [
        ("default", "READ_WRITE", True),
        ("orders-ro", "READ_ONLY", False),
    ]
    proxy_row = rds.describe_db_proxies()["DBProxies"][0]
    assert endpoints[0]["Endpoint"] == proxy_row["Endpoint"]
    rds.delete_db_proxy_endpoint(DBProxyEndpointName="orders-ro")
    assert len(rds.describe_db_proxy_endpoints()["DBProxyEndpoints"]) == 1


def test_unknown_proxies_and_endpoints_are_not_found(proxy):
    rds = proxy["rds"]
    with pytest.raises(ClientError) as caught:
        rds.describe_db_proxy_targets(DBProxyName="nope")
    assert caught.value.response["Error"]["Code"] == "DBProxyNotFoundFault"
    with pytest.raises(ClientError) as caught:
        rds.describe_db_proxy_endpoints(DBProxyEndpointName="nope")
    assert caught.value.response["Error"]["Code"] == "DBProxyEndpointNotFoundFault"
