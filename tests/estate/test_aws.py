import pytest

from estate import aws


def test_assumed_role_acts_in_the_roles_account(sandbox):
    # Given two accounts reached through roles
    a = aws.AccountRef("111111111111", "arn:aws:iam::111111111111:role/EstateSync")
    b = aws.AccountRef("222222222222", "arn:aws:iam::222222222222:role/EstateSync")
    # When an instance is created in account A only
    rds_a = aws.client(a, "eu-west-1", "rds", mutating=True)
    aws.call(
        rds_a,
        "create_db_instance",
        DBInstanceIdentifier="only-in-a",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        AllocatedStorage=20,
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    # Then A sees it under its own account id and B sees nothing
    listed = aws.call(rds_a, "describe_db_instances")["DBInstances"]
    assert [i["DBInstanceArn"].split(":")[4] for i in listed] == ["111111111111"]
    rds_b = aws.client(b, "eu-west-1", "rds")
    assert aws.call(rds_b, "describe_db_instances")["DBInstances"] == []


def test_not_found_is_translated_with_awss_message(sandbox):
    rds = aws.client(aws.AccountRef("123456789012"), "us-east-1", "rds")
    with pytest.raises(aws.AwsNotFound) as caught:
        aws.call(rds, "describe_db_clusters", DBClusterIdentifier="nope")
    assert caught.value.code == "DBClusterNotFoundFault"
    assert "nope" in caught.value.message


def test_calls_are_counted_in_stats(sandbox):
    stats = aws.CallStats()
    rds = aws.client(aws.AccountRef("123456789012"), "us-east-1", "rds", stats=stats)
    aws.call(rds, "describe_db_instances")
    aws.call(rds, "describe_db_clusters")
    assert stats.api_calls == 2
    assert stats.by_operation == {"DescribeDBInstances": 1, "DescribeDBClusters": 1}


def test_token_bucket_spends_burst_then_waits_for_refill():
    import time

    # Given a bucket of 3 tokens refilling at 10/s
    bucket = aws.TokenBucket(capacity=3, rate=10.0)
    started = time.monotonic()
    # When 5 tokens are taken
    waits = [bucket.acquire() for _ in range(5)]
    elapsed = time.monotonic() - started
    # Then the burst is free and the two extra tokens cost at least their refill time,
    # however slow the machine is (a slow machine can only refill more in between).
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert elapsed >= 2 / 10.0 - 0.01


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, aws.AwsThrottled),
        ("Throttling", 400, aws.AwsThrottled),
        ("AccessDeniedException", 400, aws.AwsAccessDenied),
        ("DBInstanceNotFound", 404, aws.AwsNotFound),
        ("InvalidDBClusterStateFault", 400, aws.AwsInvalidState),
        ("InternalFailure", 500, aws.AwsUnavailable),
        ("InvalidParameterValue", 400, aws.AwsError),
    ],
)
def test_client_errors_map_to_our_errors(code, status, expected):
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeDBInstances",
    )
    assert type(aws.translate(exc)) is expected


def test_an_api_the_sandbox_lacks_is_unavailable_not_a_crash():
    # moto answers an unimplemented API with an HTML 500 that botocore cannot parse;
    # ResponseParserError is no BotoCoreError, so it needs its own mapping.
    from botocore.parsers import ResponseParserError

    with pytest.raises(aws.AwsUnavailable) as caught, aws.translated("DescribeThings"):
        raise ResponseParserError("Unable to parse response (syntax error)\n<html>...")
    assert caught.value.code == "Unparseable"
    assert caught.value.operation == "DescribeThings"


def test_clients_can_be_built_from_many_threads_at_once(sandbox):
    # Sync builds clients for several regions of one account concurrently.
    from concurrent.futures import ThreadPoolExecutor

    ref = aws.AccountRef("111111111111", "arn:aws:iam::111111111111:role/EstateSync")
    regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"] * 3
    with ThreadPoolExecutor(max_workers=6) as pool:
        clients = list(pool.map(lambda r: aws.client(ref, r, "rds"), regions))
    assert [c.meta.region_name for c in clients] == regions
    assert aws.call(clients[0], "describe_db_instances")["DBInstances"] == []


def test_sessions_are_built_once_and_share_the_service_models(sandbox):
    # Building a boto3 session parses every service model it uses anew (~100 ms of CPU):
    # the base session is built once per process, and each account's assumed-role
    # session reuses its model loader.
    a = aws.AccountRef("111111111111", "arn:aws:iam::111111111111:role/EstateSync")
    b = aws.AccountRef("222222222222", "arn:aws:iam::222222222222:role/EstateSync")
    assert aws.session_for(aws.AccountRef("333333333333")) is aws.session_for(
        aws.AccountRef("444444444444")
    )
    session_a, session_b = aws.session_for(a), aws.session_for(b)
    assert session_a is not session_b
    assert session_a.get_credentials().access_key != session_b.get_credentials().access_key
    loader = aws.session_for(aws.AccountRef("333333333333"))._session.get_component("data_loader")
    assert session_a._session.get_component("data_loader") is loader
    assert session_b._session.get_component("data_loader") is loader
    aws.forget_sessions()
    assert aws.session_for(a) is not session_a


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-02T10:00:00Z",
        "2026-12-02T10:00:00.123Z",
        "2026-12-02T10:00:00.123456789Z",
        "2026-12-02T10:00:00+02:00",
        "2026-12-02T10:00:00",
        "1700000000",
        1700000000,
        "Wed, 02 Dec 2026 10:00:00 GMT",
    ],
)
def test_timestamps_parse_as_botocore_parses_them(value):
    import botocore.utils

    assert aws.parse_timestamp(value) == botocore.utils.parse_timestamp(value)


def test_clients_parse_awss_timestamps_as_aware_datetimes(sandbox):
    rds = aws.client(aws.AccountRef("123456789012"), "us-east-1", "rds", mutating=True)
    aws.call(
        rds,
        "create_db_cluster",
        DBClusterIdentifier="stamped",
        Engine="aurora-postgresql",
        MasterUsername="admin",
        MasterUserPassword="password123",
    )
    cluster = aws.call(rds, "describe_db_clusters")["DBClusters"][0]
    created = cluster["ClusterCreateTime"]
    assert created.utcoffset() is not None
    assert created.utcoffset().total_seconds() == 0
