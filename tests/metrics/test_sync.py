"""The metrics sync against the sandbox's CloudWatch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metrics import queries
from metrics.catalog import HIT_RATE
from metrics.models import MetricHour, Series, pack_minutes, unpack_minutes
from metrics.sync import prune, sync_metrics
from tests.factories import estate as factories
from tests.metrics.conftest import minutes_before

pytestmark = pytest.mark.django_db

RDS = "AWS/RDS"


def test_more_than_500_queries_are_split_into_calls_of_at_most_500(cw_sandbox, publish, now):
    # Given 90 standalone instances: 90 x 6 metrics = 540 series to fetch
    account = factories.make_account()
    instances = [factories.make_instance(account) for _ in range(90)]
    last = instances[-1]
    publish(
        account,
        "us-east-1",
        RDS,
        "CPUUtilization",
        {"DBInstanceIdentifier": last.identifier},
        [(ts, 42.0) for ts in minutes_before(now, 3)],
    )
    # When the metrics sync runs
    result = sync_metrics(now=now)
    # Then it asked for all 540 series in two GetMetricData calls (500 + 40)
    assert result["errors"] == {}
    assert result["queries"] == 540
    assert result["api_calls"] == 2
    # And the points of the last series (in the second call) are stored
    series = Series.objects.get(resource_arn=last.arn, metric="CPUUtilization")
    assert series.last_value == pytest.approx(42.0)
    assert result["points_written"] == 3


def test_pages_are_followed_with_next_token(cw_sandbox, publish, now, settings):
    # Given CloudWatch pages answers at 10 datapoints and 2 series hold 30 points each
    settings.METRICS_MAX_DATAPOINTS = 10
    account = factories.make_account()
    db = factories.make_instance(account)
    for metric in ("CPUUtilization", "ReadIOPS"):
        publish(
            account,
            "us-east-1",
            RDS,
            metric,
            {"DBInstanceIdentifier": db.identifier},
            [(ts, float(i)) for i, ts in enumerate(minutes_before(now, 30))],
        )
    # When the metrics sync runs
    result = sync_metrics(now=now)
    # Then it followed NextToken through 6+ pages and stored every point
    assert result["api_calls"] >= 6
    assert result["points_written"] == 60
    hours = MetricHour.objects.filter(series__resource_arn=db.arn, series__metric="ReadIOPS")
    values = [v for h in hours for v in h.values if v is not None]
    assert sorted(values) == [float(i) for i in range(30)]


def test_a_second_run_fetches_only_the_overlap_and_writes_nothing(cw_sandbox, publish, now):
    # Given an instance with 20 minutes of CPU, already synced
    account = factories.make_account()
    db = factories.make_instance(account)
    dims = {"DBInstanceIdentifier": db.identifier}
    publish(
        account,
        "us-east-1",
        RDS,
        "CPUUtilization",
        dims,
        [(ts, 10.0) for ts in minutes_before(now, 20)],
    )
    first = sync_metrics(now=now)
    assert first["points_written"] == 20
    before = list(MetricHour.objects.values_list("id", "minutes", "avg", "max", "count"))
    series_before = list(Series.objects.values_list("id", "fetched_until", "last_point_at"))
    # When it runs again with nothing new in CloudWatch
    second = sync_metrics(now=now)
    # Then nothing was written: no hour rows, no series bookkeeping
    assert second["points_written"] == 0
    assert second["rows_created"] == second["rows_updated"] == 0
    assert list(MetricHour.objects.values_list("id", "minutes", "avg", "max", "count")) == before
    assert list(Series.objects.values_list("id", "fetched_until", "last_point_at")) == series_before
    # And it only re-read the last few minutes (the overlap), not 24 hours
    assert second["points_fetched"] == 5

    # When 5 new minutes arrive and the sync runs 5 minutes later
    later = now + timedelta(minutes=5)
    publish(
        account,
        "us-east-1",
        RDS,
        "CPUUtilization",
        dims,
        [(ts, 20.0) for ts in minutes_before(later, 5)],
    )
    third = sync_metrics(now=later)
    # Then exactly those points are written
    assert third["points_written"] == 5
    series = Series.objects.get(resource_arn=db.arn, metric="CPUUtilization")
    assert series.last_value == 20.0
    assert series.last_point_at == later - timedelta(minutes=1)


def test_hour_rows_carry_the_rollup_and_prune_keeps_rollups_30_days(cw_sandbox, publish, now):
    # Given one full hour of CPU values 1..60
    account = factories.make_account()
    db = factories.make_instance(account)
    hour = now.replace(minute=0) - timedelta(hours=2)
    publish(
        account,
        "us-east-1",
        RDS,
        "CPUUtilization",
        {"DBInstanceIdentifier": db.identifier},
        [(hour + timedelta(minutes=i), float(i + 1)) for i in range(60)],
    )
    # When synced
    sync_metrics(now=now)
    # Then that hour's row holds the minutes and the avg/max rollup
    row = MetricHour.objects.get(series__metric="CPUUtilization", hour=hour)
    assert row.values == [float(i + 1) for i in range(60)]
    assert (row.avg, row.max, row.count) == (30.5, 60.0, 60)
    # And the list sparkline (hourly averages) has that hour two slots before now's
    line = queries.sparklines([db], now=now)[db.arn]
    assert line.values[-3] == 30.5
    assert line.values[-2:] == [None, None]

    # Given older hours: one 2 days old (minutes kept) and one 31 days old
    series = row.series
    minutes = pack_minutes([5.0] * 60)
    two_days = MetricHour.objects.create(
        series=series, hour=hour - timedelta(days=2), minutes=minutes, avg=5, max=5, count=60
    )
    month = MetricHour.objects.create(
        series=series, hour=hour - timedelta(days=31), minutes=None, avg=5, max=5, count=60
    )
    # When the prune runs
    cleared, deleted, _ = prune(now=now)
    # Then the 2-day-old hour keeps only its rollup, the 31-day-old one is gone,
    # and the recent hour keeps its minutes
    two_days.refresh_from_db()
    assert two_days.minutes is None
    assert (two_days.avg, two_days.max) == (5, 5)
    assert unpack_minutes(two_days.minutes) == [None] * 60
    assert not MetricHour.objects.filter(pk=month.pk).exists()
    row.refresh_from_db()
    assert row.minutes is not None
    assert (cleared, deleted) == (1, 1)


def test_a_vanished_resource_is_no_longer_fetched_and_its_history_is_kept(cw_sandbox, publish, now):
    # Given a replica with lag points, synced
    account = factories.make_account()
    source = factories.make_instance(account)
    replica = factories.make_instance(
        account, replica_source=source, replica_source_identifier=source.identifier
    )
    publish(
        account,
        "us-east-1",
        RDS,
        "ReplicaLag",
        {"DBInstanceIdentifier": replica.identifier},
        [(ts, 3.0) for ts in minutes_before(now, 10)],
    )
    first = sync_metrics(now=now)
    assert first["queries"] == 13  # 6 + 6 + ReplicaLag
    # When the replica vanishes from AWS (sync marks it gone)
    replica.gone_at = now
    replica.save()
    second = sync_metrics(now=now + timedelta(minutes=5))
    # Then its series are deactivated and no longer asked for
    assert second["deactivated"] == 7
    assert second["queries"] == 6
    lag = Series.objects.get(resource_arn=replica.arn, metric="ReplicaLag")
    assert lag.active is False
    # And its history stays until the rollups age out, then the series goes too
    assert lag.hours.exists()
    sync_metrics(now=now + timedelta(days=31))
    assert not Series.objects.filter(resource_arn=replica.arn).exists()


def test_a_metric_without_points_is_tracked_and_stores_nothing(cw_sandbox, now):
    # Given an instance that publishes nothing at all
    account = factories.make_account()
    db = factories.make_instance(account)
    # When synced
    result = sync_metrics(now=now)
    # Then its series exist and remember the fetch, with no hour rows and no value
    assert result["points_written"] == 0
    series = Series.objects.get(resource_arn=db.arn, metric="FreeStorageSpace")
    assert series.fetched_until == now
    assert series.last_point_at is None
    assert not MetricHour.objects.exists()


def test_cache_hit_rate_is_computed_over_the_groups_members(cw_sandbox, publish, now):
    # Given a replication group of a primary and a replica with hits and misses
    account = factories.make_account()
    group = factories.make_replication_group(account, replicas=1)
    primary, replica = group.member_clusters
    minute = now - timedelta(minutes=1)
    for cid, hits, misses in ((primary, 90.0, 10.0), (replica, 50.0, 50.0)):
        dims = {"CacheClusterId": cid}
        publish(account, "us-east-1", "AWS/ElastiCache", "CacheHits", dims, [(minute, hits)])
        publish(account, "us-east-1", "AWS/ElastiCache", "CacheMisses", dims, [(minute, misses)])
    # When synced
    sync_metrics(now=now)
    # Then the group's hit rate is (90 + 50) / 200 = 70 %
    rate = Series.objects.get(resource_arn=group.arn, metric=HIT_RATE, label="")
    assert rate.last_value == pytest.approx(70.0)
    # And ReplicationLag is asked of the replica only
    lag_labels = set(
        Series.objects.filter(resource_arn=group.arn, metric="ReplicationLag").values_list(
            "label", flat=True
        )
    )
    assert lag_labels == {replica}


def test_an_account_that_denies_cloudwatch_is_reported_and_others_continue(
    cw_sandbox, publish, now
):
    # Given two accounts, one of which denies CloudWatch
    denied = factories.make_account()
    fine = factories.make_account()
    factories.make_instance(denied)
    db = factories.make_instance(fine)
    publish(
        fine,
        "us-east-1",
        RDS,
        "CPUUtilization",
        {"DBInstanceIdentifier": db.identifier},
        [(now - timedelta(minutes=1), 1.0)],
    )
    cw_sandbox.faults.deny(account_id=denied.account_id, service="monitoring")
    # When the metrics sync runs
    result = sync_metrics(now=now)
    # Then the denied scope is an error and the other one is synced
    assert list(result["errors"]) == [f"{denied.account_id}/us-east-1"]
    assert Series.objects.get(resource_arn=db.arn, metric="CPUUtilization").last_value == 1.0
