"""CloudWatch metrics mirrored into Estate's database.

Storage: one ``MetricHour`` row per series and hour. ``minutes`` holds the hour's 60
one-minute values packed as little-endian float32 (240 bytes, NaN = no point) while the
hour is younger than 24 hours; afterwards the prune clears it and only the hour's rollup
(``avg``/``max``/``count``) stays, for 30 days. A packed blob rather than a JSON list or a
PostgreSQL array because it is the same on SQLite and PostgreSQL, decodes with one
``array.frombytes`` and is ~3x smaller than JSON (measured in ``benchmarks/metrics.py``).
float32 keeps 7 significant digits: plenty for a chart and a threshold.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import models
from django.utils import timezone

from estate.models import Account

MINUTES_PER_HOUR = 60
_NAN = float("nan")
# Blobs are little-endian float32 (the chart endpoint ships them to the browser as is).
_BIG_ENDIAN = sys.byteorder == "big"


def pack_minutes(values: Sequence[float | None], count: int = MINUTES_PER_HOUR) -> bytes:
    """``count`` values (None = no point) -> 4 bytes each (60 minutes: 240 bytes)."""
    if len(values) != count:
        raise ValueError(f"expected {count} values, got {len(values)}")
    packed = array("f", (_NAN if v is None else v for v in values))
    if packed.itemsize != 4:  # pragma: no cover - every platform Django runs on
        raise RuntimeError("float32 array items are not 4 bytes here")
    if _BIG_ENDIAN:  # pragma: no cover - stored little-endian everywhere
        packed.byteswap()
    return packed.tobytes()


def unpack_minutes(
    blob: bytes | memoryview | None, count: int = MINUTES_PER_HOUR
) -> list[float | None]:
    if blob is None:
        return [None] * count
    values = array("f")
    values.frombytes(bytes(blob))
    if _BIG_ENDIAN:  # pragma: no cover
        values.byteswap()
    return [None if math.isnan(v) else v for v in values]


SPARK_HOURS = 24


def shift_spark(
    blob: bytes | memoryview | None, old_end: datetime | None, new_end: datetime
) -> list[float | None]:
    """A sparkline's 24 hourly values re-aligned to end at ``new_end``."""
    values = unpack_minutes(blob, SPARK_HOURS) if blob is not None else [None] * SPARK_HOURS
    if old_end is None:
        return [None] * SPARK_HOURS
    hours = int((new_end - old_end).total_seconds() // 3600)
    if hours <= 0:
        return values
    return (values[hours:] + [None] * hours)[-SPARK_HOURS:]


def as_float32(value: float) -> float:
    """The value as it reads back from storage (so re-fetched points compare equal)."""
    return array("f", [value])[0]


def rollup(values: Iterable[float | None]) -> tuple[float, float, int]:
    """(avg, max, count) of the present values; (nan-free) zeros when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return 0.0, 0.0, 0
    return sum(present) / len(present), max(present), len(present)


class Series(models.Model):
    """One CloudWatch metric of one mirrored resource (see ``metrics.catalog``)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32)
    resource_arn = models.CharField(max_length=1024)
    metric = models.CharField(max_length=64)
    # The dimension that varies under the resource (a replication group's member id).
    label = models.CharField(max_length=255, blank=True, default="")
    namespace = models.CharField(max_length=64)
    # [[name, value], ...] as sent to CloudWatch; empty for series Estate derives.
    dimensions = models.JSONField(default=list, blank=True)
    # End of the last successful fetch window: the next fetch starts a few minutes
    # before it (CloudWatch fills the latest minutes late).
    fetched_until = models.DateTimeField(null=True, blank=True)
    last_point_at = models.DateTimeField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    # False once the resource vanished or stopped publishing this metric (e.g. a replica
    # was promoted): no more fetches, history kept until the prune drops it.
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The list pages' sparkline, kept by the sync: the hourly averages of the 24 hours
    # ending at ``spark_hour`` (24 packed float32, NaN = no point). One row per list row
    # instead of 24 hour rows: a page of 100 sparklines reads 100 small rows.
    spark = models.BinaryField(null=True, blank=True)
    spark_hour = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_arn", "metric", "label"], name="uniq_metric_series"
            )
        ]
        indexes = [models.Index(fields=["account", "region", "active"])]
        verbose_name_plural = "series"

    def __str__(self) -> str:
        suffix = f" [{self.label}]" if self.label else ""
        return f"{self.metric}{suffix} of {self.resource_arn}"


class MetricHour(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    minutes = models.BinaryField(null=True, blank=True)
    avg = models.FloatField()
    max = models.FloatField()
    count = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "hour"], name="uniq_metric_hour")]
        indexes = [models.Index(fields=["hour"])]

    def __str__(self) -> str:
        return f"{self.series_id} @ {self.hour:%Y-%m-%d %H:00}"

    @property
    def values(self) -> list[float | None]:
        return unpack_minutes(self.minutes)


class AccountThresholds(models.Model):
    """Per-account overrides of ``settings.METRICS_THRESHOLDS``; empty = the default."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="metric_thresholds"
    )
    replica_lag_seconds = models.FloatField(null=True, blank=True)
    global_rpo_lag_seconds = models.FloatField(null=True, blank=True)
    free_storage_percent = models.FloatField(
        null=True, blank=True, help_text="Past the threshold when free storage is below this."
    )
    cache_hit_rate_percent = models.FloatField(
        null=True, blank=True, help_text="Past the threshold when the hit rate is below this."
    )
    evictions_per_minute = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "account thresholds"

    def __str__(self) -> str:
        return f"Thresholds for {self.account_id}"

    def overrides(self) -> dict[str, float]:
        names = [
            "replica_lag_seconds",
            "global_rpo_lag_seconds",
            "free_storage_percent",
            "cache_hit_rate_percent",
            "evictions_per_minute",
        ]
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}
