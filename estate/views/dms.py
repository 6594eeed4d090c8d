"""DMS: replication instances, endpoints and tasks."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from estate import models, queries
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def dms_list(request: HtmxRequest) -> HttpResponse:
    context = {**queries.dms_lists(), "has_accounts": models.Account.objects.exists()}
    return render_page(request, "estate/dms.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def dms_task_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(
        models.DmsReplicationTask.objects.select_related(
            "account", "source_endpoint", "target_endpoint", "replication_instance"
        ),
        pk=pk,
    )
    return render_page(request, "estate/dms_task_detail.html", {"object": task})
