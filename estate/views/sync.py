"""Sync history."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from estate import models, queries
from estate.views.common import HtmxRequest, paginate, render_page, viewer_required


@require_GET
@viewer_required
def sync_run_list(request: HtmxRequest) -> HttpResponse:
    page = paginate(request, queries.sync_runs())
    return render_page(request, "estate/sync_runs.html", {"page": page}, partial="table")


@require_GET
@viewer_required
def sync_run_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(models.SyncRun, pk=pk)
    counts = sorted(run.counts.items())
    errors = sorted(run.errors.items())
    return render_page(
        request, "estate/sync_run_detail.html", {"object": run, "counts": counts, "errors": errors}
    )
