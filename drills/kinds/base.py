"""What every drill kind shares: the failover drills' phases and their parameter form.

A failover drill runs the wrapped kind's own steps for the failover itself (so the
crash-safety rules of those steps hold here too) and adds the drill's phases around
them: preflight, baseline, trigger, observe, verify, report. The probe samples in its
own Celery queue (``drills.tasks.probe_task``) from the baseline on, until the report
asks it to stop or the operation has ended. Each family's module says how to read its
target (``failover``: clusters and Multi-AZ instances, ``global_db``, ``cache_failover``);
restore drills (``restore``) have steps of their own around the restore kinds.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils import timezone

from drills.models import DrillRun, DrillType, ProbeSample, RunStatus
from drills.probes import ProbeConfigError, ProbeTarget
from estate.windows import contains as window_contains
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
)

# --- parameters ----------------------------------------------------------------------


class _EndpointsField(forms.JSONField):
    """JSON whose empty value shows as an empty box (Django's shows ``null``)."""

    def prepare_value(self, value: Any) -> Any:
        return "" if value in (None, "", "null") else super().prepare_value(value)


class DrillForm(KindForm):
    slo_seconds = forms.FloatField(
        label="Downtime SLO (s)",
        min_value=0.1,
        initial=35.0,
        required=False,
        help_text="The drill fails when clients are cut off for longer than this.",
    )
    baseline_seconds = forms.FloatField(
        label="Baseline (s)",
        min_value=0.0,
        max_value=300,
        initial=5.0,
        required=False,
        help_text="Probe this long before the failover, to know the endpoints were healthy.",
    )
    consecutive_successes = forms.IntegerField(
        label="Recovered after",
        min_value=1,
        max_value=100,
        initial=5,
        required=False,
        help_text="Successful probes in a row that count as recovered.",
    )
    probe_interval_ms = forms.IntegerField(
        label="Probe interval (ms)", min_value=50, max_value=10_000, initial=200, required=False
    )
    probe_endpoints = _EndpointsField(
        label="Probe endpoints",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "empty: the mirrored endpoints"}),
        help_text='[{"label": "direct", "host": "...", "port": 5432, "kind": "postgres", '
        '"dsn_env": "ORDERS_DSN"}, {"label": "proxy", ...}] — empty: the mirrored endpoints '
        "(TCP).",
    )
    max_replica_lag_seconds = forms.FloatField(
        label="Max replica lag (s)",
        min_value=0,
        initial=30.0,
        required=False,
        help_text="Preflight refuses to start while replica lag is above this.",
    )
    schedule_id = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean_probe_endpoints(self) -> list[dict[str, Any]]:
        value = self.cleaned_data.get("probe_endpoints") or []
        if not isinstance(value, list):
            raise ValidationError("A list of endpoint objects.")
        labels: set[str] = set()
        for item in value:
            if not isinstance(item, dict):
                raise ValidationError("Each endpoint is an object with host and port.")
            try:
                target = ProbeTarget.from_options(item)
            except ProbeConfigError as exc:
                raise ValidationError(str(exc)) from exc
            if target.label in labels:
                raise ValidationError(f"Two endpoints are labelled {target.label!r}.")
            labels.add(target.label)
        if len(value) > 4:
            raise ValidationError("At most four endpoints per drill.")
        return value

    def clean(self) -> dict[str, Any]:
        # A field left empty takes its shown default (the form's initial value).
        cleaned = super().clean() or {}
        for key, field in self.fields.items():
            if cleaned.get(key) is None and field.initial is not None:
                cleaned[key] = field.initial
        return cleaned


# --- helpers -------------------------------------------------------------------------


def replica_lag_seconds(arns: list[str]) -> tuple[float | None, str]:
    """The highest latest replica lag among ``arns`` from the metrics mirror, with a
    note. (metrics has no "latest value" query; Series.last_value is read directly.)"""
    try:
        from metrics.models import Series
    except ImportError:
        return None, "metrics app not installed"
    fresh_after = timezone.now() - timedelta(minutes=15)
    values = list(
        Series.objects.filter(
            resource_arn__in=arns,
            metric__in=["AuroraReplicaLag", "ReplicaLag"],
            last_point_at__gte=fresh_after,
            last_value__isnull=False,
        ).values_list("last_value", flat=True)
    )
    if not values:
        return None, "no replica lag data in the last 15 minutes"
    return max(values), f"{len(values)} series"


