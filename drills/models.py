"""Drills: failover and restore drill runs with their probe samples and reports,
schedules (backed by django-celery-beat: ``drills.signals`` keeps the beat rows in step),
and backup policies per environment."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone as tz_utils

from estate.models import Environment


class DrillType(models.TextChoices):
    FAILOVER = "failover", "Failover drill"
    RESTORE = "restore", "Restore drill"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    PASSED = "passed", "Passed"
    SLO_BREACHED = "slo_breached", "SLO breached"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


FINAL_STATUSES = frozenset(
    {
        RunStatus.PASSED,
        RunStatus.SLO_BREACHED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.SKIPPED,
    }
)


def validate_cron(value: str) -> None:
    fields = value.split()
    if len(fields) != 5:
        raise ValidationError(
            "A cron expression has five fields: minute hour day-of-month month day-of-week "
            f"(got {len(fields)})."
        )
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValidationError(f"{value!r} is not a valid cron expression.")


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone {value!r}.") from exc


class DrillSchedule(models.Model):
    name = models.CharField(max_length=100)
    drill_type = models.CharField(
        max_length=16, choices=DrillType.choices, default=DrillType.FAILOVER
    )
    # The mirrored target, by ARN (sync owns the rows; the ARN survives a resync).
    target_arn = models.CharField(max_length=1024, db_index=True)
    target_label = models.CharField(max_length=255, blank=True)
    # Drill parameters (the drill kind's form fields, e.g. target_instance).
    options = models.JSONField(default=dict, blank=True)
    cron = models.CharField(
        max_length=100,
        validators=[validate_cron],
        help_text="minute hour day-of-month month day-of-week, e.g. 0 3 * * 2",
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Drills may only start inside this local-time window (empty = any time).
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    blackout_dates = models.JSONField(
        default=list, blank=True, help_text='Local dates with no drills: ["2026-12-24", ...]'
    )
    slo_seconds = models.FloatField(default=35.0, help_text="Maximum client downtime.")
    # Probe settings: endpoints as probe options (host/port/kind/label/dsn_env/...).
    probe_endpoints = models.JSONField(default=list, blank=True)
    probe_interval_ms = models.PositiveIntegerField(default=200)
    webhook_url = models.URLField(blank=True, max_length=1000)
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=tz_utils.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.target_label or self.target_arn})"

    def get_absolute_url(self) -> str:
        return reverse("drills:schedule_edit", args=[self.pk])

    def clean(self) -> None:
        if (self.window_start is None) != (self.window_end is None):
            raise ValidationError("Give both ends of the allowed window, or neither.")
        if not isinstance(self.blackout_dates, list):
            raise ValidationError({"blackout_dates": "A list of dates (YYYY-MM-DD)."})
        for value in self.blackout_dates:
            try:
                date.fromisoformat(str(value))
            except ValueError as exc:
                raise ValidationError({"blackout_dates": f"{value!r} is not YYYY-MM-DD."}) from exc
        if self.slo_seconds <= 0:
            raise ValidationError({"slo_seconds": "The SLO must be a positive number of seconds."})
        if not 50 <= self.probe_interval_ms <= 10_000:
            raise ValidationError({"probe_interval_ms": "Between 50 and 10000 ms."})

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def next_run(self, now: datetime | None = None) -> datetime | None:
        """The next time cron fires (aware, in the schedule's zone)."""
        if not self.enabled:
            return None
        from croniter import croniter

        now = (now or tz_utils.now()).astimezone(self.tz)
        return croniter(self.cron, now).get_next(datetime)

    def window_refusal(self, at: datetime | None = None) -> str:
        """Why a drill may not start at ``at`` (empty: it may)."""
        local = (at or tz_utils.now()).astimezone(self.tz)
        if local.date().isoformat() in {str(d) for d in self.blackout_dates}:
            return f"{local.date().isoformat()} is a blackout date."
        if self.window_start is not None and self.window_end is not None:
            t = local.time().replace(tzinfo=None)
            start, end = self.window_start, self.window_end
            inside = start <= t < end if start <= end else (t >= start or t < end)
            if not inside:
                return (
                    f"{local:%H:%M} {self.timezone} is outside the allowed window "
                    f"{start:%H:%M}-{end:%H:%M}."
                )
        return ""


class DrillRun(models.Model):
    """One drill: its operation (none when the scheduled run was skipped), the
    preflight results, and the report."""

    drill_type = models.CharField(max_length=16, choices=DrillType.choices)
    operation = models.OneToOneField(
        "operations.Operation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drill_run",
    )
    schedule = models.ForeignKey(
        DrillSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    target_arn = models.CharField(max_length=1024, db_index=True)
    target_label = models.CharField(max_length=255, blank=True)
    wrapped_kind = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING, db_index=True
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=tz_utils.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    slo_seconds = models.FloatField(null=True, blank=True)
    # Probe settings for this run (no credentials: only the *names* of env vars/ARNs).
    probe_endpoints = models.JSONField(default=list, blank=True)
    probe_interval_ms = models.PositiveIntegerField(default=200)
    probe_stop = models.BooleanField(default=False)
    probes_finished = models.JSONField(default=list, blank=True)  # labels done sampling
    preflight = models.JSONField(default=list, blank=True)  # [{check, ok, detail}]
    baseline_until = models.DateTimeField(null=True, blank=True)
    triggered_at = models.DateTimeField(null=True, blank=True)
    aws_healthy_at = models.DateTimeField(null=True, blank=True)
    # Report
    api_failover_seconds = models.FloatField(null=True, blank=True)
    client_downtime_seconds = models.FloatField(null=True, blank=True)
    failed_samples = models.PositiveIntegerField(null=True, blank=True)
    max_latency_ms = models.FloatField(null=True, blank=True)
    writer_before = models.CharField(max_length=255, blank=True)
    writer_after = models.CharField(max_length=255, blank=True)
    slo_met = models.BooleanField(null=True, blank=True)
    endpoints_report = models.JSONField(default=dict, blank=True)  # label -> summary
    # Restore drills
    restore_seconds = models.FloatField(null=True, blank=True)
    temp_identifier = models.CharField(max_length=255, blank=True)
    cleaned_up = models.BooleanField(null=True, blank=True)
    notified = models.JSONField(default=list, blank=True)  # webhook deliveries

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["target_arn", "-created_at"], name="drillrun_target_recent")
        ]

    def __str__(self) -> str:
        return f"{self.get_drill_type_display()} {self.target_label} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("drills:run", args=[self.pk])

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def counts_for_slo(self) -> bool:
        return self.status in (RunStatus.PASSED, RunStatus.SLO_BREACHED)

    def endpoint_labels(self) -> list[str]:
        return [str(e.get("label", "direct")) for e in self.probe_endpoints]

    def report_rows(self) -> list[dict[str, Any]]:
        return [{"label": k, **v} for k, v in sorted(self.endpoints_report.items())]


