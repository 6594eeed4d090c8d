"""The sandbox's Global Database switchover/failover: refusals and end state."""

import threading
import time

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.extensions import lifecycle_core


@pytest.fixture
def regions(sandbox):
    lifecycle_core.set_durations(default=0.0, **{"global": 1.0})  # (0.3 s: missed when busy)

    def client(region: str):
        return boto3.client(
            "rds",
            region_name=region,
            endpoint_url=sandbox.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    east, west = client("us-east-1"), client("eu-west-1")
    east.create_global_cluster(GlobalClusterIdentifier="g", Engine="aurora-postgresql")
    for rds, name in ((east, "g-east"), (west, "g-west")):
        rds.create_db_cluster(
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            GlobalClusterIdentifier="g",
            MasterUsername="admin",
            MasterUserPassword="password123",
        )
    yield east, west
    lifecycle_core.reset_durations()


def _global(east):
    return east.describe_global_clusters()["GlobalClusters"][0]


def _writer(east) -> str:
    return next(m["DBClusterArn"] for m in _global(east)["GlobalClusterMembers"] if m["IsWriter"])


def test_switchover_shows_switching_over_then_moves_the_writer(regions):
    east, west = regions
    target = west.describe_db_clusters(DBClusterIdentifier="g-west")["DBClusters"][0][
        "DBClusterArn"
    ]
    east.switchover_global_cluster(GlobalClusterIdentifier="g", TargetDbClusterIdentifier=target)
    during = _global(east)
    assert during["Status"] == "switching-over"
    assert during["FailoverState"]["ToDbClusterArn"] == target
    deadline, pause = time.monotonic() + 5, threading.Event()
    while _global(east)["Status"] != "available":
        assert time.monotonic() < deadline
        pause.wait(0.02)
    assert _writer(east) == target


def test_refusals_match_aws(regions):
    east, west = regions
    primary = _writer(east)
    with pytest.raises(ClientError, match="already the primary"):
        east.switchover_global_cluster(
            GlobalClusterIdentifier="g", TargetDbClusterIdentifier=primary
        )
    with pytest.raises(ClientError, match="not a member"):
        east.switchover_global_cluster(
            GlobalClusterIdentifier="g",
            TargetDbClusterIdentifier="arn:aws:rds:eu-west-1:123456789012:cluster:nope",
        )
    target = west.describe_db_clusters(DBClusterIdentifier="g-west")["DBClusters"][0][
        "DBClusterArn"
    ]
    with pytest.raises(ClientError, match="exactly one of AllowDataLoss"):
        east.failover_global_cluster(GlobalClusterIdentifier="g", TargetDbClusterIdentifier=target)
    with pytest.raises(ClientError, match="GlobalClusterNotFoundFault"):
        east.switchover_global_cluster(
            GlobalClusterIdentifier="nope", TargetDbClusterIdentifier=target
        )
    east.failover_global_cluster(
        GlobalClusterIdentifier="g", TargetDbClusterIdentifier=target, AllowDataLoss=True
    )
    assert _global(east)["FailoverState"]["IsDataLossAllowed"] is True
    with pytest.raises(ClientError, match="InvalidGlobalClusterStateFault"):
        east.switchover_global_cluster(
            GlobalClusterIdentifier="g", TargetDbClusterIdentifier=primary
        )
