"""Overview (home) and the "Sync now" button."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from estate import checks, models, queries
from estate.roles import TRIGGER_SYNC, VIEW_ESTATE
from estate.web import HtmxRequest, render_page, role_required

# Runs in these states are still moving; the progress partial keeps polling.
ACTIVE_SYNC = set(models.SyncRun.ACTIVE)


def _sync_context(run: models.SyncRun | None) -> dict[str, object]:
    return {"run": run, "active": run is not None and run.status in ACTIVE_SYNC}


@require_GET
@role_required(VIEW_ESTATE)
def home(request: HtmxRequest) -> HttpResponse:
    has_accounts = models.Account.objects.exists()
    context = {
        "has_accounts": has_accounts,
        "totals": queries.overview_totals(),
        "attention": queries.attention_rows(),
        "findings": queries.findings_teaser(),
        "posture": checks.finding_counts(),
        **_sync_context(models.SyncRun.objects.order_by("-started_at").first()),
    }
    return render_page(request, "estate/home.html", context, partial="panels")


@require_POST
@role_required(TRIGGER_SYNC)
def sync_now(request: HtmxRequest) -> HttpResponse:
    """Start a sync of everything. HTMX gets the progress partial, which polls until
    the run ends; a plain POST redirects home."""
    if not models.Account.objects.filter(enabled=True).exists():
        messages.error(request, "No enabled accounts to sync — add one in Admin first.")
        if request.htmx:
            return render_page(request, "estate/home.html", _sync_context(None), partial="sync")
        return redirect("home")
    from estate import services  # built by the sync work; imported late on purpose

    run = services.sync_now(triggered_by=request.user.get_username())
    if request.htmx:
        return render_page(request, "estate/home.html", _sync_context(run), partial="sync")
    messages.success(request, f"Sync #{run.pk} started.")
    return redirect("home")


@require_GET
@role_required(VIEW_ESTATE)
def sync_progress(request: HtmxRequest, pk: int) -> HttpResponse:
    """The progress partial of one run. When it is polled and the run has ended, it
    tells the page (HX-Trigger) to reload the numbers, and stops polling."""
    run = queries.get_sync_run(pk)
    if not request.htmx:
        return redirect("sync_run", pk=run.pk)
    context = _sync_context(run)
    response = render_page(request, "estate/home.html", context, partial="sync")
    if not context["active"]:
        response["HX-Trigger"] = "estate-synced"
    return response
