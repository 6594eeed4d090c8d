"""Drill operation kinds: failover drills wrapping the failover kinds, and restore drills.

A failover drill runs the wrapped kind's own steps for the failover itself (so the
crash-safety rules of those steps hold here too) and adds the drill's phases around
them: preflight, baseline, trigger, observe, verify, report. The probe samples in its
own Celery queue (``drills.tasks.probe_task``) from the baseline on, until the report
asks it to stop or the operation has ended.

A restore drill restores the latest snapshot (or the latest restorable time) into a
temporary resource, waits until it is available, optionally runs a SQL check, records
the restore duration, and deletes the temporary resource. Cleanup is not optional: a
failure after the restore call is carried to the cleanup step instead of failing the
operation at once, and a cancel is honoured by the waiting steps running the cleanup
themselves (the engine ends a cancelled operation after a settling step).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils import timezone

from drills.models import DrillRun, DrillType, ProbeSample, RunStatus
from estate import aws
from estate.models import CacheReplicationGroup, DbCluster, DbInstance, GlobalCluster
from estate.windows import contains as window_contains
from operations.kinds import cache_failover, global_db
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    cluster_writer,
    describe_cluster,
    describe_instance,
    members_status,
    poll_interval,
)
from operations.kinds.cache_failover import CacheTestFailover
from operations.kinds.cluster_failover import ClusterFailover
from operations.kinds.global_db import GlobalFailover, GlobalSwitchover
from operations.kinds.instance_failover import InstanceFailover
from operations.probes import ProbeConfigError, ProbeTarget

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


class ClusterDrillForm(DrillForm):
    target_instance = forms.ChoiceField(required=False, label="Promote this reader")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        readers = [m["identifier"] for m in self.target.members if not m.get("is_writer")]
        self.fields["target_instance"].choices = [("", "AWS chooses")] + [(r, r) for r in readers]


# --- helpers -------------------------------------------------------------------------


def _now() -> datetime:
    return timezone.now()


def replica_lag_seconds(arns: list[str]) -> tuple[float | None, str]:
    """The highest latest replica lag among ``arns`` from the metrics mirror, with a
    note. (metrics has no "latest value" query; Series.last_value is read directly.)"""
    try:
        from metrics.models import Series
    except ImportError:
        return None, "metrics app not installed"
    fresh_after = _now() - timedelta(minutes=15)
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
    """identifier -> "host:port" to probe instead of the mirrored endpoint (the
    sandbox's loopback listeners; also useful through a tunnel). Read from the JSON
    file ``settings.DRILL_PROBE_ADDRESS_FILE`` (default ``<VAR_DIR>/probe-addresses.json``,
    which the sandbox writes) when it exists."""
    import json
    from pathlib import Path

    from django.conf import settings

    path = getattr(settings, "DRILL_PROBE_ADDRESS_FILE", "") or settings.VAR_DIR / (
        "probe-addresses.json"
    )
    if not Path(path).is_file():
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _override(identifier: str, endpoint: dict[str, Any]) -> dict[str, Any]:
    address = probe_address_overrides().get(identifier, "")
    host, _, port = address.rpartition(":")
    if host and port.isdigit():
        return {**endpoint, "host": host, "port": int(port)}
    return endpoint


def _run_for(ctx: StepContext) -> DrillRun:
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


def _save_run(run: DrillRun, *fields: str) -> None:
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
        run = _run_for(ctx)
        run.wrapped_kind = self.wrapped.name
        run.slo_seconds = float(ctx.params.get("slo_seconds") or 35.0)
        run.probe_interval_ms = int(ctx.params.get("probe_interval_ms") or 200)
        run.probe_endpoints = ctx.params.get("probe_endpoints") or self.default_endpoints(ctx)
        live = self.describe(ctx.call, ctx.op.target_label)
        now = _now()
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
        _save_run(
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
            run.status, run.reason, run.finished_at = RunStatus.FAILED, reason, _now()
            _save_run(run, "status", "reason", "finished_at")
            services.notify(run, reason)
            return Fail(reason, "Fix the failed checks, then run the drill again.")
        self.remember_topology(ctx, live)
        return Done(f"All {len(checks)} preflight checks passed.")

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        """What the wrapped kind's steps expect in memory (its check_live's job)."""

    def step_baseline(self, ctx: StepContext) -> Done | Wait | Fail:
        from drills import services

        run = _run_for(ctx)
        if "baseline_ends" not in ctx.memory:
            seconds = float(ctx.params.get("baseline_seconds") or 0)
            ctx.memory["baseline_ends"] = (_now() + timedelta(seconds=seconds)).isoformat()
            ctx.checkpoint()
            services.launch_probes(run)
            ctx.log(
                f"Probing {', '.join(run.endpoint_labels())} every {run.probe_interval_ms} ms.",
                endpoints=run.probe_endpoints,
            )
        services.flush_local(run.pk)
        ends = datetime.fromisoformat(ctx.memory["baseline_ends"])
        remaining = (ends - _now()).total_seconds()
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
            waited = (_now() - ends).total_seconds()
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
                _now(),
            )
            _save_run(run, "status", "reason", "finished_at")
            services.notify(run, run.reason)
            return Fail(run.reason, "Check the probe endpoint options (host, port, credentials).")
        run.baseline_until = _now()
        _save_run(run, "baseline_until")
        return Done(f"Baseline taken ({sum(counts.values())} samples).")

    def step_trigger(self, ctx: StepContext) -> Done | Wait | Fail:
        inner = self.wrapped()
        outcome = inner.run(self.wrapped.step_named(self.trigger_step), ctx)
        if isinstance(outcome, Done):
            run = _run_for(ctx)
            run.triggered_at = _now()
            _save_run(run, "triggered_at")
        return outcome

    def step_observe(self, ctx: StepContext) -> Done | Wait | Fail:
        run = _run_for(ctx)
        if not ctx.memory.get("aws_healthy"):
            outcome = self.wrapped().run(self.wrapped.step_named(self.await_step), ctx)
            if not isinstance(outcome, Done):
                return outcome
            ctx.memory["aws_healthy"] = True
            ctx.result.update(outcome.result)
            run.aws_healthy_at = _now()
            _save_run(run, "aws_healthy_at")
            ctx.log(f"AWS reports healthy: {outcome.message}", level="success")
            ctx.checkpoint()
        from drills import services

        services.flush_local(run.pk)
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
        run = _run_for(ctx)
        live = self.describe(ctx.call, ctx.op.target_label)
        run.writer_after = self.writer_of(ctx, live)
        _save_run(run, "writer_after")
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

        run = _run_for(ctx)
        if "stop_requested_at" not in ctx.memory:
            services.stop_probes(run)
            ctx.memory["stop_requested_at"] = _now().isoformat()
            ctx.checkpoint()
        services.flush_local(run.pk)
        run.refresh_from_db()
        asked = datetime.fromisoformat(ctx.memory["stop_requested_at"])
        pending = set(run.endpoint_labels()) - set(run.probes_finished)
        if pending and (_now() - asked).total_seconds() < 10:
            return Wait(0.1, f"Waiting for the probes ({', '.join(sorted(pending))}) to stop.")
        run.api_failover_seconds = services.api_failover_seconds(ctx, run, self.event_source)
        services.fill_report(run)
        # No probe endpoints: only the API time is measured, and no SLO is judged.
        run.status = RunStatus.SLO_BREACHED if run.slo_met is False else RunStatus.PASSED
        run.finished_at = _now()
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


class ClusterFailoverDrill(FailoverDrill):
    name = "cluster_failover_drill"
    label = "Failover drill (cluster)"
    description = "Fail over an Aurora or Multi-AZ DB cluster while probing its endpoints."
    target_model = DbCluster
    form_class = ClusterDrillForm
    wrapped = ClusterFailover
    event_source = ("rds", "db-cluster")
    trigger_step = "request_failover"
    await_step = "await_failover"
    resync_kinds = ("clusters", "instances")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        # Offered where a failover is possible at all; preflight checks the live state.
        return super().applies_to(resource) and len(resource.members) >= 2

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_cluster(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        members = live.get("DBClusterMembers", [])
        readers = [m["DBInstanceIdentifier"] for m in members if not m.get("IsClusterWriter")]
        checks: list[tuple] = [
            ("a reader to promote exists", bool(readers), ", ".join(readers) or "no readers")
        ]
        wanted = ctx.params.get("target_instance")
        if wanted:
            checks.append(("the chosen reader exists", wanted in readers, wanted))
        return checks

    def member_arns(self, ctx: StepContext) -> list[str]:
        cluster = DbCluster.objects.filter(arn=ctx.op.target_arn).first()
        arns = [ctx.op.target_arn]
        if cluster is not None:
            arns += list(DbInstance.objects.filter(cluster=cluster).values_list("arn", flat=True))
        return arns

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return cluster_writer(live)

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["old_writer"] = cluster_writer(live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        from estate.models import DbProxyTarget

        cluster = DbCluster.objects.filter(arn=ctx.op.target_arn).first()
        found: list[dict[str, Any]] = []
        if cluster is not None and cluster.endpoint:
            found.append(
                _override(
                    cluster.identifier,
                    {
                        "label": "direct",
                        "host": cluster.endpoint,
                        "port": cluster.port or 5432,
                        "kind": "tcp",
                    },
                )
            )
            proxy_target = (
                DbProxyTarget.objects.filter(cluster=cluster)
                .select_related("proxy")
                .exclude(proxy__endpoint="")
                .first()
            )
            if proxy_target is not None:
                found.append(
                    _override(
                        proxy_target.proxy.identifier,
                        {
                            "label": "proxy",
                            "host": proxy_target.proxy.endpoint,
                            "port": cluster.port or 5432,
                            "kind": "tcp",
                        },
                    )
                )
        return found

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after == run.writer_before:
            problems.append(f"the writer is still {run.writer_before}")
        busy = {k: v for k, v in members_status(ctx.call, live).items() if v != "available"}
        if busy:
            problems.append(
                "members not available: " + ", ".join(f"{k} {v}" for k, v in busy.items())
            )
        return problems


class InstanceFailoverDrill(FailoverDrill):
    name = "instance_failover_drill"
    label = "Failover drill (Multi-AZ instance)"
    description = "Reboot a Multi-AZ instance with failover while probing its endpoint."
    target_model = DbInstance
    wrapped = InstanceFailover
    event_source = ("rds", "db-instance")
    trigger_step = "request_reboot"
    await_step = "await_failover"
    resync_kinds = ("instances",)

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.cluster_id is None and resource.multi_az

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_instance(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        return [
            (
                "a standby exists (Multi-AZ)",
                bool(live.get("MultiAZ")),
                f"standby in {live.get('SecondaryAvailabilityZone') or '-'}"
                if live.get("MultiAZ")
                else "Single-AZ: no standby",
            )
        ]

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return f"{live.get('DBInstanceIdentifier')} in {live.get('AvailabilityZone', '?')}"

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["primary_az"] = live.get("AvailabilityZone", "")
        ctx.memory["standby_az"] = live.get("SecondaryAvailabilityZone", "") or ""

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        instance = DbInstance.objects.filter(arn=ctx.op.target_arn).first()
        if instance is None or not instance.endpoint_address:
            return []
        return [
            _override(
                instance.identifier,
                {
                    "label": "direct",
                    "host": instance.endpoint_address,
                    "port": instance.port or 5432,
                    "kind": "tcp",
                },
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if live.get("AvailabilityZone") == ctx.memory.get("primary_az"):
            problems.append(f"the primary is still in {ctx.memory.get('primary_az')}")
        if live.get("DBInstanceStatus") != "available":
            problems.append(f"the instance is {live.get('DBInstanceStatus')}")
        return problems


class GlobalDrillForm(DrillForm):
    target_region = forms.ChoiceField(label="New primary region")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target_region"].choices = [
            (m.get("region", ""), m.get("region", ""))
            for m in self.target.members
            if not m.get("is_writer")
        ]


class GlobalSwitchoverDrill(FailoverDrill):
    """A planned Global Database switchover (no data loss) as a drill."""

    name = "global_switchover_drill"
    label = "Switchover drill (global database)"
    description = "Move the writer to another region while probing the writer endpoint."
    target_model = GlobalCluster
    form_class = GlobalDrillForm
    wrapped = GlobalSwitchover
    trigger_step = "request"
    await_step = "await_writer"
    resync_kinds = ("global_clusters", "clusters")

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and any(
            not m.get("is_writer") for m in resource.members
        )

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return global_db._describe(call, identifier)

    def _target_member(self, ctx: StepContext, live: dict[str, Any]) -> dict[str, Any] | None:
        region = ctx.params.get("target_region")
        return next(
            (
                m
                for m in live.get("GlobalClusterMembers", [])
                if global_db._region_of(m["DBClusterArn"]) == region and not m.get("IsWriter")
            ),
            None,
        )

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        member = self._target_member(ctx, live)
        region = ctx.params.get("target_region")
        return [
            (
                "a secondary exists in the target region",
                member is not None,
                member["DBClusterArn"] if member else f"no secondary cluster in {region}",
            )
        ]

    def member_arns(self, ctx: StepContext) -> list[str]:
        group = GlobalCluster.objects.filter(arn=ctx.op.target_arn).first()
        arns = [ctx.op.target_arn]
        if group is not None:
            arns += [str(m.get("cluster_arn", "")) for m in group.members if m.get("cluster_arn")]
        return arns

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return global_db._region_of(global_db._writer_arn(live))

    def windows(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple[str, str, str]]:
        """The group has no windows of its own: its member clusters' apply (as last
        synced: they are in other regions, and windows seldom change)."""
        arns = [m["DBClusterArn"] for m in live.get("GlobalClusterMembers", [])]
        known = {c.arn: c for c in DbCluster.objects.filter(arn__in=arns)}
        windows = []
        for arn in sorted(arns):
            cluster = known.get(arn)
            if cluster is None:
                name = arn.rsplit(":", 1)[-1]
                windows.append((f"{name} ({global_db._region_of(arn)}, not synced yet)", "", ""))
                continue
            windows.append(
                (
                    f"{cluster.identifier} ({cluster.region})",
                    cluster.preferred_backup_window,
                    cluster.preferred_maintenance_window,
                )
            )
        return windows

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        member = self._target_member(ctx, live)
        ctx.memory["target_arn"] = member["DBClusterArn"] if member else ""
        ctx.memory["old_writer_arn"] = global_db._writer_arn(live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        group = GlobalCluster.objects.filter(arn=ctx.op.target_arn).first()
        writer = next((m for m in (group.members if group else []) if m.get("is_writer")), None)
        cluster = DbCluster.objects.filter(arn=(writer or {}).get("cluster_arn", "")).first()
        if cluster is None or not cluster.endpoint:
            return []
        return [
            _override(
                cluster.identifier,
                {"label": "writer", "host": cluster.endpoint, "port": cluster.port or 5432},
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after != ctx.params.get("target_region"):
            problems.append(
                f"the writer is in {run.writer_after}, not {ctx.params.get('target_region')}"
            )
        if live.get("Status") != "available":
            problems.append(f"the global cluster is {live.get('Status')}")
        return problems


class GlobalFailoverDrillForm(GlobalDrillForm):
    """An unplanned failover loses the writes not yet replicated: the drill asks for
    the same typed acceptance as the operation it wraps."""

    accept_data_loss = forms.CharField(
        label="Type ACCEPT DATA LOSS",
        help_text="Writes not yet replicated to the new primary are lost.",
    )

    def clean_accept_data_loss(self) -> str:
        typed = self.cleaned_data.get("accept_data_loss", "")
        if typed.strip() != "ACCEPT DATA LOSS":
            raise ValidationError("Type ACCEPT DATA LOSS exactly to confirm an unplanned failover.")
        return typed


class GlobalFailoverDrill(GlobalSwitchoverDrill):
    """An unplanned Global Database failover (``AllowDataLoss``) as a drill: the real
    disaster-recovery path, measured. The wrapped kind reports the replication lag at
    the moment of failover as the potential data loss."""

    name = "global_failover_drill"
    label = "Failover drill (global database, data loss)"
    description = (
        "Promote a secondary region now, as in a regional outage, while probing the writer."
    )
    form_class = GlobalFailoverDrillForm
    wrapped = GlobalFailover
    destructive = True
    confirm_identifier = True
    confirm_help = "Writes not yet replicated to the chosen region are lost."


class CacheDrillForm(DrillForm):
    node_group_id = forms.ChoiceField(label="Shard (node group)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["node_group_id"].choices = [
            (g.get("id", ""), g.get("id", "")) for g in self.target.node_groups
        ]


class CacheFailoverDrill(FailoverDrill):
    """An ElastiCache shard test failover as a drill (probe: Redis/Valkey PING)."""

    name = "cache_failover_drill"
    label = "Failover drill (cache shard)"
    description = "Test failover of one shard while probing the primary endpoint."
    target_model = CacheReplicationGroup
    form_class = CacheDrillForm
    wrapped = CacheTestFailover
    event_source = ("elasticache", "replication-group")
    trigger_step = "request_failover"
    await_step = "await_failover"
    resync_kinds = ("caches",)

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.automatic_failover == "enabled"

    @classmethod
    def describe(cls, call: Any, identifier: str) -> dict[str, Any]:
        return cache_failover._describe(call, identifier)

    def topology_checks(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple]:
        shard = ctx.params.get("node_group_id")
        group = next((g for g in live.get("NodeGroups", []) if g["NodeGroupId"] == shard), None)
        replicas = [
            m["CacheClusterId"]
            for m in (group or {}).get("NodeGroupMembers", [])
            if m.get("CurrentRole") != "primary"
        ]
        return [
            (
                "automatic failover enabled",
                live.get("AutomaticFailover") == "enabled",
                f"automatic failover {live.get('AutomaticFailover') or 'off'}",
            ),
            (
                "a replica exists in the shard",
                bool(replicas),
                ", ".join(replicas) or f"shard {shard} has no replica",
            ),
        ]

    def member_arns(self, ctx: StepContext) -> list[str]:
        from estate.models import CacheCluster

        return [ctx.op.target_arn] + list(
            CacheCluster.objects.filter(replication_group__arn=ctx.op.target_arn).values_list(
                "arn", flat=True
            )
        )

    def writer_of(self, ctx: StepContext, live: dict[str, Any]) -> str:
        return cache_failover._primary(live, ctx.params.get("node_group_id", ""))

    def windows(self, ctx: StepContext, live: dict[str, Any]) -> list[tuple[str, str, str]]:
        return [("", live.get("SnapshotWindow", ""), "")]

    def remember_topology(self, ctx: StepContext, live: dict[str, Any]) -> None:
        ctx.memory["old_primary"] = self.writer_of(ctx, live)

    def default_endpoints(self, ctx: StepContext) -> list[dict[str, Any]]:
        group = CacheReplicationGroup.objects.filter(arn=ctx.op.target_arn).first()
        if group is None or not group.primary_endpoint:
            return []
        return [
            _override(
                group.identifier,
                {
                    "label": "primary",
                    "host": group.primary_endpoint,
                    "port": group.port or 6379,
                    "kind": "tcp",
                },
            )
        ]

    def verify_problems(self, ctx: StepContext, live: dict[str, Any], run: DrillRun) -> list[str]:
        problems = []
        if run.writer_after == run.writer_before:
            problems.append(f"the shard's primary is still {run.writer_before}")
        if live.get("Status") != "available":
            problems.append(f"the replication group is {live.get('Status')}")
        return problems


# --- restore drills ------------------------------------------------------------------


class RestoreDrillForm(KindForm):
    method = forms.ChoiceField(
        label="Restore from",
        choices=[("snapshot", "Latest snapshot"), ("pitr", "Latest restorable time")],
        initial="snapshot",
        required=False,
    )
    instance_class = forms.CharField(
        required=False,
        initial="db.t3.micro",
        help_text="Of the temporary instance (the restore time does not depend on it much).",
    )
    check_dsn_env = forms.CharField(
        label="Connection check: DSN variable",
        required=False,
        help_text="Run SELECT 1 with the DSN in this environment variable once restored "
        "({host} and {port} in it are replaced by the restored resource's address).",
    )
    schedule_id = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["method"] = cleaned.get("method") or "snapshot"
        cleaned["instance_class"] = cleaned.get("instance_class") or "db.t3.micro"
        return cleaned


_RETRYABLE = (aws.AwsThrottled, aws.AwsUnavailable)
_RESTORE_FAILED = frozenset(
    {
        "failed",
        "incompatible-restore",
        "incompatible-parameters",
        "inaccessible-encryption-credentials",
    }
)
_DELETABLE = _RESTORE_FAILED | {"available", "storage-full", "stopped"}


class RestoreDrill(Kind):
    """Shared restore-drill steps; subclasses say how to restore/describe/delete."""

    form_class = RestoreDrillForm
    cannot_stop = (
        "a restore cannot be stopped once AWS started it; Estate deletes it when it is done"
    )
    steps = (
        Step("choose_source", "Choose what to restore"),
        Step("restore", "Start the restore", mutating=True),
        Step("await_restore", "Wait for the restored resource", settles=True, budget_seconds=7200),
        Step("check", "Check the restored database", settles=True, budget_seconds=300),
        Step("cleanup", "Delete the temporary resource", settles=True, budget_seconds=3600),
    )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cls.describe_source(ctx.call, target.identifier)

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        raise NotImplementedError

    def temp_status(self, ctx: StepContext) -> str | None:
        raise NotImplementedError

    # --- the failure carried to cleanup ---------------------------------------------

    def _carry(self, ctx: StepContext, reason: str) -> Done:
        """Remember a failure and go on to the cleanup (which fails the operation)."""
        ctx.memory["failure"] = reason
        ctx.checkpoint()
        ctx.log(f"{reason} — cleaning up before failing.", level="error")
        return Done()

    def _guarded(self, ctx: StepContext, body: Any) -> Done | Wait | Fail:
        """Run a step after the restore call: skip it if a failure is being carried or a
        cancel was asked for (then clean up here, since the engine ends a cancelled
        operation after this settling step), and carry AWS errors to the cleanup."""
        if ctx.op.cancel_requested:
            return self.step_cleanup(ctx, cancelling=True)
        if ctx.memory.get("failure"):
            return Done()
        try:
            return body()
        except _RETRYABLE:
            raise
        except aws.AwsError as exc:
            return self._carry(
                ctx, f"AWS refused {exc.operation or 'a call'}: {exc.code}: {exc.message}"
            )

    def _finish_run(self, ctx: StepContext, status: str, reason: str = "") -> None:
        from drills import services

        run = _run_for(ctx)
        run.status, run.reason, run.finished_at = status, reason, _now()
        _save_run(run, "status", "reason", "finished_at")
        if status == RunStatus.FAILED:
            services.notify(run, f"Restore drill failed: {reason}")

    def step_choose_source(self, ctx: StepContext) -> Done | Wait | Fail:
        run = _run_for(ctx)
        run.drill_type = DrillType.RESTORE
        run.temp_identifier = f"estate-rd-{ctx.op.pk}-{ctx.op.target_label}"[:63].rstrip("-")
        _save_run(run, "drill_type", "temp_identifier")
        ctx.memory["temp"] = run.temp_identifier
        method = ctx.params.get("method") or "snapshot"
        if method == "snapshot":
            snapshot = self.latest_snapshot(ctx)
            if snapshot is None:
                reason = f"{ctx.op.target_label} has no available snapshot to restore."
                self._finish_run(ctx, RunStatus.FAILED, reason)
                return Fail(
                    reason,
                    "Take a snapshot or enable automated backups, or restore to a point in time.",
                )
            ctx.memory["snapshot"] = snapshot
            return Done(f"Restoring snapshot {snapshot} into {run.temp_identifier}.")
        return Done(f"Restoring the latest restorable time into {run.temp_identifier}.")

    def step_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        if ctx.memory.get("restore_started_at") or self.temp_status(ctx) is not None:
            # A previous run got the call through: don't restore twice.
            ctx.checkpoint(mutation=True)
            return Done("The restore was already started.")
        ctx.memory["restore_started_at"] = _now().isoformat()
        ctx.checkpoint(mutation=True)
        try:
            self.start_restore(ctx)
        except _RETRYABLE:
            raise
        except aws.AwsError as exc:
            # Nothing may exist yet, but AWS may have created it before refusing:
            # the cleanup step looks and deletes whatever is there.
            return self._carry(ctx, f"The restore was refused: {exc.code}: {exc.message}")
        return Done(f"AWS accepted the restore into {ctx.memory['temp']}.")

    def step_await_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            status = self.temp_status(ctx)
            if status is None:
                return self._carry(ctx, f"The restored resource {ctx.memory['temp']} vanished.")
            if status in (
                "failed",
                "incompatible-restore",
                "incompatible-parameters",
                "inaccessible-encryption-credentials",
            ):
                return self._carry(ctx, f"The restore failed: {ctx.memory['temp']} is {status}.")
            if status != "available":
                return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is {status}.")
            started = datetime.fromisoformat(ctx.memory["restore_started_at"])
            seconds = (_now() - started).total_seconds()
            run = _run_for(ctx)
            run.restore_seconds = seconds
            _save_run(run, "restore_seconds")
            return Done(
                f"Restored and available after {seconds:.1f} s.",
                result={"restore_seconds": seconds},
            )

        return self._guarded(ctx, body)

    def step_check(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            env = ctx.params.get("check_dsn_env")
            if not env:
                return Done("No SQL check configured.")
            from operations import probes

            host, port = self.temp_address(ctx)
            target = ProbeTarget(
                host=host or "localhost", port=port or 5432, kind="postgres", dsn_env=env
            )
            try:
                creds = probes.resolve_credentials(target)
            except ProbeConfigError as exc:
                return self._carry(ctx, f"SQL check not possible: {exc}")
            # The DSN may name the restored resource with {host} and {port}: its
            # address is only known now.
            dsn = creds.dsn.replace("{host}", target.host).replace("{port}", str(target.port))
            kind = "mysql" if dsn.startswith(("mysql://", "mariadb://")) else "postgres"
            target = ProbeTarget(host=target.host, port=target.port, kind=kind, dsn_env=env)
            sample = probes.probe_once(target, probes.Credentials(dsn=dsn))
            if not sample.ok:
                return self._carry(ctx, f"SQL check failed: {sample.error}")
            return Done(f"SELECT 1 answered in {sample.latency_ms:.0f} ms.")

        return self._guarded(ctx, body)

    def step_cleanup(self, ctx: StepContext, *, cancelling: bool = False) -> Done | Wait | Fail:
        status = self.temp_status(ctx)
        run = _run_for(ctx)
        if status is not None and status != "deleting":
            if not ctx.memory.get("delete_requested"):
                if status not in (
                    "available",
                    "failed",
                    "incompatible-restore",
                    "storage-full",
                    "incompatible-parameters",
                    "inaccessible-encryption-credentials",
                ):
                    return Wait(
                        poll_interval(ctx.op), f"Waiting to delete {ctx.memory['temp']} ({status})."
                    )
                ctx.memory["delete_requested"] = True
                ctx.checkpoint(mutation=True)
                self.delete_temp(ctx)
                ctx.log(
                    f"Deleting the temporary {ctx.memory['temp']}.",
                    level="warning" if cancelling else "info",
                )
            return Wait(poll_interval(ctx.op), f"Deleting {ctx.memory['temp']}.")
        if status == "deleting":
            return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is deleting.")
        run.cleaned_up = True
        _save_run(run, "cleaned_up")
        ctx.log(f"Cleanup done: {ctx.memory.get('temp')} is gone.", level="success", cleanup=True)
        if cancelling:
            self._finish_run(
                ctx, RunStatus.CANCELLED, "Cancelled; the temporary resource was deleted."
            )
            return Done("Temporary resource deleted after the cancel.")
        if ctx.memory.get("failure"):
            self._finish_run(ctx, RunStatus.FAILED, ctx.memory["failure"])
            return Fail(ctx.memory["failure"], "The temporary resource was deleted.")
        self._finish_run(ctx, RunStatus.PASSED)
        return Done("Temporary resource deleted.")

    # subclass hooks
    def latest_snapshot(self, ctx: StepContext) -> str | None:
        raise NotImplementedError

    def start_restore(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def delete_temp(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        raise NotImplementedError


class InstanceRestoreDrill(RestoreDrill):
    name = "instance_restore_drill"
    label = "Restore drill (instance)"
    description = "Restore the latest backup into a temporary instance, time it, delete it."
    target_model = DbInstance
    mutating = False  # it never changes the target itself; a parallel restore is fine
    destructive = False

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return super().applies_to(resource) and resource.cluster_id is None

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_instance(call, identifier)

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_instance(ctx.call, ctx.memory["temp"])["DBInstanceStatus"]
        except aws.AwsNotFound:
            return None

    def latest_snapshot(self, ctx: StepContext) -> str | None:
        found = ctx.call("describe_db_snapshots", DBInstanceIdentifier=ctx.op.target_label)[
            "DBSnapshots"
        ]
        ready = [s for s in found if s.get("Status") == "available"]
        if not ready:
            return None
        oldest = datetime.min.replace(tzinfo=UTC)
        newest = max(ready, key=lambda s: s.get("SnapshotCreateTime") or oldest)
        return newest["DBSnapshotIdentifier"]

    def start_restore(self, ctx: StepContext) -> None:
        common = {
            "DBInstanceClass": ctx.params.get("instance_class") or "db.t3.micro",
            "MultiAZ": False,
            "PubliclyAccessible": False,
            "Tags": [{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}],
        }
        if ctx.memory.get("snapshot"):
            ctx.call(
                "restore_db_instance_from_db_snapshot",
                DBInstanceIdentifier=ctx.memory["temp"],
                DBSnapshotIdentifier=ctx.memory["snapshot"],
                **common,
            )
        else:
            ctx.call(
                "restore_db_instance_to_point_in_time",
                SourceDBInstanceIdentifier=ctx.op.target_label,
                TargetDBInstanceIdentifier=ctx.memory["temp"],
                UseLatestRestorableTime=True,
                **common,
            )

    def delete_temp(self, ctx: StepContext) -> None:
        ctx.call(
            "delete_db_instance",
            DBInstanceIdentifier=ctx.memory["temp"],
            SkipFinalSnapshot=True,
            DeleteAutomatedBackups=True,
        )

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        live = describe_instance(ctx.call, ctx.memory["temp"])
        endpoint = live.get("Endpoint") or {}
        return endpoint.get("Address", ""), int(endpoint.get("Port") or 0)


class ClusterRestoreDrill(RestoreDrill):
    """Restore a cluster snapshot (or the latest restorable time) into a temporary
    cluster with one instance — a cluster without an instance accepts no connections,
    so the RTO includes the instance — then delete both."""

    name = "cluster_restore_drill"
    label = "Restore drill (cluster)"
    description = "Restore the latest backup into a temporary cluster, time it, delete it."
    target_model = DbCluster
    mutating = False
    destructive = False
    steps = (
        Step("choose_source", "Choose what to restore"),
        Step("restore", "Start the restore", mutating=True),
        Step("add_instance", "Add an instance to the restored cluster", settles=True),
        Step("await_restore", "Wait for the restored cluster", settles=True, budget_seconds=7200),
        Step("check", "Check the restored database", settles=True, budget_seconds=300),
        Step("cleanup", "Delete the temporary resources", settles=True, budget_seconds=3600),
    )

    @classmethod
    def describe_source(cls, call: Any, identifier: str) -> dict[str, Any]:
        return describe_cluster(call, identifier)

    def _instance_id(self, ctx: StepContext) -> str:
        return f"{ctx.memory['temp']}-1"[:63]

    def temp_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_cluster(ctx.call, ctx.memory["temp"])["Status"]
        except aws.AwsNotFound:
            return None

    def _instance_status(self, ctx: StepContext) -> str | None:
        try:
            return describe_instance(ctx.call, self._instance_id(ctx))["DBInstanceStatus"]
        except aws.AwsNotFound:
            return None

    def latest_snapshot(self, ctx: StepContext) -> str | None:
        source = describe_cluster(ctx.call, ctx.op.target_label)
        ctx.memory["engine"] = source.get("Engine", "")
        ctx.memory["engine_version"] = source.get("EngineVersion", "")
        found = ctx.call("describe_db_cluster_snapshots", DBClusterIdentifier=ctx.op.target_label)[
            "DBClusterSnapshots"
        ]
        ready = [s for s in found if s.get("Status") == "available"]
        if not ready:
            return None
        oldest = datetime.min.replace(tzinfo=UTC)
        newest = max(ready, key=lambda s: s.get("SnapshotCreateTime") or oldest)
        return newest["DBClusterSnapshotIdentifier"]

    def step_choose_source(self, ctx: StepContext) -> Done | Wait | Fail:
        if "engine" not in ctx.memory:
            source = describe_cluster(ctx.call, ctx.op.target_label)
            ctx.memory["engine"] = source.get("Engine", "")
            ctx.memory["engine_version"] = source.get("EngineVersion", "")
        return super().step_choose_source(ctx)

    def start_restore(self, ctx: StepContext) -> None:
        tags = [{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}]
        if ctx.memory.get("snapshot"):
            ctx.call(
                "restore_db_cluster_from_snapshot",
                DBClusterIdentifier=ctx.memory["temp"],
                SnapshotIdentifier=ctx.memory["snapshot"],
                Engine=ctx.memory["engine"],
                Tags=tags,
            )
        else:
            ctx.call(
                "restore_db_cluster_to_point_in_time",
                DBClusterIdentifier=ctx.memory["temp"],
                SourceDBClusterIdentifier=ctx.op.target_label,
                UseLatestRestorableTime=True,
                Tags=tags,
            )

    def step_add_instance(self, ctx: StepContext) -> Done | Wait | Fail:
        def body() -> Done | Wait | Fail:
            if self._instance_status(ctx) is not None:
                return Done(f"{self._instance_id(ctx)} already exists.")
            status = self.temp_status(ctx)
            if status is None:
                return self._carry(ctx, f"The restored cluster {ctx.memory['temp']} vanished.")
            if status in _RESTORE_FAILED:
                return self._carry(ctx, f"The restore failed: {ctx.memory['temp']} is {status}.")
            if status != "available":
                return Wait(poll_interval(ctx.op), f"{ctx.memory['temp']} is {status}.")
            ctx.call(
                "create_db_instance",
                DBInstanceIdentifier=self._instance_id(ctx),
                DBClusterIdentifier=ctx.memory["temp"],
                Engine=ctx.memory["engine"],
                DBInstanceClass=ctx.params.get("instance_class") or "db.r6g.large",
                Tags=[{"Key": "estate:restore-drill", "Value": str(ctx.op.pk)}],
            )
            return Done(f"Adding {self._instance_id(ctx)} to {ctx.memory['temp']}.")

        return self._guarded(ctx, body)

    def step_await_restore(self, ctx: StepContext) -> Done | Wait | Fail:
        if not ctx.op.cancel_requested and not ctx.memory.get("failure"):
            status = self._instance_status(ctx)
            if status in _RESTORE_FAILED:
                return self._carry(ctx, f"The restored instance is {status}.")
            if status is not None and status != "available":
                return Wait(poll_interval(ctx.op), f"{self._instance_id(ctx)} is {status}.")
        return super().step_await_restore(ctx)

    def step_cleanup(self, ctx: StepContext, *, cancelling: bool = False) -> Done | Wait | Fail:
        status = self._instance_status(ctx)
        if status is not None:
            if status == "deleting" or ctx.memory.get("instance_delete_requested"):
                return Wait(poll_interval(ctx.op), f"Deleting {self._instance_id(ctx)}.")
            if status not in _DELETABLE:
                return Wait(poll_interval(ctx.op), f"Waiting to delete {self._instance_id(ctx)}.")
            ctx.memory["instance_delete_requested"] = True
            ctx.checkpoint(mutation=True)
            ctx.call(
                "delete_db_instance",
                DBInstanceIdentifier=self._instance_id(ctx),
                SkipFinalSnapshot=True,
            )
            ctx.log(f"Deleting the temporary {self._instance_id(ctx)}.")
            return Wait(poll_interval(ctx.op), f"Deleting {self._instance_id(ctx)}.")
        return super().step_cleanup(ctx, cancelling=cancelling)

    def delete_temp(self, ctx: StepContext) -> None:
        ctx.call(
            "delete_db_cluster", DBClusterIdentifier=ctx.memory["temp"], SkipFinalSnapshot=True
        )

    def temp_address(self, ctx: StepContext) -> tuple[str, int]:
        live = describe_cluster(ctx.call, ctx.memory["temp"])
        return live.get("Endpoint", ""), int(live.get("Port") or 0)


KINDS: tuple[type[Kind], ...] = (
    ClusterFailoverDrill,
    InstanceFailoverDrill,
    GlobalSwitchoverDrill,
    GlobalFailoverDrill,
    CacheFailoverDrill,
    InstanceRestoreDrill,
    ClusterRestoreDrill,
)
