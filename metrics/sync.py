"""CloudWatch -> Estate: fetch the metrics of every live mirrored resource.

Per account and region: work out the series to fetch from the mirror (``metrics.catalog``),
ask ``GetMetricData`` for everything new since each series' last fetch (500 queries per
call, paginated with NextToken, paced by ``estate.aws``), fold the 1-minute points into
hour rows (``metrics.models``), then prune: minutes older than 24 h, rollups older than
30 days. A re-run with nothing new in CloudWatch writes nothing.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from estate import aws
from estate import models as m
from metrics import catalog
from metrics.catalog import Derived, Target
from metrics.models import (
    MINUTES_PER_HOUR,
    SPARK_HOURS,
    MetricHour,
    Series,
    as_float32,
    pack_minutes,
    rollup,
    shift_spark,
    unpack_minutes,
)

log = logging.getLogger(__name__)

SeriesKey = tuple[str, str, str]  # (resource_arn, metric, label)
Points = dict[datetime, float]  # minute -> value


def floor_minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def floor_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


@dataclass
class RegionResult:
    series: int = 0
    queries: int = 0
    api_calls: int = 0
    points_fetched: int = 0
    points_written: int = 0
    rows_created: int = 0
    rows_updated: int = 0
    deactivated: int = 0
    fetch_seconds: float = 0.0
    write_seconds: float = 0.0


@dataclass
class MetricsSyncResult:
    regions: dict[str, RegionResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    minutes_cleared: int = 0
    rollups_deleted: int = 0
    series_deleted: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        totals: dict[str, float] = defaultdict(int)
        for result in self.regions.values():
            for key, value in vars(result).items():
                totals[key] += value
        totals["fetch_seconds"] = round(totals["fetch_seconds"], 3)
        totals["write_seconds"] = round(totals["write_seconds"], 3)
        return {
            **totals,
            "scopes": len(self.regions),
            "minutes_cleared": self.minutes_cleared,
            "rollups_deleted": self.rollups_deleted,
            "series_deleted": self.series_deleted,
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 3),
        }


# --- What to fetch -------------------------------------------------------------------


def collect_targets(account: m.Account, region: str) -> tuple[list[Target], list[Derived]]:
    """Every series to fetch for the live resources of one account and region."""
    scope = {"account": account, "region": region}
    targets: list[Target] = []
    derived: list[Derived] = []
    for inst in m.DbInstance.objects.live().filter(**scope).select_related("cluster"):
        targets.extend(catalog.instance_targets(inst, inst.cluster))
    for cluster in m.DbCluster.objects.live().filter(**scope):
        targets.extend(catalog.cluster_targets(cluster))
    for proxy in m.DbProxy.objects.live().filter(**scope):
        targets.extend(catalog.proxy_targets(proxy))
    for group in m.CacheReplicationGroup.objects.live().filter(**scope):
        found, hit_rate = catalog.cache_targets(
            group.arn, catalog.cache_members(group), group.engine
        )
        targets.extend(found)
        if hit_rate:
            derived.append(hit_rate)
    standalone = m.CacheCluster.objects.live().filter(replication_group__isnull=True, **scope)
    for cache in standalone:
        found, hit_rate = catalog.cache_targets(cache.arn, [(cache.identifier, "")], cache.engine)
        targets.extend(found)
        if hit_rate:
            derived.append(hit_rate)
    tasks = m.DmsReplicationTask.objects.live().filter(replication_instance__isnull=False, **scope)
    for task in tasks.select_related("replication_instance"):
        targets.extend(catalog.dms_targets(task, task.replication_instance.identifier))
    return targets, derived


def _ensure_series(
    account: m.Account, region: str, targets: list[Target], derived: list[Derived]
) -> tuple[dict[SeriesKey, Series], int]:
    """Series rows for the targets (created when new, reactivated when back); series of
    this scope that are no longer targets are deactivated. Returns (rows, deactivated)."""
    wanted: dict[SeriesKey, tuple[str, list[list[str]]]] = {}
    for t in targets:
        wanted[(t.resource_arn, t.metric, t.label)] = (
            t.spec.namespace,
            [list(d) for d in t.dimensions],
        )
    for d in derived:
        wanted[(d.resource_arn, d.metric, "")] = (catalog.SPECS[d.metric].namespace, [])

    existing = {
        (s.resource_arn, s.metric, s.label): s
        for s in Series.objects.filter(account=account, region=region)
    }
    missing = [
        Series(
            account=account,
            region=region,
            resource_arn=key[0],
            metric=key[1],
            label=key[2],
            namespace=namespace,
            dimensions=dims,
        )
        for key, (namespace, dims) in wanted.items()
        if key not in existing
    ]
    if missing:
        # ignore_conflicts: a concurrent sync of the same scope may have just created them.
        Series.objects.bulk_create(missing, ignore_conflicts=True, batch_size=500)
        existing = {
            (s.resource_arn, s.metric, s.label): s
            for s in Series.objects.filter(account=account, region=region)
        }
    back = [s.pk for key, s in existing.items() if key in wanted and not s.active]
    if back:
        Series.objects.filter(pk__in=back).update(active=True)
    stale = [s.pk for key, s in existing.items() if key not in wanted and s.active]
    if stale:
        Series.objects.filter(pk__in=stale).update(active=False)
    return {key: s for key, s in existing.items() if key in wanted}, len(stale)


# --- Fetching ------------------------------------------------------------------------


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def fetch(
    client: Any, targets: list[Target], start: datetime, end: datetime
) -> tuple[dict[int, Points], int, int]:
    """1-minute points of ``targets`` (by index) in [start, end).

    Returns (points by target index, queries sent, points received). Sends at most
    ``METRICS_QUERIES_PER_CALL`` (AWS's limit, 500) queries per call and follows
    NextToken: AWS pages a call's answer at 100,800 datapoints, so 500 queries x 24 h of
    minutes (720,000) takes several pages.
    """
    points: dict[int, Points] = defaultdict(dict)
    received = 0
    per_call = settings.METRICS_QUERIES_PER_CALL
    for offset in range(0, len(targets), per_call):
        batch = targets[offset : offset + per_call]
        queries = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": t.spec.namespace,
                        "MetricName": t.metric,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in t.dimensions],
                    },
                    "Period": 60,
                    "Stat": t.spec.stat,
                },
                "ReturnData": True,
            }
            for i, t in enumerate(batch)
        ]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": settings.METRICS_MAX_DATAPOINTS,
        }
        while True:
            response = aws.call(client, "get_metric_data", **kwargs)
            for result in response.get("MetricDataResults", []):
                index = offset + int(result["Id"][1:])
                scale = targets[index].spec.scale
                bucket = points[index]
                for ts, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=True
                ):
                    if value is None or math.isnan(value):
                        continue
                    minute = floor_minute(ts)
                    if start <= minute < end:
                        bucket[minute] = value * scale
                        received += 1
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    return points, len(targets), received


def derive_hit_rate(d: Derived, points: dict[SeriesKey, Points]) -> Points:
    """Per minute: 100 * sum(hits) / sum(hits + misses) over the members that reported
    both; minutes without any request have no hit rate (not 0 %, not 100 %)."""
    hits: dict[datetime, float] = defaultdict(float)
    total: dict[datetime, float] = defaultdict(float)
    for h, mi in zip(d.hits, d.misses, strict=True):
        h_points = points.get((h.resource_arn, h.metric, h.label), {})
        m_points = points.get((mi.resource_arn, mi.metric, mi.label), {})
        for minute in h_points.keys() & m_points.keys():
            hits[minute] += h_points[minute]
            total[minute] += h_points[minute] + m_points[minute]
    return {minute: 100.0 * hits[minute] / t for minute, t in total.items() if t > 0}


# --- Writing -------------------------------------------------------------------------


def write_points(new_points: dict[int, Points]) -> tuple[int, int, int]:
    """Fold points (by series id) into hour rows. Only rows whose values change are
    written. Returns (points written, rows created, rows updated)."""
    by_hour: dict[tuple[int, datetime], dict[int, float]] = defaultdict(dict)
    for series_id, pts in new_points.items():
        for minute, value in pts.items():
            by_hour[(series_id, floor_hour(minute))][minute.minute] = as_float32(value)
    if not by_hour:
        return 0, 0, 0
    keys = list(by_hour)
    existing: dict[tuple[int, datetime], MetricHour] = {}
    series_ids = sorted({k[0] for k in keys})
    first_hour = min(k[1] for k in keys)
    for chunk in _chunks(series_ids, 500):
        rows = MetricHour.objects.filter(series_id__in=chunk, hour__gte=first_hour)
        for row in rows:
            existing[(row.series_id, row.hour)] = row
    to_create: list[MetricHour] = []
    to_update: list[MetricHour] = []
    written = 0
    for key, minute_values in by_hour.items():
        row = existing.get(key)
        if row is not None and row.minutes is None:
            # The hour is past minute retention; only its rollup is kept.
            continue
        values = unpack_minutes(row.minutes if row else None)
        changed = 0
        for minute, value in minute_values.items():
            if values[minute] != value:
                values[minute] = value
                changed += 1
        if not changed:
            continue
        written += changed
        avg, mx, count = rollup(values)
        if row is None:
            to_create.append(
                MetricHour(
                    series_id=key[0],
                    hour=key[1],
                    minutes=pack_minutes(values),
                    avg=avg,
                    max=mx,
                    count=count,
                )
            )
        else:
            row.minutes, row.avg, row.max, row.count = pack_minutes(values), avg, mx, count
            to_update.append(row)
    if to_create:
        # A concurrent run (the beat task beside ``manage.py sync --kind metrics``) may
        # have created the same hour meanwhile: both folded the same CloudWatch points,
        # so the later write simply wins instead of failing the run.
        MetricHour.objects.bulk_create(
            to_create,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["series", "hour"],
            update_fields=["minutes", "avg", "max", "count"],
        )
    if to_update:
        MetricHour.objects.bulk_update(to_update, ["minutes", "avg", "max", "count"], 1000)
    _update_sparks([*to_create, *to_update])
    return written, len(to_create), len(to_update)


def _update_sparks(rows: list[MetricHour]) -> None:
    """Fold changed hour rollups into their series' 24-hour sparkline."""
    changed: dict[int, dict[datetime, float | None]] = defaultdict(dict)
    for row in rows:
        changed[row.series_id][row.hour] = row.avg if row.count else None
    if not changed:
        return
    touched = []
    for chunk in _chunks(sorted(changed), 500):
        for s in Series.objects.filter(pk__in=chunk).only("id", "spark", "spark_hour"):
            hours = changed[s.pk]
            end = max([*hours, *([s.spark_hour] if s.spark_hour else [])])
            values = shift_spark(s.spark, s.spark_hour, end)
            for hour, avg in hours.items():
                slot = SPARK_HOURS - 1 - int((end - hour).total_seconds() // 3600)
                if 0 <= slot < SPARK_HOURS:
                    values[slot] = avg
            s.spark, s.spark_hour = pack_minutes(values, SPARK_HOURS), end
            touched.append(s)
    Series.objects.bulk_update(touched, ["spark", "spark_hour"], 500)


# --- One scope -----------------------------------------------------------------------


def sync_region_metrics(
    account: m.Account, region: str, *, now: datetime | None = None
) -> RegionResult:
    """Fetch and store the new points of one account and region. Raises AwsError."""
    end = floor_minute(now or timezone.now())
    horizon = end - timedelta(hours=settings.METRICS_MINUTE_RETENTION_HOURS)
    overlap = timedelta(minutes=settings.METRICS_FETCH_OVERLAP_MINUTES)
    result = RegionResult()
    targets, derived = collect_targets(account, region)
    series, result.deactivated = _ensure_series(account, region, targets, derived)
    result.series = len(series)

    # Series fetched together share a start time: after the first run that is one group.
    groups: dict[datetime, list[Target]] = defaultdict(list)
    for t in targets:
        s = series[(t.resource_arn, t.metric, t.label)]
        start = max(horizon, s.fetched_until - overlap) if s.fetched_until else horizon
        if start < end:
            groups[start].append(t)

    stats = aws.CallStats()
    fetched: dict[SeriesKey, Points] = {}
    started = time.monotonic()
    if groups:
        client = aws.client(account, region, "cloudwatch", stats=stats)
        for start, group in sorted(groups.items()):
            points, queries, received = fetch(client, group, start, end)
            result.queries += queries
            result.points_fetched += received
            for index, pts in points.items():
                t = group[index]
                fetched[(t.resource_arn, t.metric, t.label)] = pts
    result.api_calls = stats.api_calls
    result.fetch_seconds = time.monotonic() - started
    started = time.monotonic()
    for d in derived:
        fetched[(d.resource_arn, d.metric, "")] = derive_hit_rate(d, fetched)

    by_series_id = {series[key].pk: pts for key, pts in fetched.items() if pts}
    with transaction.atomic():
        result.points_written, result.rows_created, result.rows_updated = write_points(by_series_id)
        _advance_series(series, fetched, end)
    result.write_seconds = time.monotonic() - started
    return result


def _advance_series(
    series: dict[SeriesKey, Series], fetched: dict[SeriesKey, Points], end: datetime
) -> None:
    """Move each fetched series' bookkeeping forward; untouched rows are not written."""
    changed: list[Series] = []
    for key, s in series.items():
        if key not in fetched:
            continue
        dirty = s.fetched_until != end
        s.fetched_until = end
        pts = fetched[key]
        if pts:
            latest = max(pts)
            if s.last_point_at is None or latest >= s.last_point_at:
                value = as_float32(pts[latest])
                if (latest, value) != (s.last_point_at, s.last_value):
                    s.last_point_at, s.last_value = latest, value
                    dirty = True
        if dirty:
            changed.append(s)
    if changed:
        Series.objects.bulk_update(changed, ["fetched_until", "last_point_at", "last_value"], 500)


# --- Pruning -------------------------------------------------------------------------


def prune(*, now: datetime | None = None) -> tuple[int, int, int]:
    """Clear 1-minute values of hours older than 24 h, delete rollups older than 30 days
    and inactive series with no hours left. Returns (minutes cleared, rollups deleted,
    series deleted)."""
    now = now or timezone.now()
    minute_cutoff = now - timedelta(hours=settings.METRICS_MINUTE_RETENTION_HOURS)
    # An hour row keeps its minutes until its last minute is past the retention.
    cleared = MetricHour.objects.filter(
        hour__lt=minute_cutoff - timedelta(minutes=MINUTES_PER_HOUR), minutes__isnull=False
    ).update(minutes=None)
    rollup_cutoff = now - timedelta(days=settings.METRICS_ROLLUP_RETENTION_DAYS)
    deleted, _ = MetricHour.objects.filter(hour__lt=rollup_cutoff).delete()
    orphans, _ = Series.objects.filter(active=False, hours__isnull=True).delete()
    return cleared, deleted, orphans


# --- Everything ----------------------------------------------------------------------


def _scopes(
    account_ids: Iterable[str] | None, regions: Iterable[str] | None
) -> list[tuple[m.Account, str]]:
    accounts = m.Account.objects.filter(enabled=True).order_by("account_id")
    if account_ids is not None:
        accounts = accounts.filter(account_id__in=list(account_ids))
    region_filter = set(regions) if regions is not None else None
    return [
        (account, region)
        for account in accounts
        for region in account.regions
        if region_filter is None or region in region_filter
    ]


def sync_metrics(
    *,
    account_ids: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Fetch new metric points for every enabled account and region (or the given ones),
    then prune. An AWS error in one scope is recorded and the others continue.

    Returns totals: series, queries, api_calls, points_fetched, points_written,
    rows_created, rows_updated, deactivated, scopes, minutes_cleared, rollups_deleted,
    series_deleted, errors ({"<account>/<region>": message}), seconds.
    """
    started = time.monotonic()
    result = MetricsSyncResult()
    for account, region in _scopes(account_ids, regions):
        scope = f"{account.account_id}/{region}"
        try:
            result.regions[scope] = sync_region_metrics(account, region, now=now)
        except aws.AwsError as exc:
            log.warning("metrics sync of %s failed: %s", scope, exc)
            result.errors[scope] = str(exc)
    result.minutes_cleared, result.rollups_deleted, result.series_deleted = prune(now=now)
    result.seconds = time.monotonic() - started
    return result.as_dict()
