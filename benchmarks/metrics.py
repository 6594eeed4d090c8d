"""Metrics benchmark (issue 7; not run by CI).

(a) Ingest through the sandbox: 100 instances x 6 metrics x 24 h of 1-minute points are
    published to the sandbox's CloudWatch, then one ``sync_metrics`` run fetches and
    stores them (``ingest_s`` is that run; a second run measures the no-op re-sync).
(b) 1,000 instances x 6 metrics x 24 h loaded directly into Estate's storage; measured:
    the storage size (PostgreSQL: tables + indexes + TOAST), the server time of one
    instance detail page with its charts (the charts tag inlines its data) against the
    page without them, and of one inventory page of 100 rows with sparklines
    against the same page without them. Median of repeated in-process requests.

Run against PostgreSQL (a throwaway ``test_<name>`` database is created and dropped):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h6_metrics \\
        .venv/bin/python benchmarks/metrics.py

Prints one JSON line: {"ingest_points", "ingest_s", "db_mb", "detail_ratio", "list_ratio", ...}.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.test_settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

RESOURCES_A = 100
RESOURCES_B = 1_000
REPEAT = 15


def median_ms(fn: Callable[[], Any], repeat: int = REPEAT) -> float:
    for _ in range(3):  # warm caches, templates, connections
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _instances(account: Any, count: int, prefix: str) -> list[Any]:
    from estate import models as m

    rows = [
        m.DbInstance(
            account=account,
            region="us-east-1",
            identifier=f"{prefix}-{i:04d}",
            arn=f"arn:aws:rds:us-east-1:{account.account_id}:db:{prefix}-{i:04d}",
            status="available",
            engine="postgres",
            engine_version="16.4",
            instance_class="db.r6g.large",
            allocated_storage=200,
        )
        for i in range(count)
    ]
    m.DbInstance.objects.bulk_create(rows, batch_size=1000)
    return list(m.DbInstance.objects.filter(identifier__startswith=f"{prefix}-").order_by("id"))


def _value(i: int, metric_index: int, minute: int) -> float:
    return 50 + 40 * math.sin((minute + 37 * i + 11 * metric_index) / 229.0)


def part_a(now: Any) -> dict[str, Any]:
    """Publish to the sandbox, then ingest with one metrics sync."""
    from estate import aws
    from estate import models as m
    from metrics.catalog import INSTANCE_METRICS
    from metrics.sync import sync_metrics
    from sandbox.metrics_seed import install_cloudwatch_speedups
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0).start()
    try:
        install_cloudwatch_speedups()
        settings.AWS_ENDPOINT_URL = server.url
        account = m.Account.objects.create(account_id="123456789012", name="bench-a")
        instances = _instances(account, RESOURCES_A, "ingest")
        client = aws.client(account, "us-east-1", "cloudwatch", paced=False)
        minutes = [now - timedelta(minutes=1440 - k) for k in range(1440)]
        started = time.perf_counter()
        published = 0
        for i, inst in enumerate(instances):
            for mi, metric in enumerate(INSTANCE_METRICS):
                data = [
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": inst.identifier}],
                        "Timestamp": ts,
                        "Value": _value(i, mi, k),
                    }
                    for k, ts in enumerate(minutes)
                ]
                for j in range(0, len(data), 1000):
                    client.put_metric_data(Namespace="AWS/RDS", MetricData=data[j : j + 1000])
                published += len(data)
        publish_s = time.perf_counter() - started
        started = time.perf_counter()
        first = sync_metrics(now=now)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        second = sync_metrics(now=now)
        resync_s = time.perf_counter() - started
    finally:
        server.stop()
        settings.AWS_ENDPOINT_URL = ""
    return {
        "published_points": published,
        "publish_s": round(publish_s, 2),
        "ingest_points": first["points_written"],
        "ingest_s": round(ingest_s, 2),
        "ingest_api_calls": first["api_calls"],
        "ingest_fetch_s": first["fetch_seconds"],
        "ingest_write_s": first["write_seconds"],
        "ingest_errors": first["errors"],
        "resync_points_written": second["points_written"],
        "resync_s": round(resync_s, 2),
    }


def load_b(now: Any) -> tuple[Any, list[Any]]:
    """1,000 instances x 6 metrics x 24 hour rows of 60 minutes, straight into storage."""
    from estate import models as m
    from metrics.catalog import INSTANCE_METRICS
    from metrics.models import SPARK_HOURS, MetricHour, Series, pack_minutes, rollup

    if connection.vendor == "postgresql":
        # TRUNCATE gives the space of part (a)'s rows back, so db_mb is part (b) alone.
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE metrics_metrichour, metrics_series")
    else:
        MetricHour.objects.all().delete()
        Series.objects.all().delete()
    m.DbInstance.objects.all().delete()
    account = m.Account.objects.create(account_id="210987654321", name="bench-b")
    instances = _instances(account, RESOURCES_B, "db")
    first_hour = now.replace(minute=0) - timedelta(hours=23)
    # The sync keeps each series' 24-hour sparkline; loading directly, we build it here.
    sparks = {
        (i, mi): pack_minutes(
            [rollup([_value(i, mi, h * 60 + k) for k in range(60)])[0] for h in range(24)],
            SPARK_HOURS,
        )
        for i in range(len(instances))
        for mi in range(len(INSTANCE_METRICS))
    }
    series = [
        Series(
            account=account,
            region="us-east-1",
            resource_arn=inst.arn,
            metric=metric,
            namespace="AWS/RDS",
            dimensions=[["DBInstanceIdentifier", inst.identifier]],
            fetched_until=now,
            last_point_at=now - timedelta(minutes=1),
            last_value=50.0,
            spark=sparks[(i, mi)],
            spark_hour=first_hour + timedelta(hours=23),
        )
        for i, inst in enumerate(instances)
        for mi, metric in enumerate(INSTANCE_METRICS)
    ]
    Series.objects.bulk_create(series, batch_size=2000)
    ids = {
        (arn, metric): pk
        for pk, arn, metric in Series.objects.values_list("id", "resource_arn", "metric")
    }
    batch: list[MetricHour] = []
    for i, inst in enumerate(instances):
        for mi, metric in enumerate(INSTANCE_METRICS):
            for h in range(24):
                values = [_value(i, mi, h * 60 + k) for k in range(60)]
                avg, mx, count = rollup(values)
                batch.append(
                    MetricHour(
                        series_id=ids[(inst.arn, metric)],
                        hour=first_hour + timedelta(hours=h),
                        minutes=pack_minutes(values),
                        avg=avg,
                        max=mx,
                        count=count,
                    )
                )
        if len(batch) >= 20_000:
            MetricHour.objects.bulk_create(batch, batch_size=5000)
            batch = []
    MetricHour.objects.bulk_create(batch, batch_size=5000)
    return account, instances


def storage_mb() -> float | None:
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE metrics_metrichour")
        cursor.execute("VACUUM ANALYZE metrics_series")
        cursor.execute(
            "SELECT pg_total_relation_size('metrics_metrichour')"
            " + pg_total_relation_size('metrics_series')"
        )
        return round(cursor.fetchone()[0] / 1024**2, 1)


def paired_ms(without: Callable[[], Any], with_: Callable[[], Any]) -> tuple[float, float]:
    """Medians of the two variants measured alternately, so that load from other
    processes on the machine hits both alike."""
    for _ in range(3):
        without()
        with_()
    a, b = [], []
    for _ in range(REPEAT * 2):
        started = time.perf_counter()
        without()
        a.append(time.perf_counter() - started)
        started = time.perf_counter()
        with_()
        b.append(time.perf_counter() - started)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def pages(instance: Any) -> dict[str, Any]:
    """Detail page with/without charts and a 100-row inventory page with/without
    sparklines. Where the template tags are already on the pages, "without" patches
    them out; where not, "with" adds what the tags cost, rendered in-process as the page
    would. The charts tag inlines the range's data (no second request)."""
    from django.template import Context, Template

    import estate.views.inventory as inventory_view
    from metrics import queries
    from metrics.templatetags import metrics_tags

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    client = Client()
    client.force_login(user)
    detail_url = reverse("instance", args=[instance.pk])

    def get(url: str, **headers: str) -> str:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
        return response.content.decode()

    page_has_charts = "data-metrics-src" in get(detail_url)
    charts_tag = Template("{% load metrics_tags %}{% metric_charts object %}")
    disabled = {"render_to_string": lambda *a, **k: "", "frame_context": lambda *a, **k: {}}

    def detail_without() -> None:
        with mock.patch.multiple(metrics_tags, **disabled):
            get(detail_url)

    def detail_with() -> None:
        get(detail_url)
        if not page_has_charts:
            charts_tag.render(Context({"object": type(instance).objects.get(pk=instance.pk)}))

    detail_without_ms, detail_with_ms = paired_ms(detail_without, detail_with)

    real_paginate = inventory_view.paginate
    list_url = reverse("inventory") + "?kind=instance"
    page_rows = [{"arn": i.arn} for i in type(instance).objects.order_by("identifier")[:100]]
    spark_tag = Template(
        "{% load metrics_tags %}{% for r in rows %}{% sparkline r rows %}{% endfor %}"
    )
    with mock.patch.object(
        inventory_view, "paginate", lambda request, qs: real_paginate(request, qs, 100)
    ):
        page_has_sparklines = 'class="sparkline' in get(list_url)

        def list_without() -> None:
            with mock.patch.object(queries, "sparklines", return_value={}):
                get(list_url)

        def list_with() -> None:
            get(list_url)
            if not page_has_sparklines:
                spark_tag.render(Context({"rows": page_rows}))

        list_without_ms, list_with_ms = paired_ms(list_without, list_with)
    return {
        "detail_ms": round(detail_with_ms, 1),
        "detail_without_ms": round(detail_without_ms, 1),
        "detail_ratio": round(detail_with_ms / detail_without_ms, 2),
        "detail_tag_in_page": page_has_charts,
        "list_ms": round(list_with_ms, 1),
        "list_without_ms": round(list_without_ms, 1),
        "list_ratio": round(list_with_ms / list_without_ms, 2),
        "list_tag_in_page": page_has_sparklines,
    }


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        now = timezone.now().replace(second=0, microsecond=0)
        # BENCH_SKIP_INGEST=1 skips part (a) (about 5 minutes) while working on (b).
        result = {} if os.environ.get("BENCH_SKIP_INGEST") == "1" else part_a(now)
        started = time.perf_counter()
        _, instances = load_b(now)
        result["load_s"] = round(time.perf_counter() - started, 1)
        result["db_mb"] = storage_mb()
        result["values_stored"] = RESOURCES_B * 6 * 24 * 60
        result.update(pages(instances[0]))
        result["database"] = connection.vendor
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
