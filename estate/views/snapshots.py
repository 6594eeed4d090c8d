"""Snapshots, with cross-region copies grouped under their source."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from estate import models, queries
from estate.forms import SnapshotFilterForm
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def snapshot_list(request: HtmxRequest) -> HttpResponse:
    regions = sorted(set(models.DbSnapshot.objects.values_list("region", flat=True).distinct()))
    form = SnapshotFilterForm(request.GET, regions=regions)
    context: dict = {"form": form, "has_accounts": models.Account.objects.exists()}
    if not form.is_valid():
        context.update(page=None, rows=[])
        return render_page(request, "estate/snapshots.html", context, partial="table", status=400)
    page = paginate(request, queries.snapshots(form.filters()))
    sources = list(page.object_list)
    copies = queries.snapshot_copies(sources)
    context.update(
        page=page,
        rows=[{"snapshot": s, "copies": copies[s.arn]} for s in sources],
        filtered=any(k != "page" and v for k, v in request.GET.items()),
    )
    return render_page(request, "estate/snapshots.html", context, partial="table")


@require_GET
@role_required(VIEW_ESTATE)
def snapshot_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    """One snapshot: where it came from, what it holds, who may restore it, its copies,
    and the operations that start from a snapshot (restore, copy)."""
    snapshot = queries.get_snapshot(pk)
    context = {"object": snapshot, **queries.snapshot_context(snapshot)}
    return render_page(request, "estate/snapshot_detail.html", context)
