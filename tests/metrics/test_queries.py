"""Reading stored metrics: chart data, sparklines and thresholds (no AWS involved)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from metrics import queries
from metrics.catalog import HIT_RATE, SPECS
from metrics.models import AccountThresholds, Series
from metrics.sync import write_points
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(minute=30, second=0, microsecond=0)


def store(obj, metric: str, points: dict[datetime, float], label: str = "") -> Series:
    """Series + points for a mirrored row, the way the sync stores them."""
    series, _ = Series.objects.get_or_create(
        resource_arn=obj.arn,
        metric=metric,
        label=label,
        defaults={
            "account": obj.account,
            "region": obj.region,
            "namespace": SPECS[metric].namespace,
        },
    )
    if points:
        write_points({series.pk: points})
        latest = max(points)
        series.last_point_at, series.last_value = latest, points[latest]
        series.save(update_fields=["last_point_at", "last_value"])
    return series


def minutes(count: int, value: float, *, end: datetime = NOW) -> dict[datetime, float]:
    return {end - timedelta(minutes=i + 1): value for i in range(count)}


def xs_of(payload: dict) -> list[int]:
    return [payload["start"] + i * payload["step"] for i in range(payload["points"])]


def by_key(payload: dict) -> dict[str, dict]:
    return {c["key"]: c for c in payload["charts"]}


def test_cluster_chart_shows_every_readers_lag_in_seconds_on_one_chart():
    # Given an Aurora cluster with two readers reporting lag (ms in CloudWatch, stored in s)
    family = factories.make_aurora_family(readers=2, with_proxy=False)
    r1, r2 = family["readers"]
    store(r1, "AuroraReplicaLag", minutes(10, 0.02))
    store(r2, "AuroraReplicaLag", minutes(5, 45.0))
    # When the 24 h chart data is read
    payload = queries.chart_data(family["cluster"], "24h", now=NOW)
    lag = by_key(payload)["readers-lag"]
    # Then one chart has one line per reader over 1,440 one-minute slots
    assert lag["series"] == [r1.identifier, r2.identifier]
    xs = xs_of(payload)
    ys1, ys2 = map(queries.decode_line, lag["data"])
    assert len(xs) == 1440
    assert xs[1] - xs[0] == 60
    assert xs[-1] == int((NOW - timedelta(minutes=1)).timestamp())
    assert ys1[-10:] == pytest.approx([0.02] * 10)
    assert ys2[-5:] == [45.0] * 5
    assert ys2[-6] is None
    # And the default replica-lag threshold is drawn
    assert lag["threshold"] == 30.0
    assert lag["direction"] == "above"


def test_account_override_replaces_the_default_threshold():
    account = factories.make_account()
    AccountThresholds.objects.create(account=account, replica_lag_seconds=5)
    source = factories.make_instance(account)
    replica = factories.make_instance(
        account, replica_source=source, replica_source_identifier=source.identifier
    )
    charts = by_key(queries.chart_data(replica, "1h", now=NOW))
    assert charts["ReplicaLag"]["threshold"] == 5


def test_week_range_reads_hourly_rollups_with_avg_and_max():
    # Given two full hours of CPU: 1..60 and a flat 10
    db = factories.make_instance()
    hour = NOW.replace(minute=0) - timedelta(hours=3)
    points = {hour + timedelta(minutes=i): float(i + 1) for i in range(60)}
    points |= {hour + timedelta(hours=1, minutes=i): 10.0 for i in range(60)}
    store(db, "CPUUtilization", points)
    # When the 7-day chart is read
    payload = queries.chart_data(db, "7d", now=NOW)
    cpu = by_key(payload)["CPUUtilization"]
    # Then it has 168 hourly slots and avg + max lines
    xs = xs_of(payload)
    avg, peak = map(queries.decode_line, cpu["data"])
    assert len(xs) == 168
    assert xs[1] - xs[0] == 3600
    assert cpu["series"] == ["CPU (avg)", "CPU (max)"]
    at = xs.index(int(hour.timestamp()))
    assert (avg[at], peak[at]) == (30.5, 60.0)
    assert (avg[at + 1], peak[at + 1]) == (10.0, 10.0)


def test_charts_without_data_say_why():
    db = factories.make_instance()  # not a replica
    store(db, "CPUUtilization", {})  # fetched, CloudWatch had nothing
    charts = by_key(queries.chart_data(db, "24h", now=NOW))
    assert charts["CPUUtilization"]["empty"].startswith("No points in the last 24 h")
    assert charts["FreeableMemory"]["empty"].startswith("No points yet")
    assert charts["ReplicaLag"]["empty"] == "Not a replica: no replica lag is published."
    aurora = factories.make_aurora_family(readers=1, with_proxy=False)["writer"]
    charts = by_key(queries.chart_data(aurora, "24h", now=NOW))
    assert "Not published for Aurora instances" in charts["FreeStorageSpace"]["empty"]
    assert all(c["data"] == [] for c in charts.values())  # no lines to draw


def test_free_storage_threshold_is_a_share_of_the_allocation():
    db = factories.make_instance(allocated_storage=200)
    charts = by_key(queries.chart_data(db, "1h", now=NOW))
    assert charts["FreeStorageSpace"]["threshold"] == pytest.approx(0.10 * 200 * 1024**3)
    assert charts["FreeStorageSpace"]["direction"] == "below"


def test_serverless_capacity_is_drawn_against_its_min_and_max():
    cluster = factories.make_cluster(serverless_v2_min_acu=0.5, serverless_v2_max_acu=16)
    store(cluster, "ServerlessDatabaseCapacity", minutes(3, 4.0))
    capacity = by_key(queries.chart_data(cluster, "1h", now=NOW))["ServerlessDatabaseCapacity"]
    assert capacity["band"] == [0.5, 16]
    assert queries.decode_line(capacity["data"][0])[-3:] == [4.0] * 3


def test_global_database_shows_lags_per_secondary_region():
    account = factories.make_account()
    gc = factories.make_global_cluster(account)
    factories.make_cluster(account, global_cluster=gc, is_global_writer=True)
    euw = factories.make_cluster(account, region="eu-west-1", global_cluster=gc)
    apse = factories.make_cluster(account, region="ap-southeast-2", global_cluster=gc)
    store(euw, "AuroraGlobalDBRPOLag", minutes(2, 1.5))
    store(apse, "AuroraGlobalDBRPOLag", minutes(2, 90.0))
    charts = by_key(queries.chart_data(gc, "1h", now=NOW))
    rpo = charts["AuroraGlobalDBRPOLag"]
    assert [name.split()[0] for name in rpo["series"]] == ["eu-west-1", "ap-southeast-2"]
    assert rpo["threshold"] == 60.0
    assert queries.decode_line(rpo["data"][1])[-1] == 90.0
    assert charts["AuroraGlobalDBReplicationLag"]["empty"].startswith("No points yet")


def test_cache_group_charts_hit_rate_and_members():
    group = factories.make_replication_group(replicas=2)
    store(group, HIT_RATE, minutes(3, 72.5))
    for cid in group.member_clusters:
        store(group, "Evictions", minutes(3, 7.0), label=cid)
    charts = by_key(queries.chart_data(group, "1h", now=NOW))
    assert queries.decode_line(charts[HIT_RATE]["data"][0])[-1] == 72.5
    assert charts[HIT_RATE]["threshold"] == 80.0
    assert charts[HIT_RATE]["direction"] == "below"
    assert charts["Evictions"]["series"] == group.member_clusters
    assert charts["ReplicationLag"]["series"] == group.member_clusters[1:]


def test_chart_query_count_does_not_grow_with_points_or_readers():
    def count(readers: int, points: int) -> int:
        family = factories.make_aurora_family(readers=readers, with_proxy=False)
        for reader in family["readers"]:
            store(reader, "AuroraReplicaLag", minutes(points, 0.01))
        cluster = type(family["cluster"]).objects.get(pk=family["cluster"].pk)
        with CaptureQueriesContext(connection) as ctx:
            queries.chart_data(cluster, "24h", now=NOW)
        return len(ctx.captured_queries)

    assert count(readers=1, points=1) == count(readers=6, points=1400)


def test_sparklines_for_a_page_cost_one_query():
    def page(n: int) -> list:
        rows = []
        for _ in range(n):
            group = factories.make_replication_group(replicas=0)
            store(group, HIT_RATE, minutes(90, 95.0))
            rows.append(group)
        return rows

    small, large = page(1), page(30)
    for rows in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            lines = queries.sparklines(rows, now=NOW)
        assert len(ctx.captured_queries) == 1
        assert all(lines[r.arn].latest == pytest.approx(95.0) for r in rows)
    assert len(lines[large[0].arn].values) == 24


def test_past_threshold_lists_the_worst_first_with_overrides():
    now = timezone.now()
    account = factories.make_account()
    strict = factories.make_account()
    AccountThresholds.objects.create(account=strict, cache_hit_rate_percent=99)
    family = factories.make_aurora_family(account, readers=1, with_proxy=False)
    reader = family["readers"][0]
    store(reader, "AuroraReplicaLag", minutes(2, 90.0, end=now))  # 3x the 30 s threshold
    db = factories.make_instance(account, allocated_storage=100)
    store(db, "FreeStorageSpace", minutes(2, 5 * 1024**3, end=now))  # 5 % < 10 %: 2x
    fine = factories.make_replication_group(account, replicas=0)
    store(fine, HIT_RATE, minutes(2, 97.0, end=now))  # fine by the default 80 %
    picky = factories.make_replication_group(strict, replicas=0)
    store(picky, HIT_RATE, minutes(2, 97.0, end=now))  # past the account's 99 %
    stale = factories.make_instance(account)
    store(stale, "CPUUtilization", minutes(2, 99.0, end=now))  # no threshold on CPU
    old = factories.make_replication_group(account, replicas=0)
    store(old, HIT_RATE, minutes(2, 10.0, end=now - timedelta(hours=2)))  # not current

    breaches = queries.past_threshold(now=now)

    assert [(b.obj, b.metric) for b in breaches] == [
        (reader, "AuroraReplicaLag"),
        (db, "FreeStorageSpace"),
        (picky, HIT_RATE),
    ]
    assert breaches[1].value == pytest.approx(5.0)
    assert breaches[1].unit == "%"
    assert queries.arns_past_threshold(now=now) == {
        reader.arn,
        family["cluster"].arn,
        db.arn,
        picky.arn,
    }
    assert len(queries.past_threshold(limit=1, now=now)) == 1


def test_sparkline_prefers_lag_for_replicas_and_cpu_for_writers():
    writer = factories.make_instance()
    replica = factories.make_instance(
        replica_source=writer, replica_source_identifier=writer.identifier
    )
    for db in (writer, replica):
        store(db, "CPUUtilization", minutes(60, 50.0))
    store(replica, "ReplicaLag", minutes(60, 2.0))
    rows = [{"arn": writer.arn, "kind": "instance"}, {"arn": replica.arn, "kind": "instance"}]
    lines = queries.sparklines(rows, now=NOW)
    assert lines[writer.arn].metric == "CPUUtilization"
    assert lines[replica.arn].metric == "ReplicaLag"
    assert lines[replica.arn].latest == 2.0


def test_a_group_is_listed_once_per_metric_with_its_worst_member_and_flags_parents():
    now = timezone.now()
    account = factories.make_account()
    group = factories.make_replication_group(account, replicas=1)
    primary, replica = group.member_clusters
    store(group, "Evictions", minutes(2, 150.0, end=now), label=primary)
    store(group, "Evictions", minutes(2, 300.0, end=now), label=replica)
    gc = factories.make_global_cluster(account)
    secondary = factories.make_cluster(account, region="eu-west-1", global_cluster=gc)
    store(secondary, "AuroraGlobalDBRPOLag", minutes(2, 120.0, end=now))

    breaches = queries.past_threshold(now=now)

    assert [(b.resource_arn, b.metric, b.label) for b in breaches] == [
        (group.arn, "Evictions", replica),
        (secondary.arn, "AuroraGlobalDBRPOLag", ""),
    ]
    assert queries.arns_past_threshold(now=now) == {group.arn, secondary.arn, gc.arn}


def test_the_inventory_filters_to_resources_past_a_threshold(client):
    # Given a lagging reader (its cluster is flagged with it) and a healthy instance
    from django.urls import reverse

    now = timezone.now()
    family = factories.make_aurora_family(readers=1, with_proxy=False)
    reader = family["readers"][0]
    store(reader, "AuroraReplicaLag", minutes(2, 90.0, end=now))
    healthy = factories.make_instance()
    store(healthy, "CPUUtilization", minutes(2, 20.0, end=now))
    client.force_login(factories.make_user(role="Viewer"))
    # When the inventory is asked for what is past a threshold
    response = client.get(reverse("inventory"), {"past_threshold": "1"})
    # Then only the reader and its cluster are listed
    assert response.status_code == 200
    page = response.content.decode()
    assert reader.identifier in page
    assert f">{family['cluster'].identifier}<" in page
    assert healthy.identifier not in page
    assert response.context["page"].paginator.count == 2


@pytest.mark.parametrize(
    ("page", "build", "metric"),
    [
        ("caches", lambda: factories.make_replication_group(replicas=0), HIT_RATE),
        ("dms", lambda: factories.make_dms_task(), "CDCLatencyTarget"),
    ],
)
def test_cache_and_dms_lists_show_a_sparkline_per_row(client, page, build, metric):
    # Given a resource with a day of its headline metric
    from django.urls import reverse

    now = timezone.now()
    row = build()
    store(row, metric, minutes(600, 50.0, end=now))
    client.force_login(factories.make_user(role="Viewer"))
    # When its list is opened
    response = client.get(reverse(page))
    # Then the row carries a sparkline
    assert response.status_code == 200
    assert b'<td class="spark"><svg' in response.content
