"""CloudWatch in the sandbox: plausible metric series for the demo estate, and a
``GetMetricData`` that can carry them.

* ``install_cloudwatch_speedups()`` replaces moto's ``GetMetricData`` (it rescans every
  stored point for every query and every period: hours for one demo-sized call) with an
  indexed one that also honours ``MaxDatapoints``/``NextToken`` like AWS (moto ignores
  both). Call it in the process that runs the moto server before the first request.
* ``publish_demo_metrics(endpoint_url, now)`` publishes 1-minute points for every live
  resource Estate has mirrored (the same namespaces and dimensions ``metrics.catalog``
  asks for): daily cycles, one lagging replica, Serverless clusters scaling between
  their min and max ACU, one cache whose hit rate falls, a global secondary's lags.
* ``DemoPublisher`` keeps publishing once a minute in a thread while the demo runs.

Values are deterministic functions of (resource, metric, minute): re-publishing a minute
publishes the same value.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

log = logging.getLogger(__name__)

_installed = False
_SANDBOX_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# --- GetMetricData for the sandbox ---------------------------------------------------


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo else ts


class _Index:
    """Points per (namespace, name, dimensions), sorted by time, built incrementally
    from moto's append-only ``metric_data`` list."""

    def __init__(self) -> None:
        self.seen = 0
        self.series: dict[tuple, tuple[list[datetime], list[Any]]] = defaultdict(lambda: ([], []))

    def update(self, data: list[Any]) -> None:
        for datum in data[self.seen :]:
            key = (
                datum.namespace,
                datum.name,
                tuple(sorted((d.name, d.value) for d in datum.dimensions)),
            )
            times, items = self.series[key]
            ts = _naive_utc(datum.timestamp)
            at = bisect.bisect_right(times, ts)
            times.insert(at, ts)
            items.insert(at, datum)
        self.seen = len(data)


def _stat(items: list[Any], stat: str) -> float:
    total = count = 0.0
    low, high = math.inf, -math.inf
    for d in items:
        if hasattr(d, "value"):
            v = float(d.value)
            total, count, low, high = total + v, count + 1, min(low, v), max(high, v)
        else:  # StatisticValues
            total += float(d.sum_stat)
            count += float(d.sample_count)
            low, high = min(low, float(d.min_stat)), max(high, float(d.max_stat))
    if stat == "Sum":
        return total
    if stat == "SampleCount":
        return count
    if stat == "Minimum":
        return low
    if stat == "Maximum":
        return high
    return total / count if count else 0.0


def _query_points(index: _Index, query: dict, start: datetime, end: datetime) -> list:
    stat = query["MetricStat"]
    metric = stat["Metric"]
    key = (
        metric["Namespace"],
        metric["MetricName"],
        tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions") or [])),
    )
    times, items = index.series.get(key, ([], []))
    lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
    period = int(stat["Period"])
    buckets: dict[datetime, list[Any]] = defaultdict(list)
    for ts, item in zip(times[lo:hi], items[lo:hi], strict=True):
        offset = int((ts - start).total_seconds()) // period * period
        buckets[start + timedelta(seconds=offset)].append(item)
    return [(ts, _stat(buckets[ts], stat["Stat"])) for ts in sorted(buckets)]


def install_cloudwatch_speedups() -> None:
    """Patch moto's CloudWatch GetMetricData (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    original = CloudWatchResponse.get_metric_data

    def get_metric_data(self: Any) -> Any:
        params = self._get_params()
        queries = params.get("MetricDataQueries", [])
        if not queries or any("MetricStat" not in q for q in queries):
            return original(self)  # metric math / insights: moto's own (slow) path
        backend = self.cloudwatch_backend
        index = backend.__dict__.setdefault("_estate_metric_index", _Index())
        index.update(backend.metric_data)
        start, end = _naive_utc(params["StartTime"]), _naive_utc(params["EndTime"])
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        budget = int(params.get("MaxDatapoints") or 100_800)
        first_query, first_point = 0, 0
        if params.get("NextToken"):
            first_query, first_point = (int(x) for x in params["NextToken"].split(":"))
        results, token = [], None
        for qi in range(first_query, len(queries)):
            query = queries[qi]
            points = _query_points(index, query, start, end)
            if descending:
                points.reverse()
            skip = first_point if qi == first_query else 0
            page = points[skip : skip + budget]
            budget -= len(page)
            more = skip + len(page) < len(points)
            if query.get("ReturnData", True):
                results.append(
                    {
                        "Id": query["Id"],
                        "Label": query.get("Label") or query["MetricStat"]["Metric"]["MetricName"],
                        "Timestamps": [ts for ts, _ in page],
                        "Values": [v for _, v in page],
                        "StatusCode": "PartialData" if more else "Complete",
                    }
                )
            if more:
                token = f"{qi}:{skip + len(page)}"
                break
            if budget <= 0 and qi + 1 < len(queries):
                token = f"{qi + 1}:0"
                break
        body: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if token:
            body["NextToken"] = token
        return ActionResult(body)

    CloudWatchResponse.get_metric_data = get_metric_data
    _installed = True


# --- Plausible values ----------------------------------------------------------------

_GIB = 1024**3


def _unit_noise(*parts: object) -> float:
    """A deterministic pseudo-random number in [0, 1) for these parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _daily(ts: datetime, seed: str, low: float, high: float) -> float:
    """A daily cycle peaking mid-afternoon UTC, with a little noise."""
    hours = ts.hour + ts.minute / 60
    phase = (_unit_noise(seed) - 0.5) * 3  # resources peak at slightly different hours
    cycle = 0.5 + 0.5 * math.sin(2 * math.pi * (hours - 9 - phase) / 24)
    noise = (_unit_noise(seed, ts) - 0.5) * 0.15
    return low + (high - low) * min(1.0, max(0.0, cycle + noise))


