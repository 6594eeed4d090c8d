"""Sync history."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from estate import queries
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def sync_run_list(request: HtmxRequest) -> HttpResponse:
    page = paginate(request, queries.sync_runs())
    return render_page(request, "estate/sync_runs.html", {"page": page}, partial="table")


@require_GET
@role_required(VIEW_ESTATE)
def sync_run_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    run = queries.get_sync_run(pk)
    counts = sorted(run.counts.items())
    errors = sorted(run.errors.items())
    return render_page(
        request, "estate/sync_run_detail.html", {"object": run, "counts": counts, "errors": errors}
    )