def probe_address_overrides() -> dict[str, str]:
    """identifier -> "host:port" to probe instead of the mirrored endpoint: the
    sandbox's loopback listeners, whose addresses the sandbox writes to the JSON file
    ``settings.DRILL_PROBE_ADDRESS_FILE`` (default ``<VAR_DIR>/probe-addresses.json``).

    Read only when Estate talks to the sandbox (``AWS_ENDPOINT_URL`` set): in
    production a stray file must never redirect a drill's probes away from the real
    endpoints."""
    from django.conf import settings

    if not settings.AWS_ENDPOINT_URL:
        return {}
    path = Path(
        getattr(settings, "DRILL_PROBE_ADDRESS_FILE", "")
        or settings.VAR_DIR / "probe-addresses.json"
    )
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def with_address_override(identifier: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    address = probe_address_overrides().get(identifier, "")
    host, _, port = address.rpartition(":")
    if host and port.isdigit():
        return {**endpoint, "host": host, "port": int(port)}
    return endpoint


def run_for(ctx: StepContext) -> DrillRun:
    run = DrillRun.objects.filter(operation=ctx.op).first()
    if run is not None:
        return run
    return DrillRun.objects.create(
        drill_type=ctx.op.params.get("_drill_type", DrillType.FAILOVER),
        operation=ctx.op,
        schedule_id=ctx.params.get("schedule_id") or None,
        target_arn=ctx.op.target_arn,
        target_label=ctx.op.target_label,
    )


def save_run(run: DrillRun, *fields: str) -> None:
    DrillRun.objects.filter(pk=run.pk).update(**{f: getattr(run, f) for f in fields})


# --- failover drills -----------------------------------------------------------------


class FailoverDrill(Kind):
    """Shared phases; subclasses name the wrapped kind and how to read the target."""

    wrapped: ClassVar[type[Kind]]
    trigger_step: ClassVar[str]
    await_step: ClassVar[str]
    # (service, SourceType) for DescribeEvents, to time the failover as AWS saw it.
    event_source: ClassVar[tuple[str, str] | None] = None
    form_class = DrillForm
    cannot_stop = "AWS cannot stop a failover once it has started"
    steps = (
        Step("preflight", "Preflight checks"),
        Step("baseline", "Baseline: the probe samples normal latency", budget_seconds=600),
        Step("trigger", "Trigger the failover", mutating=True),
        Step(
            "observe",
            "Observe until AWS reports healthy and the probe recovered",
            settles=True,
            budget_seconds=1800,
        ),
        Step("verify", "Verify the new topology", budget_seconds=600),
        Step("report", "Report", budget_seconds=120),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return isinstance(resource, cls.target_model) and resource.gone_at is None

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        # State problems are preflight checks (shown pass/fail on the timeline), not a
        # refusal here; only the target's existence in AWS is checked now.
        cls.describe(ctx.call, target.identifier)

    # subclass hooks
    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        raise NotImplementedError

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        raise NotImplementedError

    def member_arns(self, ctx: StepContext) -> list[str]:
        return [ctx.op.target_arn]

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        raise NotImplementedError

    def windows(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple[str, str, str]]:
        """[(whose, daily backup window, weekly maintenance window)] as AWS writes them:
        the target's own (``whose`` empty), or its members' where it has none."""
        return [
            ("", live.get("PreferredBackupWindow", ""), live.get("PreferredMaintenanceWindow", ""))
        ]

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        raise NotImplementedError

    # --- phases ----------------------------------------------------------------------

    def step_preflight(self, ctx: StepContext) -> Done | Wait | Fail:
        run = run_for(ctx)
        run.wrapped_kind = self.wrapped.name
        run.slo_seconds = float(ctx.params.get("slo_seconds") or 35.0)
        run.probe_interval_ms = int(ctx.params.get("probe_interval_ms") or 200)
        run.probe_endpoints = ctx.params.get("probe_endpoints") or self.default_endpoints(ctx)
        live = self.describe(ctx.call, ctx.op.target_label)
        now = timezone.now()
        checks: list[tuple[str, bool, str]] = []
        status = live.get("Status") or live.get("DBInstanceStatus")
        checks.append(("target available", status == "available", f"status is {status}"))
        checks.extend(self.topology_checks(ctx, live))
        from operations.models import Operation

        others = (
            Operation.objects.active()
            .filter(target_arn__in=self.member_arns(ctx))
            .exclude(pk=ctx.op.pk)
            .values_list("pk", "kind")
        )
        others = list(others)
        checks.append(
            (
                "no other active operation",
                not others,
                ", ".join(f"#{pk} {kind}" for pk, kind in others) or "none",
            )
        )
        owned = self.windows(ctx, live)
        for column, name, weekly in ((1, "backup", False), (2, "maintenance", True)):
            spans = [(w[0], w[column]) for w in owned]
            inside = [
                (whose, span) for whose, span in spans if window_contains(span, now, weekly=weekly)
            ]
            detail = "; ".join(
                (f"{whose}: " if whose else "")
                + (f"{name} window {span} (UTC)" if span else f"no {name} window")
                for whose, span in inside or spans
            )
            checks.append((f"outside the {name} window", not inside, detail or f"no {name} window"))
        limit = float(ctx.params.get("max_replica_lag_seconds") or 30.0)
        lag, note = replica_lag_seconds(self.member_arns(ctx))
        checks.append(
            (
                "replica lag under threshold",
                lag is None or lag <= limit,
                f"{lag:.1f} s (limit {limit:.0f} s)"
                if lag is not None
                else f"not measured: {note}",
            )
        )
        refusal = run.schedule.window_refusal(now) if run.schedule_id else ""
        checks.append(
            (
                "inside the schedule's allowed window",
                not refusal,
                refusal or ("no schedule" if not run.schedule_id else "inside"),
            )
        )
        run.preflight = [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks]
        run.writer_before = self.writer_of(ctx, live)
        save_run(
            run,
            "wrapped_kind",
            "slo_seconds",
            "probe_interval_ms",
            "probe_endpoints",
            "preflight",
            "writer_before",
        )
        for check, ok, detail in checks:
            ctx.log(
                f"Preflight {'pass' if ok else 'FAIL'}: {check} — {detail}",
                level="success" if ok else "error",
                check=check,
                ok=ok,
            )
        failed = [c for c, ok, _ in checks if not ok]
        if failed:
            from drills import services

            reason = f"Preflight failed ({', '.join(failed)}): nothing was touched."
            # The engine ends the operation on Fail; the run is final now, too.
            run.status, run.reason, run.finished_at = RunStatus.FAILED, reason, timezone.now()
            save_run(run, "status", "reason", "finished_at")
            services.notify(run, reason)
            return Fail(reason, "Fix the failed checks, then run the drill again.")
        self.remember_topology(ctx, live)
        return Done(f"All {len(checks)} preflight checks passed.")

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        """What the wrapped kind's steps expect in memory (its check_live's job)."""

    def step_baseline(self, ctx: StepContext) -> Done | Wait | Fail:
        from drills import services

        run = run_for(ctx)
        if "baseline_ends" not in ctx.memory:
            seconds = float(ctx.params.get("baseline_seconds") or 0)
            ctx.memory["baseline_ends"] = (timezone.now() + timedelta(seconds=seconds)).isoformat()
            ctx.checkpoint()
            services.launch_probes(run)
            ctx.log(
                f"Probing {', '.join(run.endpoint_labels())} every {run.probe_interval_ms} ms.",
                endpoints=run.probe_endpoints,
            )
        services.collect_samples(run.pk)
        ends = datetime.fromisoformat(ctx.memory["baseline_ends"])
        remaining = (ends - timezone.now()).total_seconds()
        if remaining > 0:
            return Wait(remaining, "Sampling the baseline.")
        counts = dict(
            ProbeSample.objects.filter(run=run)
            .values_list("endpoint")
            .annotate(n=Count("id"))
            .order_by()
        )
        missing = [label for label in run.endpoint_labels() if not counts.get(label)]
        if missing:
            waited = (timezone.now() - ends).total_seconds()
            if waited < 30:
                return Wait(0.2, f"Waiting for the first samples of {', '.join(missing)}.")
            return Fail(
                f"No probe samples from {', '.join(missing)} after {waited:.0f} s: the drill "
                "would measure nothing, so it stops before the failover.",
                "Check that a worker consumes the 'probes' queue and the endpoint options.",
            )
        healthy = dict(
            ProbeSample.objects.filter(run=run, ok=True)
            .values_list("endpoint")
            .annotate(n=Count("id"))
            .order_by()
        )
        down = [label for label in run.endpoint_labels() if not healthy.get(label)]
        if down:
            # An endpoint that never answered before the failover would report the whole
            # drill as downtime (or never recover): stop before touching anything.
            errors = {
                label: ProbeSample.objects.filter(run=run, endpoint=label, ok=False)
                .order_by("-at")
                .values_list("error", flat=True)
                .first()
                for label in down
            }
            reason = "; ".join(f"{label}: {errors[label] or 'no answer'}" for label in down)
            services.stop_probes(run)
            run.status, run.reason, run.finished_at = (
                RunStatus.FAILED,
                f"Unreachable before the failover ({reason}); nothing was touched.",
                timezone.now(),
            )
            save_run(run, "status", "reason", "finished_at")
            services.notify(run, run.reason)
            return Fail(run.reason, "Check the probe endpoint options (host, port, credentials).")
        run.baseline_until = timezone.now()
        save_run(run, "baseline_until")
        return Done(f"Baseline taken ({sum(counts.values())} samples).")

    def step_trigger(self, ctx: StepContext) -> Done | Wait | Fail:
        # When this run asked AWS to fail over: its failover's events are dated from
        # about then (services.api_failover_seconds). Kept for a re-run after a crash,
        # whose call may have got through; dropped when the wrapped step waited
        # without asking, so that the next attempt records its own time.
        ctx.memory.setdefault("trigger_asked_at", timezone.now().isoformat())
        inner = self.wrapped()
        outcome = inner.run(self.wrapped.step_named(self.trigger_step), ctx)
        if isinstance(outcome, Wait):
            ctx.memory.pop("trigger_asked_at", None)
        if isinstance(outcome, Done):
            run = run_for(ctx)
            run.triggered_at = timezone.now()
            save_run(run, "triggered_at")
        return outcome

    def step_observe(self, ctx: StepContext) -> Done | Wait | Fail:
        run = run_for(ctx)
        if not ctx.memory.get("aws_healthy"):
            outcome = self.wrapped().run(self.wrapped.step_named(self.await_step), ctx)
            if not isinstance(outcome, Done):
                return outcome
            ctx.memory["aws_healthy"] = True
            ctx.result.update(outcome.result)
            run.aws_healthy_at = timezone.now()
            save_run(run, "aws_healthy_at")
            ctx.log(f"AWS reports healthy: {outcome.message}", level="success")
            ctx.checkpoint()
        from drills import services

        services.collect_samples(run.pk)
        wanted = int(ctx.params.get("consecutive_successes") or 5)
        behind = []
        for label in run.endpoint_labels():
            # Only samples taken after the trigger count: successes from before the
            # failover say nothing about recovery.
            after = ProbeSample.objects.filter(run=run, endpoint=label)
            if run.triggered_at is not None:
                after = after.filter(at__gte=run.triggered_at)
            recent = list(after.order_by("-at").values_list("ok", flat=True)[:wanted])
            if len(recent) < wanted or not all(recent):
                behind.append(label)
        if behind:
            return Wait(
                max(0.05, run.probe_interval_ms / 1000),
                f"Waiting for {wanted} consecutive probe successes on {', '.join(behind)}.",
            )
        return Done(f"The probe saw {wanted} consecutive successes on every endpoint.")

    def step_verify(self, ctx: StepContext) -> Done | Wait | Fail:
        run = run_for(ctx)
        live = self.describe(ctx.call, ctx.op.target_label)
        run.writer_after = self.writer_of(ctx, live)
        save_run(run, "writer_after")
        problems = self.verify_problems(ctx, live, run)
        if problems:
            return Fail("Verification failed: " + "; ".join(problems))
        lag, note = replica_lag_seconds(self.member_arns(ctx))
        lag_text = f"replica lag {lag:.1f} s" if lag is not None else f"replica lag {note}"
        return Done(f"Writer {run.writer_before} -> {run.writer_after}; {lag_text}.")

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        raise NotImplementedError

    def step_report(self, ctx: StepContext) -> Done | Wait | Fail:
        from drills import services

        run = run_for(ctx)
        if "stop_requested_at" not in ctx.memory:
            services.stop_probes(run)
            ctx.memory["stop_requested_at"] = timezone.now().isoformat()
            ctx.checkpoint()
        services.collect_samples(run.pk)
        run.refresh_from_db()
        asked = datetime.fromisoformat(ctx.memory["stop_requested_at"])
        pending = set(run.endpoint_labels()) - set(run.probes_finished)
        if pending and (timezone.now() - asked).total_seconds() < 10:
            return Wait(0.1, f"Waiting for the probes ({', '.join(sorted(pending))}) to stop.")
        run.api_failover_seconds = services.api_failover_seconds(ctx, run, self.event_source)
        services.fill_report(run)
        # No probe endpoints: only the API time is measured, and no SLO is judged.
        run.status = RunStatus.SLO_BREACHED if run.slo_met is False else RunStatus.PASSED
        run.finished_at = timezone.now()
        run.save()
        if run.slo_met is False:
            services.notify(
                run, f"SLO breached: client downtime {run.client_downtime_seconds:.1f} s"
            )
        downtime = run.client_downtime_seconds
        return Done(
            f"Client downtime {downtime or 0:.2f} s ({run.failed_samples} failed samples), API "
            f"failover {run.api_failover_seconds or 0:.1f} s, SLO {run.slo_seconds:.0f} s: "
            f"{'met' if run.slo_met else 'BREACHED'}.",
            result={
                "drill_run": run.pk,
                "client_downtime_seconds": downtime,
                "api_failover_seconds": run.api_failover_seconds,
                "slo_met": run.slo_met,
            },
        )