def demo_value(target: Any, ts: datetime, profile: dict[str, Any]) -> float | None:
    """The value (in CloudWatch's unit) of one target at one minute; None = no point."""
    name, seed = target.metric, f"{target.resource_arn}|{target.label}"
    minutes = int(ts.timestamp() // 60)
    if name == "CPUUtilization" or name == "EngineCPUUtilization":
        return _daily(ts, seed, 8, 65)
    if name in ("DatabaseConnections", "CurrConnections"):
        return round(_daily(ts, seed, 20, 180))
    if name == "ClientConnections":
        return round(_daily(ts, seed, 80, 420))
    if name == "FreeableMemory":
        return _daily(ts, seed, 1.5 * _GIB, 3.5 * _GIB)
    if name == "FreeStorageSpace":
        allocated = (profile.get("allocated_gib") or 100) * _GIB
        free_share = 0.06 if profile.get("low_storage") else 0.55
        return allocated * (free_share - 0.01 * (minutes % 1440) / 1440)
    if name in ("ReadIOPS", "WriteIOPS"):
        return _daily(ts, seed + name, 50, 900)
    if name in ("ReplicaLag", "ReplicationLag"):
        if profile.get("lagging"):
            # Falls behind for 20 minutes every half hour, catches up in between.
            cycle = minutes % 30
            return 5.0 + (cycle * 9.0 if cycle < 20 else (30 - cycle) * 18.0)
        return _daily(ts, seed, 0, 2)
    if name == "AuroraReplicaLag":
        if profile.get("lagging"):
            return 35_000 + 55_000 * _unit_noise(seed, ts)  # ms: 35-90 s
        return _daily(ts, seed, 8, 40)
    if name == "ServerlessDatabaseCapacity":
        return _daily(ts, seed, profile.get("min_acu", 0.5), profile.get("max_acu", 16))
    if name == "ACUUtilization":
        cap = _daily(ts, seed, profile.get("min_acu", 0.5), profile.get("max_acu", 16))
        return 100.0 * cap / profile.get("max_acu", 16)
    if name == "AuroraGlobalDBReplicationLag":
        return _daily(ts, seed, 300, 1_400)  # ms
    if name == "AuroraGlobalDBRPOLag":
        return _daily(ts, seed, 600, 2_800)  # ms
    if name == "VolumeBytesUsed":
        return (40 + 0.002 * (minutes % 100_000)) * _GIB
    if name == "QueryDatabaseResponseLatency":
        return _daily(ts, seed, 700, 3_500)  # microseconds
    if name in ("CacheHits", "CacheMisses"):
        requests = _daily(ts, seed, 2_000, 12_000)
        if profile.get("falling_hit_rate"):
            # Falls from 97 % to 60 % over twelve hours, then the cache is "fixed".
            rate = 0.97 - 0.37 * (minutes % 720) / 720
        else:
            rate = 0.93 + 0.05 * _unit_noise(seed, "rate")
        return round(requests * (rate if name == "CacheHits" else 1 - rate))
    if name == "Evictions":
        if profile.get("falling_hit_rate"):
            return round(40 + 200 * (minutes % 720) / 720)
        return round(_daily(ts, seed, 0, 10))
    if name == "DatabaseMemoryUsagePercentage":
        return _daily(ts, seed, 35, 80)
    if name == "CDCLatencySource":
        return _daily(ts, seed, 1, 6)
    if name == "CDCLatencyTarget":
        return _daily(ts, seed, 2, 12)
    if name == "FullLoadThroughputRowsTarget":
        return _daily(ts, seed, 200, 2_500)
    return None


# --- Publishing ----------------------------------------------------------------------


def _profiles(targets: list[Any]) -> dict[str, dict[str, Any]]:
    """Per resource ARN: what makes its series special in the demo."""
    from estate import models as m

    arns = {t.resource_arn for t in targets}
    profiles: dict[str, dict[str, Any]] = defaultdict(dict)
    lagging_done = False
    instances = m.DbInstance.objects.filter(arn__in=arns).order_by("identifier")
    for inst in instances:
        profiles[inst.arn]["allocated_gib"] = inst.allocated_storage
        replica = inst.is_replica or (inst.cluster_id is not None and not inst.is_cluster_writer)
        if replica and not lagging_done:
            profiles[inst.arn]["lagging"] = True
            lagging_done = True
    storage_candidates = [i for i in instances if not i.engine.startswith("aurora")]
    if storage_candidates:
        profiles[storage_candidates[-1].arn]["low_storage"] = True
    for cluster in m.DbCluster.objects.filter(arn__in=arns, serverless_v2_max_acu__isnull=False):
        profiles[cluster.arn]["min_acu"] = cluster.serverless_v2_min_acu or 0.5
        profiles[cluster.arn]["max_acu"] = cluster.serverless_v2_max_acu
    caches = sorted({t.resource_arn for t in targets if t.metric == "CacheHits"})
    if caches:
        profiles[caches[0]]["falling_hit_rate"] = True
    return profiles


def _cloudwatch(endpoint_url: str, account: Any, region: str) -> Any:
    session = boto3.Session(**_SANDBOX_CREDENTIALS)
    if account.role_arn:
        sts = session.client("sts", region_name="us-east-1", endpoint_url=endpoint_url)
        creds = sts.assume_role(RoleArn=account.role_arn, RoleSessionName="estate-demo-metrics")[
            "Credentials"
        ]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    return session.client("cloudwatch", region_name=region, endpoint_url=endpoint_url)


def publish_demo_metrics(endpoint_url: str, now: datetime, *, since: datetime | None = None) -> int:
    """Publish 1-minute points in (since, now] for every live mirrored resource of every
    enabled account (default ``since``: three hours ago, enough for the charts to show a
    shape without moto holding hundreds of thousands of points). Returns points sent.

    Reads the mirror (Estate's database), so run it after the inventory sync.
    """
    from estate import models as m
    from metrics.sync import collect_targets, floor_minute

    install_cloudwatch_speedups()
    end = floor_minute(now)
    start = floor_minute(since) if since else end - timedelta(hours=3)
    count = int((end - start) / timedelta(minutes=1))
    minutes = [start + timedelta(minutes=i) for i in range(1, count + 1)]
    scopes = [
        (account, region, collect_targets(account, region)[0])
        for account in m.Account.objects.filter(enabled=True).order_by("account_id")
        for region in account.regions
    ]
    # One lagging replica, one low-storage instance, one struggling cache in the whole
    # demo, not one per account and region.
    profiles = _profiles([t for _, _, targets in scopes for t in targets])
    sent = 0
    for account, region, targets in scopes:
        if not targets:
            continue
        by_namespace: dict[str, list[dict]] = defaultdict(list)
        for t in targets:
            for ts in minutes:
                value = demo_value(t, ts, profiles.get(t.resource_arn, {}))
                if value is None:
                    continue
                by_namespace[t.spec.namespace].append(
                    {
                        "MetricName": t.metric,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in t.dimensions],
                        "Timestamp": ts,
                        "Value": float(value),
                    }
                )
        client = _cloudwatch(endpoint_url, account, region)
        for namespace, data in by_namespace.items():
            # PutMetricData takes up to 1,000 metrics per request.
            for i in range(0, len(data), 1000):
                client.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])
                sent += len(data[i : i + 1000])
    return sent


class DemoPublisher:
    """Keeps publishing the demo's metrics once a minute until ``stop()``.

    Start it in the sandbox's process (``manage.py sandbox``), after
    ``install_cloudwatch_speedups()``: ``DemoPublisher(server.url).start()``.
    """

    def __init__(self, endpoint_url: str, interval: float = 60.0) -> None:
        self.endpoint_url = endpoint_url
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-metrics", daemon=True)
        self.last: datetime | None = None

    def start(self) -> DemoPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self, now: datetime) -> int:
        """One round: publish the minutes since the last round that published (the
        first that finds resources backfills three hours). Returns points sent."""
        sent = publish_demo_metrics(self.endpoint_url, now, since=self.last)
        # Until the inventory sync has mirrored the estate there is nothing to publish.
        if sent:
            self.last = now
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick(datetime.now(UTC))
            except Exception:  # the demo keeps running; the next round retries
                log.exception("publishing demo metrics failed")
            self._stop.wait(self.interval)  # wakes at once on stop()
