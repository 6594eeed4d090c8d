"""Aurora cluster endpoints in the sandbox, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.helpers import aurora_mysql_cluster, client


@pytest.fixture
def rds(sandbox):
    return client("rds", "eu-west-1")


def test_a_cluster_has_a_writer_and_a_reader_endpoint(rds):
    # Given a cluster
    aurora_mysql_cluster(rds, "orders", readers=1)
    # When its endpoints are described
    endpoints = rds.describe_db_cluster_endpoints(DBClusterIdentifier="orders")[
        "DBClusterEndpoints"
    ]
    # Then they are the built-in WRITER and READER endpoints, as in DescribeDBClusters
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert [(e["EndpointType"], e["Endpoint"]) for e in endpoints] == [
        ("WRITER", cluster["Endpoint"]),
        ("READER", cluster["ReaderEndpoint"]),
    ]
    assert all(e["Status"] == "available" for e in endpoints)


def test_custom_endpoint_lifecycle(rds):
    # Given a cluster with a writer and two readers
    writer, reader1, reader2 = aurora_mysql_cluster(rds, "orders", readers=2)
    # When a custom READER endpoint with static members is created
    created = rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders",
        DBClusterEndpointIdentifier="analytics",
        EndpointType="READER",
        StaticMembers=[reader1, reader2],
    )
    # Then it is reported like AWS reports one
    assert created["EndpointType"] == "CUSTOM"
    assert created["CustomEndpointType"] == "READER"
    assert created["StaticMembers"] == [reader1, reader2]
    assert created["Endpoint"].startswith("analytics.cluster-custom-")
    assert created["Endpoint"].endswith(".eu-west-1.rds.amazonaws.com")
    assert created["DBClusterEndpointArn"].endswith(":cluster-endpoint:analytics")
    listed = rds.describe_db_cluster_endpoints(DBClusterIdentifier="orders")["DBClusterEndpoints"]
    assert [e["EndpointType"] for e in listed] == ["WRITER", "READER", "CUSTOM"]
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert cluster["CustomEndpoints"] == [created["Endpoint"]]

    # When it is modified to ANY with an excluded member instead
    modified = rds.modify_db_cluster_endpoint(
        DBClusterEndpointIdentifier="analytics", EndpointType="ANY", ExcludedMembers=[writer]
    )
    # Then the static members are cleared
    assert modified["CustomEndpointType"] == "ANY"
    assert modified["ExcludedMembers"] == [writer]
    assert modified["StaticMembers"] == []

    # When it is deleted, then it is gone
    deleted = rds.delete_db_cluster_endpoint(DBClusterEndpointIdentifier="analytics")
    assert deleted["Status"] == "deleting"
    only = rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="analytics")
    assert only["DBClusterEndpoints"] == []


def test_filters_select_custom_endpoints(rds):
    aurora_mysql_cluster(rds, "orders", readers=1)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="any1", EndpointType="ANY"
    )
    found = rds.describe_db_cluster_endpoints(
        Filters=[{"Name": "db-cluster-endpoint-type", "Values": ["custom"]}]
    )["DBClusterEndpoints"]
    assert [e["DBClusterEndpointIdentifier"] for e in found] == ["any1"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"DBClusterIdentifier": "missing"}, "DBClusterNotFoundFault"),
        ({"EndpointType": "WRITER"}, "InvalidParameterValue"),
        (
            {"StaticMembers": ["orders-1"], "ExcludedMembers": ["orders-0"]},
            "InvalidParameterCombination",
        ),
        ({"StaticMembers": ["elsewhere"]}, "InvalidParameterValue"),
        ({"DBClusterEndpointIdentifier": "1bad--name"}, "InvalidParameterValue"),
    ],
)
def test_bad_custom_endpoints_are_refused_with_awss_codes(rds, kwargs, code):
    aurora_mysql_cluster(rds, "orders", readers=1)
    request = {
        "DBClusterIdentifier": "orders",
        "DBClusterEndpointIdentifier": "custom1",
        "EndpointType": "READER",
        **kwargs,
    }
    with pytest.raises(ClientError) as caught:
        rds.create_db_cluster_endpoint(**request)
    assert caught.value.response["Error"]["Code"] == code


def test_duplicate_and_unknown_endpoints(rds):
    aurora_mysql_cluster(rds, "orders", readers=0)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="e1", EndpointType="ANY"
    )
    with pytest.raises(ClientError) as caught:
        rds.create_db_cluster_endpoint(
            DBClusterIdentifier="orders", DBClusterEndpointIdentifier="e1", EndpointType="ANY"
        )
    assert caught.value.response["Error"]["Code"] == "DBClusterEndpointAlreadyExistsFault"
    with pytest.raises(ClientError) as caught:
        rds.modify_db_cluster_endpoint(DBClusterEndpointIdentifier="nope", EndpointType="ANY")
    assert caught.value.response["Error"]["Code"] == "DBClusterEndpointNotFoundFault"


def test_reset_forgets_custom_endpoints(sandbox, rds):
    aurora_mysql_cluster(rds, "orders", readers=0)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="e1", EndpointType="ANY"
    )
    sandbox.reset()
    aurora_mysql_cluster(rds, "orders", readers=0)
    listed = rds.describe_db_cluster_endpoints()["DBClusterEndpoints"]
    assert [e["EndpointType"] for e in listed] == ["WRITER", "READER"]


def test_more_than_100_endpoints_are_paged_with_markers(rds):
    # Given 55 clusters: 110 built-in endpoints in one region
    for i in range(55):
        rds.create_db_cluster(
            DBClusterIdentifier=f"c{i:02d}",
            Engine="aurora-postgresql",
            MasterUsername="admin",
            MasterUserPassword="password123",
        )
    # When they are listed with the paginator, 40 to a page
    pages = list(
        rds.get_paginator("describe_db_cluster_endpoints").paginate(
            PaginationConfig={"PageSize": 40}
        )
    )
    # Then every endpoint comes back once, over three pages
    endpoints = [e["Endpoint"] for p in pages for e in p["DBClusterEndpoints"]]
    assert [len(p["DBClusterEndpoints"]) for p in pages] == [40, 40, 30]
    assert len(set(endpoints)) == 110


def test_max_records_outside_20_to_100_is_refused(rds):
    with pytest.raises(ClientError) as caught:
        rds.describe_db_cluster_endpoints(MaxRecords=5)
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"