class ProbeSample(models.Model):
    """One probe sample (stored in bulk; a drill has a few thousand)."""

    run = models.ForeignKey(DrillRun, on_delete=models.CASCADE, related_name="samples")
    endpoint = models.CharField(max_length=64)
    at = models.DateTimeField()
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["run", "endpoint", "at"], name="probesample_run_ep_at")]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.at:%H:%M:%S.%f} {'ok' if self.ok else 'fail'}"


class BackupPolicy(models.Model):
    """Backup rules for one environment. Defaults follow AWS Backup Audit Manager's
    controls (backups at least daily, retention >= 35 days in production)."""

    environment = models.CharField(max_length=20, choices=Environment.choices, unique=True)
    min_retention_days = models.PositiveIntegerField(default=7)
    max_snapshot_age_hours = models.PositiveIntegerField(
        default=24, help_text="The newest restorable point may be at most this old."
    )
    cross_region_copy_required = models.BooleanField(default=False)
    encryption_required = models.BooleanField(default=True)
    restore_drill_every_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: restore drills are not required."
    )

    class Meta:
        verbose_name_plural = "backup policies"
        ordering = ["environment"]

    def __str__(self) -> str:
        return f"Backup policy: {self.get_environment_display()}"

    @classmethod
    def default_for(cls, environment: str) -> BackupPolicy:
        """The unsaved default policy for an environment without one."""
        if environment == Environment.PRODUCTION:
            return cls(
                environment=environment,
                min_retention_days=35,
                max_snapshot_age_hours=24,
                cross_region_copy_required=True,
                encryption_required=True,
                restore_drill_every_days=90,
            )
        return cls(environment=environment, min_retention_days=7, max_snapshot_age_hours=24)
