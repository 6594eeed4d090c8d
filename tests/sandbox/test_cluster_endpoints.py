"""Aurora cluster endpoints in the sandbox, through boto3."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sandbox.extensions import lifecycle_core
from tests.sandbox.helpers import aurora_mysql_cluster, client, until

# Long enough for a test to make its calls inside a transition on a busy CI machine.
ENDPOINT_SECONDS = 1.5


@pytest.fixture
def rds(sandbox):
    return client("rds", "eu-west-1")


@pytest.fixture
def slow_endpoints(rds):
    """Endpoint transitions long enough to be seen; everything else immediate."""
    lifecycle_core.set_durations(default=0, endpoint=ENDPOINT_SECONDS)
    yield rds
    lifecycle_core.reset_durations()


def _endpoint(rds, name):
    return rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier=name)[
        "DBClusterEndpoints"
    ][0]


def _status_filter(rds, status):
    found = rds.describe_db_cluster_endpoints(
        DBClusterIdentifier="orders",
        Filters=[{"Name": "db-cluster-endpoint-status", "Values": [status]}],
    )["DBClusterEndpoints"]
    return [e.get("DBClusterEndpointIdentifier", e["EndpointType"]) for e in found]


def _refused(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response


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


def test_a_new_custom_endpoint_is_creating_then_available(slow_endpoints):
    rds = slow_endpoints
    # Given a cluster
    aurora_mysql_cluster(rds, "orders", readers=1)
    # When a custom endpoint is created
    created = rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="analytics", EndpointType="ANY"
    )
    # Then it is creating, in the answer, in Describe and for the status filter
    assert created["Status"] == "creating"
    assert _endpoint(rds, "analytics")["Status"] == "creating"
    assert _status_filter(rds, "creating") == ["analytics"]
    assert _status_filter(rds, "available") == ["WRITER", "READER"]
    # And available once the transition is over
    until(lambda: _endpoint(rds, "analytics")["Status"] == "available")
    assert _status_filter(rds, "available") == ["WRITER", "READER", "analytics"]


def test_a_creating_endpoint_cannot_be_modified_or_deleted(slow_endpoints):
    rds = slow_endpoints
    _, reader = aurora_mysql_cluster(rds, "orders", readers=1)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders",
        DBClusterEndpointIdentifier="analytics",
        EndpointType="READER",
        StaticMembers=[reader],
    )
    # When it is modified while creating, then AWS's state fault answers
    response = _refused(
        rds.modify_db_cluster_endpoint,
        DBClusterEndpointIdentifier="analytics",
        EndpointType="ANY",
        StaticMembers=[],
    )
    assert response["Error"]["Code"] == "InvalidDBClusterEndpointStateFault"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "analytics" in response["Error"]["Message"]
    assert "creating" in response["Error"]["Message"]
    response = _refused(rds.delete_db_cluster_endpoint, DBClusterEndpointIdentifier="analytics")
    assert response["Error"]["Code"] == "InvalidDBClusterEndpointStateFault"
    # And nothing changed: it becomes available as created
    until(lambda: _endpoint(rds, "analytics")["Status"] == "available")
    endpoint = _endpoint(rds, "analytics")
    assert endpoint["CustomEndpointType"] == "READER"
    assert endpoint["StaticMembers"] == [reader]


def test_a_modified_endpoint_keeps_its_old_members_while_modifying(slow_endpoints):
    rds = slow_endpoints
    writer, reader1, reader2 = aurora_mysql_cluster(rds, "orders", readers=2)
    rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders",
        DBClusterEndpointIdentifier="analytics",
        EndpointType="READER",
        StaticMembers=[reader1],
    )
    until(lambda: _endpoint(rds, "analytics")["Status"] == "available")
    # When its members are changed
    modified = rds.modify_db_cluster_endpoint(
        DBClusterEndpointIdentifier="analytics", EndpointType="ANY", StaticMembers=[writer, reader2]
    )
    # Then the answer shows the new members, as AWS's does...
    assert modified["Status"] == "modifying"
    assert modified["CustomEndpointType"] == "ANY"
    assert modified["StaticMembers"] == [writer, reader2]
    # ...while Describe shows the old ones until the modification is over
    during = _endpoint(rds, "analytics")
    assert during["Status"] == "modifying"
    assert during["CustomEndpointType"] == "READER"
    assert during["StaticMembers"] == [reader1]
    assert _status_filter(rds, "modifying") == ["analytics"]
    # And a delete meanwhile is refused
    response = _refused(rds.delete_db_cluster_endpoint, DBClusterEndpointIdentifier="analytics")
    assert response["Error"]["Code"] == "InvalidDBClusterEndpointStateFault"
    assert "modifying" in response["Error"]["Message"]
    until(lambda: _endpoint(rds, "analytics")["Status"] == "available")
    after = _endpoint(rds, "analytics")
    assert after["CustomEndpointType"] == "ANY"
    assert after["StaticMembers"] == [writer, reader2]


def test_a_deleted_endpoint_is_deleting_then_gone(slow_endpoints):
    rds = slow_endpoints
    aurora_mysql_cluster(rds, "orders", readers=1)
    created = rds.create_db_cluster_endpoint(
        DBClusterIdentifier="orders", DBClusterEndpointIdentifier="analytics", EndpointType="ANY"
    )
    until(lambda: _endpoint(rds, "analytics")["Status"] == "available")
    # When it is deleted
    deleted = rds.delete_db_cluster_endpoint(DBClusterEndpointIdentifier="analytics")
    # Then it is deleting, still listed (and still the cluster's), and cannot be changed
    assert deleted["Status"] == "deleting"
    assert _endpoint(rds, "analytics")["Status"] == "deleting"
    assert _status_filter(rds, "deleting") == ["analytics"]
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert cluster["CustomEndpoints"] == [created["Endpoint"]]
    response = _refused(
        rds.modify_db_cluster_endpoint, DBClusterEndpointIdentifier="analytics", EndpointType="ANY"
    )
    assert response["Error"]["Code"] == "InvalidDBClusterEndpointStateFault"
    # And once the transition is over it is gone: Describe by identifier finds nothing
    # (AWS's answer: an empty list) and the endpoint is unknown to Modify and Delete
    until(
        lambda: (
            rds.describe_db_cluster_endpoints(DBClusterEndpointIdentifier="analytics")[
                "DBClusterEndpoints"
            ]
            == []
        )
    )
    response = _refused(rds.delete_db_cluster_endpoint, DBClusterEndpointIdentifier="analytics")
    assert response["Error"]["Code"] == "DBClusterEndpointNotFoundFault"
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert cluster.get("CustomEndpoints", []) == []
