"""List querysets and chart data for the drill pages (a fixed number of queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from drills.models import DrillRun, DrillSchedule, DrillType, ProbeSample, RunStatus
from estate.models import CacheReplicationGroup, DbCluster, DbInstance, GlobalCluster

REPORTED = [RunStatus.PASSED, RunStatus.SLO_BREACHED, RunStatus.FAILED]


def overdue_days() -> int:
    return int(getattr(settings, "DRILL_OVERDUE_DAYS", 90))


@dataclass
class TargetRow:
    kind: str  # "cluster" / "instance"
    row: Any
    last_run_id: int | None
    last_status: str | None
    last_at: datetime | None
    last_downtime: float | None
    overdue: bool

    @property
    def never(self) -> bool:
        return self.last_run_id is None


def _annotated(qs: Any) -> Any:
    last = DrillRun.objects.filter(
        target_arn=OuterRef("arn"), drill_type=DrillType.FAILOVER, status__in=REPORTED
    ).order_by("-created_at", "-id")
    return qs.annotate(
        last_run_id=Subquery(last.values("pk")[:1]),
        last_status=Subquery(last.values("status")[:1]),
        last_at=Subquery(last.values("created_at")[:1]),
        last_downtime=Subquery(last.values("client_downtime_seconds")[:1]),
    )


def drillable_targets(show: str = "") -> list[TargetRow]:
    """Every live target a failover drill applies to (clusters with a reader, Multi-AZ
    instances outside a cluster, global databases with a secondary, cache groups with
    automatic failover) with its last drill: four queries in all."""
    clusters = _annotated(
        DbCluster.objects.live()
        .select_related("account")
        .annotate(n=Count("instances", filter=Q(instances__gone_at__isnull=True)))
    ).filter(n__gte=2)
    instances = _annotated(
        DbInstance.objects.live()
        .select_related("account")
        .filter(multi_az=True, cluster__isnull=True)
    )
    globals_ = _annotated(GlobalCluster.objects.live().select_related("account"))
    caches = _annotated(
        CacheReplicationGroup.objects.live()
        .select_related("account")
        .filter(automatic_failover="enabled")
    )
    cutoff = timezone.now() - timedelta(days=overdue_days())
    rows: list[TargetRow] = []
    for kind, qs in (
        ("cluster", clusters),
        ("instance", instances),
        ("global", globals_),
        ("cache", caches),
    ):
        for r in qs.order_by("identifier"):
            if kind == "global" and not any(not m.get("is_writer") for m in r.members):
                continue  # no secondary region: nothing to switch over to
            rows.append(
                TargetRow(
                    kind,
                    r,
                    r.last_run_id,
                    r.last_status,
                    r.last_at,
                    r.last_downtime,
                    overdue=r.last_at is not None and r.last_at < cutoff,
                )
            )
    if show == "never":
        rows = [r for r in rows if r.never]
    elif show == "overdue":
        rows = [r for r in rows if r.overdue or r.never]
    elif show == "failed":
        rows = [r for r in rows if r.last_status in (RunStatus.FAILED, RunStatus.SLO_BREACHED)]
    return rows


def upcoming(limit: int = 20) -> list[tuple[DrillSchedule, datetime | None]]:
    schedules = DrillSchedule.objects.filter(enabled=True)
    pairs = [(s, s.next_run()) for s in schedules]
    pairs.sort(key=lambda p: p[1] or timezone.now() + timedelta(days=3650))
    return pairs[:limit]


def runs_for_target(arn: str) -> Any:
    return DrillRun.objects.filter(target_arn=arn).select_related("operation", "schedule")


def history_stats(arn: str) -> dict[str, Any]:
    counted = DrillRun.objects.filter(
        target_arn=arn, status__in=[RunStatus.PASSED, RunStatus.SLO_BREACHED]
    ).aggregate(total=Count("id"), met=Count("id", filter=Q(status=RunStatus.PASSED)))
    total = counted["total"] or 0
    return {
        "measured": total,
        "met": counted["met"] or 0,
        "compliance": (100.0 * counted["met"] / total) if total else None,
    }


def history_chart(arn: str) -> dict[str, Any]:
    """Trend of client downtime and API failover time across drills (oldest first)."""
    rows = list(
        DrillRun.objects.filter(
            target_arn=arn,
            drill_type=DrillType.FAILOVER,
            status__in=[RunStatus.PASSED, RunStatus.SLO_BREACHED],
        )
        .order_by("created_at")
        .values_list("created_at", "client_downtime_seconds", "api_failover_seconds", "slo_seconds")
    )
    return {
        "x": [r[0].timestamp() for r in rows],
        "series": [
            {"label": "Client downtime (s)", "values": [r[1] for r in rows]},
            {"label": "API failover (s)", "values": [r[2] for r in rows]},
            {"label": "SLO (s)", "values": [r[3] for r in rows]},
        ],
        "events": [],
        "unit": "s",
    }


def run_chart(run: DrillRun) -> dict[str, Any]:
    """Probe latency per endpoint on one time axis (failed samples as gaps, with a
    separate 0/1 failure series), and the AWS events / drill phases as markers."""
    samples = list(
        ProbeSample.objects.filter(run=run)
        .order_by("at")
        .values_list("endpoint", "at", "ok", "latency_ms")
    )
    labels = run.endpoint_labels() or sorted({s[0] for s in samples})
    times = sorted({round(s[1].timestamp(), 3) for s in samples})
    index = {t: i for i, t in enumerate(times)}
    series = []
    for label in labels:
        latency: list[float | None] = [None] * len(times)
        failed: list[float | None] = [None] * len(times)
        for endpoint, at, ok, ms in samples:
            if endpoint != label:
                continue
            i = index[round(at.timestamp(), 3)]
            if ok:
                latency[i] = ms
            else:
                failed[i] = 0
        series.append({"label": f"{label} latency (ms)", "values": latency})
        series.append({"label": f"{label} failed", "values": failed, "points_only": True})
    events: list[dict[str, Any]] = []
    memory = run.operation.memory if run.operation else {}
    for e in memory.get("aws_events", []):
        events.append({"t": datetime.fromisoformat(e["at"]).timestamp(), "label": e["message"]})
    for name, at in (
        ("baseline end", run.baseline_until),
        ("trigger", run.triggered_at),
        ("AWS healthy", run.aws_healthy_at),
    ):
        if at is not None:
            events.append({"t": at.timestamp(), "label": name})
    return {"x": times, "series": series, "events": events, "unit": "ms"}
