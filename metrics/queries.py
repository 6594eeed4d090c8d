"""Reading stored metrics: charts for a resource, sparklines for a page of rows, and the
resources currently past a threshold. Only Estate's database is read, never CloudWatch.

Query counts do not grow with points or rows: a resource's charts cost a fixed handful
of queries (the series, then every hour row of the range in one query); a page of
sparklines costs one query; the threshold list costs a few.
"""

from __future__ import annotations

import base64
import math
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from estate import models as m
from metrics import catalog
from metrics.catalog import HIT_RATE, SPECS
from metrics.models import (
    MINUTES_PER_HOUR,
    SPARK_HOURS,
    AccountThresholds,
    MetricHour,
    Series,
    shift_spark,
)

GIB = 1024**3

# range key -> (span, step in seconds); minute data for up to 24 h, hourly rollups beyond.
RANGES: dict[str, tuple[timedelta, int]] = {
    "1h": (timedelta(hours=1), 60),
    "24h": (timedelta(hours=24), 60),
    "7d": (timedelta(days=7), 3600),
    "30d": (timedelta(days=30), 3600),
}
RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d"}
DEFAULT_RANGE = "24h"

# URL slug <-> mirror model, for the chart endpoints.
KINDS: dict[str, type[Model]] = {
    "instance": m.DbInstance,
    "cluster": m.DbCluster,
    "global": m.GlobalCluster,
    "proxy": m.DbProxy,
    "cache-group": m.CacheReplicationGroup,
    "cache-cluster": m.CacheCluster,
    "dms-task": m.DmsReplicationTask,
}
SLUGS = {model: slug for slug, model in KINDS.items()}
# The inventory's detail pages (estate/urls.py).
DETAIL_URL_NAMES: dict[type[Model], str] = {
    m.DbInstance: "instance",
    m.DbCluster: "cluster",
    m.GlobalCluster: "global_cluster",
    m.DbProxy: "proxy",
    m.CacheReplicationGroup: "cache_group",
    m.CacheCluster: "cache_cluster",
    m.DmsReplicationTask: "dms_task",
}

# metric -> (threshold name, direction). Free storage is a percentage of the allocation.
THRESHOLD_OF: dict[str, tuple[str, str]] = {
    "ReplicaLag": ("replica_lag_seconds", "above"),
    "AuroraReplicaLag": ("replica_lag_seconds", "above"),
    "ReplicationLag": ("replica_lag_seconds", "above"),
    "AuroraGlobalDBRPOLag": ("global_rpo_lag_seconds", "above"),
    "FreeStorageSpace": ("free_storage_percent", "below"),
    HIT_RATE: ("cache_hit_rate_percent", "below"),
    "Evictions": ("evictions_per_minute", "above"),
}


# --- Thresholds ----------------------------------------------------------------------


def thresholds_for(account_id: int | None) -> dict[str, float]:
    """The settings' thresholds with the account's overrides applied (one query)."""
    values = dict(settings.METRICS_THRESHOLDS)
    if account_id is not None:
        row = AccountThresholds.objects.filter(account_id=account_id).first()
        if row is not None:
            values.update(row.overrides())
    return values


def format_value(value: float | None, unit: str) -> str:
    if value is None or math.isnan(value):
        return "–"
    if unit == "bytes":
        if abs(value) >= GIB:
            return f"{value / GIB:,.1f} GiB"
        return f"{value / 1024**2:,.0f} MiB"
    if unit == "s":
        if abs(value) < 1:
            return f"{value * 1000:,.0f} ms"
        return f"{value:,.1f} s"
    if unit == "%":
        return f"{value:,.1f} %"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.1f} {unit}"


@dataclass(frozen=True)
class LatestPoint:
    """A series' newest mirrored point, in the metric's unit."""

    metric: str
    value: float
    at: datetime
    unit: str

    @property
    def display(self) -> str:
        return format_value(self.value, self.unit)


