"""Drill and backup pages. Viewers read; the Operator role (``MANAGE_DRILLS``) edits
schedules."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from drills import backups as backup_rules
from drills import queries
from drills.forms import DrillScheduleForm
from drills.models import DrillRun, DrillSchedule
from estate.roles import MANAGE_DRILLS, VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required


def _run(pk: int) -> DrillRun:
    return get_object_or_404(DrillRun.objects.select_related("operation", "schedule"), pk=pk)


def _schedule(pk: int) -> DrillSchedule:
    return get_object_or_404(DrillSchedule, pk=pk)


SHOW_CHOICES = [
    ("", "All"),
    ("never", "Never drilled"),
    ("overdue", "Overdue"),
    ("failed", "Failed"),
]


@require_GET
@role_required(VIEW_ESTATE)
def drills_home(request: HtmxRequest) -> HttpResponse:
    show = request.GET.get("show", "")
    if show not in dict(SHOW_CHOICES):
        show = ""
    rows = queries.drillable_targets(show)
    context = {
        "rows": rows,
        "show": show,
        "show_choices": SHOW_CHOICES,
        "upcoming": queries.upcoming(),
        "overdue_days": queries.overdue_days(),
        "recent": DrillRun.objects.select_related("schedule")[:10],
    }
    return render_page(request, "drills/home.html", context, partial="targets")


@require_GET
@role_required(VIEW_ESTATE)
def run_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    run = _run(pk)
    events = list(run.operation.events.all()) if run.operation else []
    context = {"run": run, "events": events, "op": run.operation}
    return render_page(request, "drills/run.html", context, partial="status")


@require_GET
@role_required(VIEW_ESTATE)
def run_chart(request: HtmxRequest, pk: int) -> JsonResponse:
    run = _run(pk)
    return JsonResponse(queries.run_chart(run))


@require_GET
@role_required(VIEW_ESTATE)
def target_history(request: HtmxRequest) -> HttpResponse:
    arn = request.GET.get("arn", "").strip()
    if not arn:
        return render_page(
            request,
            "drills/history.html",
            {"arn": "", "error": "Choose a target (?arn=...)."},
            partial="table",
            status=400,
        )
    page = paginate(request, queries.runs_for_target(arn), per_page=25)
    label = next((r.target_label for r in page.object_list), arn)
    context = {"arn": arn, "label": label, "page": page, "stats": queries.history_stats(arn)}
    return render_page(request, "drills/history.html", context, partial="table")


@require_GET
@role_required(VIEW_ESTATE)
def history_chart(request: HtmxRequest) -> JsonResponse:
    return JsonResponse(queries.history_chart(request.GET.get("arn", "")))


@require_GET
@role_required(VIEW_ESTATE)
def schedule_list(request: HtmxRequest) -> HttpResponse:
    schedules = [(s, s.next_run()) for s in DrillSchedule.objects.all()]
    context = {"schedules": schedules, "can_manage": request.user.has_perm(MANAGE_DRILLS)}
    return render_page(request, "drills/schedules.html", context, partial="table")


@require_http_methods(["GET", "POST"])
@role_required(MANAGE_DRILLS)
def schedule_edit(request: HtmxRequest, pk: int | None = None) -> HttpResponse:
    schedule = _schedule(pk) if pk else None
    initial = {"target_arn": request.GET.get("arn", "")} if schedule is None else None
    form = DrillScheduleForm(request.POST or None, instance=schedule, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            saved = form.save(commit=False)
            if saved.created_by_id is None:
                saved.created_by = request.user
            saved.save()
            _audit(request, "drill_schedule.saved", saved)
            messages.success(
                request, f"Schedule {saved.name} saved; next run {saved.next_run() or '—'}."
            )
            return _to_schedules(request)
        return render_page(
            request,
            "drills/schedule_form.html",
            {"form": form, "schedule": schedule},
            partial="form",
            status=422,
        )
    return render_page(
        request, "drills/schedule_form.html", {"form": form, "schedule": schedule}, partial="form"
    )


@require_POST
@role_required(MANAGE_DRILLS)
def schedule_delete(request: HtmxRequest, pk: int) -> HttpResponse:
    schedule = _schedule(pk)
    _audit(request, "drill_schedule.deleted", schedule)
    schedule.delete()
    messages.success(request, f"Schedule {schedule.name} deleted.")
    return _to_schedules(request)


def _to_schedules(request: HtmxRequest) -> HttpResponse:
    """A plain POST is redirected; an HTMX one is told where to go (a redirect would
    be followed and its page swapped into the form)."""
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("drills:schedules")
        return response
    return redirect("drills:schedules")


def _audit(request: HttpRequest, action: str, schedule: DrillSchedule) -> None:
    try:
        from audit.services import record
    except ImportError:
        return
    record(
        action,
        actor=request.user,
        target=schedule.target_arn,
        outcome="success",
        details={"schedule": schedule.pk, "name": schedule.name, "cron": schedule.cron},
    )


# --- backups -------------------------------------------------------------------------


@require_GET
@role_required(VIEW_ESTATE)
def backups(request: HtmxRequest) -> HttpResponse:
    failing = request.GET.get("failing") == "1"
    rows = backup_rules.backup_rows(failing_only=failing)
    context = {"rows": rows, "failing": failing}
    return render_page(request, "drills/backups.html", context, partial="table")


@require_GET
@role_required(VIEW_ESTATE)
def backups_csv(request: HtmxRequest) -> HttpResponse:
    failing = request.GET.get("failing") == "1"
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="backups.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "kind",
            "identifier",
            "account",
            "region",
            "environment",
            "retention_days",
            "backup_window",
            "latest_restorable",
            "lag_seconds",
            "earliest_restorable",
            "last_manual_snapshot",
            "cross_region_copy",
            "snapshots_encrypted",
            "shared_with",
            "public",
            "last_restore_drill_seconds",
            "passed",
            "failures",
        ]
    )
    for r in backup_rules.backup_rows(failing_only=failing):
        writer.writerow(
            [
                r.kind,
                r.row.identifier,
                r.row.account.account_id,
                r.row.region,
                r.environment,
                r.retention_days if r.retention_days is not None else "",
                r.backup_window,
                r.latest_restorable.isoformat() if r.latest_restorable else "",
                f"{r.lag_seconds:.0f}" if r.lag_seconds is not None else "",
                r.earliest_restorable.isoformat() if r.earliest_restorable else "",
                r.last_manual_snapshot_at.isoformat() if r.last_manual_snapshot_at else "",
                "yes" if r.cross_region_copy else "no",
                {True: "yes", False: "no", None: ""}[r.snapshots_encrypted],
                " ".join(r.shared_with),
                "yes" if r.public else "no",
                f"{r.last_restore_run.restore_seconds:.0f}"
                if r.last_restore_run and r.last_restore_run.restore_seconds
                else "",
                "pass" if r.passed else "fail",
                "; ".join(f"{f.rule}: {f.reason}" for f in r.failures),
            ]
        )
    return response
