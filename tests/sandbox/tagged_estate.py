"""An estate with tags on every resource kind Estate mirrors, built through boto3 (the
sandbox's tests and the sync's tag tests share it), and AWS's own answer for the tags
of any of its resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Unicode, path-like, colon- and equals-bearing keys, an empty value: what AWS's tag
# grammar allows (letters of any script, digits, spaces and _ . : / = + - @), minus the
# reserved "aws:" prefix.
TAGS: dict[str, str] = {
    "team/owner": "dba@example.com",
    "ünïcødé": "välüé ✓ 東京",
    "cost-center:aws": "cc=42",
    "app.aws/stage": "",
    "with space": "a b",
}
PASSWORD = "password123"

Clients = Callable[[str], Any]  # service -> boto3 client in the estate's account/region


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def build(clients: Clients, region: str, tags: dict[str, str] | None = None) -> dict[str, str]:
    """Every kind once, tagged with ``tags`` (default TAGS) at creation; returns
    {name: ARN}. Takes a few seconds (a proxy needs a VPC, subnets and a secret)."""
    tagged = tag_list(TAGS if tags is None else tags)
    rds, ec, dms = clients("rds"), clients("elasticache"), clients("dms")
    arns: dict[str, str] = {}

    arns["instance"] = rds.create_db_instance(
        DBInstanceIdentifier="billing",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        Tags=tagged,
    )["DBInstance"]["DBInstanceArn"]
    arns["global_cluster"] = rds.create_global_cluster(
        GlobalClusterIdentifier="orders-global",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        Tags=tagged,
    )["GlobalCluster"]["GlobalClusterArn"]
    arns["cluster"] = rds.create_db_cluster(
        DBClusterIdentifier="orders",
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        GlobalClusterIdentifier="orders-global",
        Tags=tagged,
    )["DBCluster"]["DBClusterArn"]
    for n in (1, 2):
        rds.create_db_instance(
            DBInstanceIdentifier=f"orders-{n}",
            DBClusterIdentifier="orders",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-mysql",
        )
    rds.describe_db_clusters(DBClusterIdentifier="orders")  # moto's one "creating"
    arns["instance_snapshot"] = rds.create_db_snapshot(
        DBSnapshotIdentifier="billing-manual", DBInstanceIdentifier="billing", Tags=tagged
    )["DBSnapshot"]["DBSnapshotArn"]
    arns["cluster_snapshot"] = rds.create_db_cluster_snapshot(
        DBClusterSnapshotIdentifier="orders-manual", DBClusterIdentifier="orders", Tags=tagged
    )["DBClusterSnapshot"]["DBClusterSnapshotArn"]
    arns["parameter_group"] = rds.create_db_parameter_group(
        DBParameterGroupName="billing-pg16",
        DBParameterGroupFamily="postgres16",
        Description="billing",
        Tags=tagged,
    )["DBParameterGroup"]["DBParameterGroupArn"]
    arns["cluster_parameter_group"] = rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName="orders-cpg",
        DBParameterGroupFamily="aurora-mysql8.0",
        Description="orders",
        Tags=tagged,
    )["DBClusterParameterGroup"]["DBClusterParameterGroupArn"]
    arns["option_group"] = rds.create_option_group(
        OptionGroupName="billing-og",
        EngineName="mysql",
        MajorEngineVersion="8.0",
        OptionGroupDescription="billing",
        Tags=tagged,
    )["OptionGroup"]["OptionGroupArn"]
    arns["cluster_endpoint"] = rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders",
        DBClusterEndpointIdentifier="orders-analytics",
        EndpointType="READER",
        Tags=tagged,
    )["DBClusterEndpointArn"]

    ec2 = clients("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{region}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    secret = clients("secretsmanager").create_secret(
        Name="orders/proxy", SecretString='{"username":"app","password":"pw"}'
    )["ARN"]
    arns["proxy"] = rds.create_db_proxy(
        DBProxyName="orders-proxy",
        EngineFamily="MYSQL",
        Auth=[{"AuthScheme": "SECRETS", "SecretArn": secret, "IAMAuth": "DISABLED"}],
        RoleArn="arn:aws:iam::123456789012:role/rds-proxy",
        VpcSubnetIds=subnets,
        Tags=tagged,
    )["DBProxy"]["DBProxyArn"]
    rds.register_db_proxy_targets(DBProxyName="orders-proxy", DBClusterIdentifiers=["orders"])
    arns["proxy_endpoint"] = rds.create_db_proxy_endpoint(
        DBProxyName="orders-proxy",
        DBProxyEndpointName="orders-ro",
        VpcSubnetIds=subnets,
        TargetRole="READ_ONLY",
        Tags=tagged,
    )["DBProxyEndpoint"]["DBProxyEndpointArn"]

    arns["cache_parameter_group"] = ec.create_cache_parameter_group(
        CacheParameterGroupName="carts-redis7",
        CacheParameterGroupFamily="redis7",
        Description="carts",
        Tags=tagged,
    )["CacheParameterGroup"]["ARN"]
    group = ec.create_replication_group(
        ReplicationGroupId="carts",
        ReplicationGroupDescription="cart store",
        Engine="redis",
        CacheNodeType="cache.t4g.small",
        NumCacheClusters=2,
        Tags=tagged,
    )["ReplicationGroup"]
    arns["replication_group"] = group["ARN"]
    arns["cache_cluster"] = ec.create_cache_cluster(
        CacheClusterId="sessions-mc",
        Engine="memcached",
        CacheNodeType="cache.t4g.small",
        NumCacheNodes=1,
        Tags=tagged,
    )["CacheCluster"]["ARN"]
    arns["serverless_cache"] = ec.create_serverless_cache(
        ServerlessCacheName="feature-flags", Engine="valkey", Tags=tagged
    )["ServerlessCache"]["ARN"]

    arns["dms_instance"] = dms.create_replication_instance(
        ReplicationInstanceIdentifier="migrator",
        ReplicationInstanceClass="dms.t3.medium",
        Tags=tagged,
    )["ReplicationInstance"]["ReplicationInstanceArn"]
    endpoint = {"EngineName": "mysql", "Port": 3306, "Username": "u", "Password": "p"}
    arns["dms_source"] = dms.create_endpoint(
        EndpointIdentifier="legacy-mysql",
        EndpointType="source",
        ServerName="legacy.example.com",
        Tags=tagged,
        **endpoint,
    )["Endpoint"]["EndpointArn"]
    arns["dms_target"] = dms.create_endpoint(
        EndpointIdentifier="aurora-target",
        EndpointType="target",
        ServerName="orders.cluster-x.rds.amazonaws.com",
        Tags=tagged,
        **endpoint,
    )["Endpoint"]["EndpointArn"]
    arns["dms_task"] = dms.create_replication_task(
        ReplicationTaskIdentifier="shop-to-aurora",
        SourceEndpointArn=arns["dms_source"],
        TargetEndpointArn=arns["dms_target"],
        ReplicationInstanceArn=arns["dms_instance"],
        MigrationType="full-load-and-cdc",
        TableMappings='{"rules": []}',
        Tags=tagged,
    )["ReplicationTask"]["ReplicationTaskArn"]
    return arns


def aws_tags(clients: Clients, arn: str) -> dict[str, str]:
    """The tags AWS reports for ``arn``, from its own service's ListTagsForResource."""
    service = arn.split(":")[2]
    if service == "dms":
        answer = clients("dms").list_tags_for_resource(ResourceArn=arn)
    else:
        answer = clients(service).list_tags_for_resource(ResourceName=arn)
    return {t["Key"]: t.get("Value", "") for t in answer["TagList"]}


def add_tags(clients: Clients, arn: str, tags: dict[str, str]) -> None:
    service = arn.split(":")[2]
    if service == "dms":
        clients("dms").add_tags_to_resource(ResourceArn=arn, Tags=tag_list(tags))
    else:
        clients(service).add_tags_to_resource(ResourceName=arn, Tags=tag_list(tags))


def remove_tags(clients: Clients, arn: str, keys: list[str]) -> None:
    service = arn.split(":")[2]
    if service == "dms":
        clients("dms").remove_tags_from_resource(ResourceArn=arn, TagKeys=keys)
    else:
        clients(service).remove_tags_from_resource(ResourceName=arn, TagKeys=keys)