def latest_point(resource_arn: str, metric: str, label: str = "") -> LatestPoint | None:
    """The newest point of one of a resource's series (one query), or None when none is
    mirrored: a resource page's figure of now, beside the chart of its history."""
    row = (
        Series.objects.filter(
            resource_arn=resource_arn,
            metric=metric,
            label=label,
            last_point_at__isnull=False,
            last_value__isnull=False,
        )
        .values_list("last_value", "last_point_at")
        .first()
    )
    if row is None:
        return None
    return LatestPoint(metric, row[0], row[1], SPECS[metric].unit)


# --- Chart definitions ---------------------------------------------------------------


@dataclass
class Line:
    resource_arn: str
    metric: str
    label: str  # the stored series label
    name: str  # legend

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.resource_arn, self.metric, self.label)


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    lines: list[Line] = field(default_factory=list)
    threshold: float | None = None
    direction: str = "above"
    band: tuple[float, float] | None = None  # Serverless min/max ACU
    unavailable: str = ""  # why this kind publishes no such metric

    @property
    def threshold_label(self) -> str:
        if self.threshold is None:
            return ""
        word = "above" if self.direction == "above" else "below"
        return f"threshold: {word} {format_value(self.threshold, self.unit)}"


def _chart(metric: str, lines: list[Line], thresholds: dict[str, float], **kw: Any) -> Chart:
    spec = SPECS[metric]
    chart = Chart(key=kw.pop("key", metric), title=kw.pop("title", spec.title), unit=spec.unit)
    chart.lines = lines
    if metric in THRESHOLD_OF and "threshold" not in kw:
        name, chart.direction = THRESHOLD_OF[metric]
        if metric != "FreeStorageSpace":
            chart.threshold = thresholds[name]
    for key, value in kw.items():
        setattr(chart, key, value)
    return chart


def _own(obj: Any, metric: str, thresholds: dict[str, float], **kw: Any) -> Chart:
    return _chart(metric, [Line(obj.arn, metric, "", SPECS[metric].title)], thresholds, **kw)


def _instance_charts(inst: m.DbInstance, th: dict[str, float]) -> list[Chart]:
    aurora = inst.engine.startswith("aurora")
    charts = [_own(inst, name, th) for name in catalog.AURORA_INSTANCE_METRICS]
    if aurora:
        reason = "Not published for Aurora instances: they share the cluster volume."
        charts += [
            _own(inst, name, th, unavailable=reason)
            for name in ("FreeStorageSpace", "ReadIOPS", "WriteIOPS")
        ]
        if inst.is_cluster_writer:
            charts.append(
                _own(inst, "AuroraReplicaLag", th, unavailable="The writer has no reader lag.")
            )
        else:
            charts.append(_own(inst, "AuroraReplicaLag", th))
        return charts
    storage = _own(inst, "FreeStorageSpace", th)
    if inst.allocated_storage:
        storage.threshold = th["free_storage_percent"] / 100 * inst.allocated_storage * GIB
    charts += [storage, _own(inst, "ReadIOPS", th), _own(inst, "WriteIOPS", th)]
    if inst.is_replica or (inst.cluster_id and not inst.is_cluster_writer):
        charts.append(_own(inst, "ReplicaLag", th))
    else:
        charts.append(
            _own(inst, "ReplicaLag", th, unavailable="Not a replica: no replica lag is published.")
        )
    return charts


def _cluster_charts(cluster: m.DbCluster, th: dict[str, float]) -> list[Chart]:
    readers = [i for i in cluster.instances.all() if i.gone_at is None and not i.is_cluster_writer]
    lag_metric = "AuroraReplicaLag" if cluster.is_aurora else "ReplicaLag"
    lag = _chart(
        lag_metric,
        [Line(r.arn, lag_metric, "", r.identifier) for r in readers],
        th,
        key="readers-lag",
        title="Replica lag of every reader",
    )
    if not readers:
        lag.unavailable = "The cluster has no readers."
    charts = [lag]
    if not cluster.is_aurora:
        return charts
    if cluster.is_serverless_v2:
        band = (cluster.serverless_v2_min_acu or 0.0, cluster.serverless_v2_max_acu or 0.0)
        charts.append(
            _own(cluster, "ServerlessDatabaseCapacity", th, band=band, title="Capacity (ACU)")
        )
        charts.append(_own(cluster, "ACUUtilization", th))
    if cluster.global_cluster_id and not cluster.is_global_writer:
        charts.append(_own(cluster, "AuroraGlobalDBReplicationLag", th))
        charts.append(_own(cluster, "AuroraGlobalDBRPOLag", th))
    charts.append(_own(cluster, "VolumeBytesUsed", th))
    return charts


