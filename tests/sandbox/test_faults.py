"""The sandbox's fault injector: AWS's API throttling and IAM denials, through boto3."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from estate import aws

PROD = aws.AccountRef("111111111111", "arn:aws:iam::111111111111:role/EstateSync")
STAGING = aws.AccountRef("222222222222", "arn:aws:iam::222222222222:role/EstateSync")


def _raw_rds(account: aws.AccountRef, region: str):
    """An unpaced client without retries, so each call is exactly one request."""
    session = aws.session_for(account)
    return session.client(
        "rds",
        region_name=region,
        endpoint_url=settings.AWS_ENDPOINT_URL,
        config=aws.botocore_config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def test_requests_past_the_burst_are_throttled_per_account_and_region(sandbox):
    # Given a tiny RDS bucket: 3 requests at once, refilled very slowly
    sandbox.faults.throttle(burst=3, rate=0.01, service="rds")
    rds = _raw_rds(PROD, "us-east-1")
    # When the burst is spent
    for _ in range(3):
        rds.describe_db_instances()
    # Then the next request is throttled with AWS's error, which we map to AwsThrottled
    with pytest.raises(aws.AwsThrottled) as caught:
        aws.call(rds, "describe_db_instances")
    assert caught.value.code == "ThrottlingException"
    assert caught.value.message == "Rate exceeded"
    # And another region and another account have buckets of their own
    _raw_rds(PROD, "eu-west-1").describe_db_instances()
    _raw_rds(STAGING, "us-east-1").describe_db_instances()
    assert sandbox.faults.throttled_requests == 1


def test_botocore_retries_a_throttled_request_as_throttling(sandbox):
    # Given a bucket of one request refilled every 50 ms
    sandbox.faults.throttle(burst=1, rate=20.0, service="rds")
    stats = aws.CallStats()
    rds = aws.client(PROD, "us-east-1", "rds", stats=stats, paced=False)
    # When two calls are made back to back
    aws.call(rds, "describe_db_instances")
    aws.call(rds, "describe_db_clusters")
    # Then the second was throttled at least once, and botocore's retry got it through
    assert stats.throttle_retries >= 1
    assert stats.by_operation["DescribeDBClusters"] == 1 + stats.throttle_retries


def test_throttling_applies_only_to_the_named_service(sandbox):
    sandbox.faults.throttle(burst=1, rate=0.01, service="rds")
    elasticache = aws.client(PROD, "us-east-1", "elasticache", paced=False)
    for _ in range(3):
        aws.call(elasticache, "describe_cache_clusters")


def test_a_denied_service_raises_access_denied_while_others_work(sandbox):
    # Given DMS denied to the staging account in eu-west-1
    sandbox.faults.deny(account_id="222222222222", region="eu-west-1", service="dms")
    # When it describes DMS there, then it is AccessDenied (JSON protocol)
    dms = aws.client(STAGING, "eu-west-1", "dms")
    with pytest.raises(aws.AwsAccessDenied) as caught:
        aws.call(dms, "describe_replication_instances")
    assert caught.value.code == "AccessDeniedException"
    assert "dms:DescribeReplicationInstances" in caught.value.message
    # And RDS in the same account and region, DMS elsewhere and DMS for the other
    # account still work
    aws.call(aws.client(STAGING, "eu-west-1", "rds"), "describe_db_instances")
    aws.call(aws.client(STAGING, "us-east-1", "dms"), "describe_replication_instances")
    aws.call(aws.client(PROD, "eu-west-1", "dms"), "describe_replication_instances")


def test_a_denial_can_be_limited_to_one_action_of_a_query_service(sandbox):
    # Given only DescribeDBProxies denied
    sandbox.faults.deny(service="rds", action_prefix="DescribeDBProxies")
    rds = aws.client(PROD, "us-east-1", "rds")
    # Then that action is AccessDenied and the body of other calls still reaches moto
    with pytest.raises(aws.AwsAccessDenied) as caught:
        aws.call(rds, "describe_db_proxies")
    assert caught.value.code == "AccessDenied"
    with pytest.raises(aws.AwsNotFound):
        aws.call(rds, "describe_db_clusters", DBClusterIdentifier="nope")


def test_reset_clears_the_faults(sandbox):
    sandbox.faults.deny(service="rds")
    sandbox.reset()
    aws.call(aws.client(PROD, "us-east-1", "rds"), "describe_db_instances")


def test_a_deny_rule_needs_a_scope(sandbox):
    with pytest.raises(ValueError, match="at least one"):
        sandbox.faults.deny()


def test_the_moto_api_is_never_faulted(sandbox):
    # Given every RDS call denied
    sandbox.faults.deny(service="rds")
    # When the moto API is used, then it answers
    with urllib.request.urlopen(f"{sandbox.url}/moto-api/data.json", timeout=10) as response:
        assert response.status == 200


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_faults_can_be_set_over_http_from_another_process(sandbox):
    # When a deny rule and a throttle are posted to the sandbox's control endpoint
    url = f"{sandbox.url}/estate-sandbox/faults"
    status, state = _post(
        url,
        {
            "throttle": {"burst": 50, "rate": 5, "service": "rds"},
            "deny": [{"account_id": "222222222222", "region": "eu-west-1", "service": "dms"}],
        },
    )
    # Then they are in force and reported back
    assert status == 200
    assert state["throttles"] == [{"burst": 50, "rate": 5, "service": "rds"}]
    with pytest.raises(aws.AwsAccessDenied):
        aws.call(aws.client(STAGING, "eu-west-1", "dms"), "describe_replication_instances")
    # And bad rules are refused with a reason, clear removes everything
    status, error = _post(url, {"throttle": {"burst": 0}})
    assert status == 400
    assert "burst" in error["error"]
    assert _post(url, {"clear": True})[1]["denials"] == []