def _global_charts(gc: m.GlobalCluster, th: dict[str, float]) -> list[Chart]:
    secondaries = [c for c in gc.clusters.all() if c.gone_at is None and not c.is_global_writer]
    charts = []
    for metric, title in (
        ("AuroraGlobalDBReplicationLag", "Replication lag by secondary region"),
        ("AuroraGlobalDBRPOLag", "RPO lag by secondary region"),
    ):
        lines = [Line(c.arn, metric, "", f"{c.region} ({c.identifier})") for c in secondaries]
        chart = _chart(metric, lines, th, title=title)
        if not secondaries:
            chart.unavailable = "The global database has no secondary region."
        charts.append(chart)
    return charts


def _cache_charts(
    arn: str, members: list[tuple[str, str]], engine: str, th: dict[str, float]
) -> list[Chart]:
    def per_member(metric: str, ids: list[str], **kw: Any) -> Chart:
        return _chart(metric, [Line(arn, metric, cid, cid) for cid in ids], th, **kw)

    ids = [cid for cid, _ in members]
    if engine == "memcached":
        reason = "Not published for Memcached."
        return [
            _chart(HIT_RATE, [], th, unavailable=reason),
            per_member("Evictions", ids),
            per_member("CurrConnections", ids),
        ]
    charts = [
        _chart(HIT_RATE, [Line(arn, HIT_RATE, "", "hit rate")], th),
        per_member("Evictions", ids),
        per_member("EngineCPUUtilization", ids),
        per_member("CurrConnections", ids),
        per_member("DatabaseMemoryUsagePercentage", ids),
    ]
    replicas = [cid for cid, role in members if role != "primary"] if len(members) > 1 else []
    lag = per_member("ReplicationLag", replicas)
    if not replicas:
        lag.unavailable = "No replicas: replication lag is published by replicas only."
    charts.append(lag)
    return charts


def _cache_cluster_charts(cache: m.CacheCluster, th: dict[str, float]) -> list[Chart]:
    group = cache.replication_group
    if group is None:
        return _cache_charts(cache.arn, [(cache.identifier, "")], cache.engine, th)
    # A member: its own lines are stored on the group, labelled with its id.
    role = dict(catalog.cache_members(group)).get(cache.identifier, cache.role)
    charts = _cache_charts(group.arn, [(cache.identifier, role)], group.engine, th)
    charts[0].title = f"Hit rate of {group.identifier}"
    lag = charts[-1]
    if role == "primary":
        lag.unavailable = "A primary publishes no replication lag."
    else:
        lag.lines = [Line(group.arn, "ReplicationLag", cache.identifier, cache.identifier)]
        lag.unavailable = ""
    return charts


def _dms_charts(task: m.DmsReplicationTask, th: dict[str, float]) -> list[Chart]:
    reason = "" if task.replication_instance_id else "The task has no replication instance."
    return [_own(task, name, th, unavailable=reason) for name in catalog.DMS_METRICS]


def charts_for(obj: Any, thresholds: dict[str, float] | None = None) -> list[Chart]:
    """The charts of a mirrored row's detail page (reads related rows: 1-2 queries)."""
    th = thresholds if thresholds is not None else thresholds_for(obj.account_id)
    if isinstance(obj, m.DbInstance):
        return _instance_charts(obj, th)
    if isinstance(obj, m.DbCluster):
        return _cluster_charts(obj, th)
    if isinstance(obj, m.GlobalCluster):
        return _global_charts(obj, th)
    if isinstance(obj, m.DbProxy):
        return [_own(obj, name, th) for name in catalog.PROXY_METRICS]
    if isinstance(obj, m.CacheReplicationGroup):
        return _cache_charts(obj.arn, catalog.cache_members(obj), obj.engine, th)
    if isinstance(obj, m.CacheCluster):
        return _cache_cluster_charts(obj, th)
    if isinstance(obj, m.DmsReplicationTask):
        return _dms_charts(obj, th)
    raise TypeError(f"no metric charts for {type(obj).__name__}")


# --- Chart data ----------------------------------------------------------------------


def _grid(range_key: str, now: datetime) -> tuple[datetime, datetime, int, int]:
    """(first slot, last slot, number of slots, step in seconds) of a range ending now."""
    span, step = RANGES[range_key]
    if step == 60:
        last = now.replace(second=0, microsecond=0) - timedelta(minutes=1)
    else:
        last = now.replace(minute=0, second=0, microsecond=0)
    size = int(span.total_seconds() // step)
    return last - timedelta(seconds=step * (size - 1)), last, size, step


_NAN32 = struct.pack("<f", math.nan)


def _f32(value: float) -> bytes:
    return struct.pack("<f", value)


def decode_line(text: str) -> list[float | None]:
    """One chart line of ``chart_data`` as numbers (None = no point)."""
    raw = base64.b64decode(text)
    return [None if math.isnan(v) else v for v in struct.unpack(f"<{len(raw) // 4}f", raw)]


def chart_data(
    obj: Any,
    range_key: str = DEFAULT_RANGE,
    *,
    now: datetime | None = None,
    charts: list[Chart] | None = None,
) -> dict:
    """Everything the chart script draws for ``obj`` over a range, as JSON-ready data:
    ``{"range", "start", "step", "points", "charts": [{"key", "title", "unit",
    "threshold", "direction", "band", "series": [names], "data": [base64 per name],
    "empty"}]}``: slot i is at ``start + i * step`` (epoch seconds); each data string is
    ``points`` little-endian float32 values, NaN = no point (``decode_line`` reads one).

    1 h and 24 h use the 1-minute values; 7 d and 30 d the hourly rollups (avg, plus max
    on single-line charts). Queries: thresholds and related rows (unless ``charts`` is
    given), series, hour rows.
    """
    if range_key not in RANGES:
        raise ValueError(f"unknown range {range_key!r}: use one of {', '.join(RANGES)}")
    now = now or timezone.now()
    charts = charts if charts is not None else charts_for(obj)
    first, last, size, step = _grid(range_key, now)
    keys = {line.key for chart in charts for line in chart.lines}
    series: dict[tuple[str, str, str], Series] = {}
    if keys:
        arns = {k[0] for k in keys}
        metrics = {k[1] for k in keys}
        for s in Series.objects.filter(resource_arn__in=arns, metric__in=metrics).only(
            "id", "resource_arn", "metric", "label"
        ):
            key = (s.resource_arn, s.metric, s.label)
            if key in keys:
                series[key] = s
    # Each line travels as base64 of little-endian float32 values aligned on the grid
    # (NaN = no point): the stored hour blobs are copied slice by slice, so the server
    # does no per-point work and the JSON stays small (24 h of one line: 7.7 kB).
    blank = _NAN32 * size
    buffers: dict[int, bytearray] = {}
    peaks: dict[int, bytearray] = {}
    if series:
        rows = MetricHour.objects.filter(
            series_id__in=[s.pk for s in series.values()],
            hour__gte=first.replace(minute=0),
            hour__lte=last,
        )
        x0 = int(first.timestamp())
        if step == 60:
            for sid, hour, blob in rows.values_list("series_id", "hour", "minutes"):
                if blob is None:
                    continue
                at = (int(hour.timestamp()) - x0) // 60
                lo, hi = max(0, -at), min(MINUTES_PER_HOUR, size - at)
                if lo < hi:
                    buf = buffers.setdefault(sid, bytearray(blank))
                    buf[(at + lo) * 4 : (at + hi) * 4] = bytes(blob)[lo * 4 : hi * 4]
        else:
            for sid, hour, avg, mx, count in rows.values_list(
                "series_id", "hour", "avg", "max", "count"
            ):
                at = (int(hour.timestamp()) - x0) // 3600
                if count and 0 <= at < size:
                    buffers.setdefault(sid, bytearray(blank))[at * 4 : at * 4 + 4] = _f32(avg)
                    peaks.setdefault(sid, bytearray(blank))[at * 4 : at * 4 + 4] = _f32(mx)
    blank_text = base64.b64encode(blank).decode()
    span_label = RANGE_LABELS[range_key]
    out = []
    for chart in charts:
        names: list[str] = []
        data: list[str] = []
        any_point = False
        for line in chart.lines:
            s = series.get(line.key)
            buf = buffers.get(s.pk) if s else None
            any_point = any_point or (buf is not None and buf != blank)
            names.append(line.name if len(chart.lines) > 1 or step == 60 else f"{line.name} (avg)")
            data.append(base64.b64encode(buf).decode() if buf is not None else blank_text)
            if step != 60 and len(chart.lines) == 1 and s:
                names.append(f"{line.name} (max)")
                peak = peaks.get(s.pk)
                data.append(base64.b64encode(peak).decode() if peak is not None else blank_text)
        empty = ""
        if chart.unavailable:
            empty = chart.unavailable
        elif not any(line.key in series for line in chart.lines):
            empty = (
                "No points yet: Estate has not fetched this metric "
                "(the metrics sync runs every few minutes)."
            )
        elif not any_point:
            empty = f"No points in the last {span_label}: CloudWatch returned none."
        out.append(
            {
                "key": chart.key,
                "title": chart.title,
                "unit": chart.unit,
                "threshold": chart.threshold,
                "direction": chart.direction,
                "band": list(chart.band) if chart.band else None,
                "series": names,
                "data": data if not empty else [],
                "empty": empty,
            }
        )
    return {
        "range": range_key,
        "start": int(first.timestamp()),
        "step": step,
        "points": size,
        "charts": out,
    }


# --- Sparklines ----------------------------------------------------------------------


# The metric a list shows for a row, best first: lag for replicas (a writer has no lag
# series), ACU for Serverless, hit rate for caches, then the kind's busiest signal.
HEADLINE_PRIORITY = [
    "ReplicaLag",
    "AuroraReplicaLag",
    "AuroraGlobalDBReplicationLag",
    "ServerlessDatabaseCapacity",
    HIT_RATE,
    "CDCLatencyTarget",
    "ClientConnections",
    "CPUUtilization",
    "VolumeBytesUsed",
]


def _arn_of(row: Any) -> str:
    return row["arn"] if isinstance(row, dict) else row.arn


@dataclass
class Sparkline:
    metric: str
    unit: str
    values: list[float | None]  # hourly averages, oldest first

    @property
    def latest(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)

    @property
    def title(self) -> str:
        return f"{SPECS[self.metric].title}, last 24 h: {format_value(self.latest, self.unit)}"


def sparklines(rows: Iterable[Any], *, now: datetime | None = None) -> dict[str, Sparkline]:
    """Per row ARN, the headline metric's hourly averages over the last 24 h, for a
    whole page of rows (model instances or the inventory's dicts with "arn") in one
    query of the series' precomputed sparklines. Rows without any headline data in the
    last 24 h are left out."""
    now = now or timezone.now()
    arns = {_arn_of(row) for row in rows}
    if not arns:
        return {}
    end = now.replace(minute=0, second=0, microsecond=0)
    found: dict[str, dict[str, list[float | None]]] = defaultdict(dict)
    candidates = Series.objects.filter(
        resource_arn__in=arns,
        metric__in=HEADLINE_PRIORITY,
        label="",
        spark_hour__gt=end - timedelta(hours=SPARK_HOURS),
    ).values_list("resource_arn", "metric", "spark", "spark_hour")
    for arn, metric, blob, spark_hour in candidates:
        values = shift_spark(blob, spark_hour, end)
        if any(v is not None for v in values):
            found[arn][metric] = values
    result = {}
    for arn, by_metric in found.items():
        metric = next(name for name in HEADLINE_PRIORITY if name in by_metric)
        result[arn] = Sparkline(metric, SPECS[metric].unit, by_metric[metric])
    return result


# --- Past a threshold ----------------------------------------------------------------


@dataclass
class Breach:
    resource_arn: str
    metric: str
    label: str
    value: float
    threshold: float
    direction: str
    unit: str
    severity: float  # how far past: value/threshold (above) or threshold/value (below)
    account_id: int
    region: str
    obj: Any = None  # the mirrored row, set by past_threshold()

    @property
    def title(self) -> str:
        title = SPECS[self.metric].title
        return f"{title} ({self.label})" if self.label else title

    @property
    def value_display(self) -> str:
        return format_value(self.value, self.unit)

    @property
    def url(self) -> str:
        """The row's detail page ('' when the page does not exist)."""
        name = DETAIL_URL_NAMES.get(type(self.obj))
        if name is None:
            return ""
        try:
            return reverse(name, args=[self.obj.pk])
        except NoReverseMatch:
            return ""

    @property
    def threshold_display(self) -> str:
        return format_value(self.threshold, self.unit)


def _breaches(now: datetime | None = None) -> list[Breach]:
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.METRICS_CURRENT_MINUTES)
    current = list(
        Series.objects.filter(
            active=True, metric__in=list(THRESHOLD_OF), last_point_at__gte=cutoff
        ).values_list("resource_arn", "metric", "label", "last_value", "account_id", "region")
    )
    if not current:
        return []
    overrides = {
        row.account_id: row.overrides()
        for row in AccountThresholds.objects.filter(account_id__in={c[4] for c in current})
    }
    storage_arns = {c[0] for c in current if c[1] == "FreeStorageSpace"}
    allocated = dict(
        m.DbInstance.objects.filter(arn__in=storage_arns).values_list("arn", "allocated_storage")
        if storage_arns
        else []
    )
    breaches = []
    for arn, metric, label, value, account_id, region in current:
        if value is None:
            continue
        name, direction = THRESHOLD_OF[metric]
        threshold = {**settings.METRICS_THRESHOLDS, **overrides.get(account_id, {})}[name]
        unit = SPECS[metric].unit
        if metric == "FreeStorageSpace":
            if not allocated.get(arn):
                continue
            value = 100.0 * value / (allocated[arn] * GIB)
            unit = "%"
        if direction == "above" and value > threshold:
            severity = value / threshold if threshold else math.inf
        elif direction == "below" and value < threshold:
            severity = threshold / value if value > 0 else math.inf
        else:
            continue
        breaches.append(
            Breach(
                arn, metric, label, value, threshold, direction, unit, severity, account_id, region
            )
        )
    breaches.sort(key=lambda b: (-b.severity, b.resource_arn, b.metric, b.label))
    # One line per resource and metric: a group's members collapse into its worst one.
    seen: set[tuple[str, str]] = set()
    worst = []
    for b in breaches:
        if (b.resource_arn, b.metric) not in seen:
            seen.add((b.resource_arn, b.metric))
            worst.append(b)
    return worst


def past_threshold(limit: int | None = 20, *, now: datetime | None = None) -> list[Breach]:
    """Resources currently past a threshold (latest point younger than
    METRICS_CURRENT_MINUTES), worst first, each with its mirrored row in ``obj``.
    A resource appears once per metric past its threshold (a replication group with
    its worst member). Gone rows are left out. Queries: 3 plus one per kind present."""
    breaches = _breaches(now)
    by_arn: dict[str, Any] = {}
    arns = {b.resource_arn for b in breaches}
    for model in KINDS.values():
        if not arns - by_arn.keys():
            break
        for obj in (
            model.objects.live().filter(arn__in=arns - by_arn.keys()).select_related("account")
        ):
            by_arn[obj.arn] = obj
    result = []
    for b in breaches:
        b.obj = by_arn.get(b.resource_arn)
        if b.obj is not None:
            result.append(b)
    return result[:limit] if limit is not None else result


def arns_past_threshold(*, now: datetime | None = None) -> set[str]:
    """ARNs of resources past a threshold, for the inventory's filter: the resource
    itself, for an instance also its cluster (a lagging reader flags the cluster), and
    for a global secondary also its global database. At most 3 queries."""
    arns = {b.resource_arn for b in _breaches(now)}
    if arns:
        arns |= set(
            m.DbInstance.objects.filter(arn__in=arns, cluster__isnull=False).values_list(
                "cluster__arn", flat=True
            )
        )
        arns |= set(
            m.DbCluster.objects.filter(arn__in=arns, global_cluster__isnull=False).values_list(
                "global_cluster__arn", flat=True
            )
        )
    return arns
