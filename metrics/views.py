"""Chart endpoints: the charts frame of a resource (an HTMX partial for the range
switch) and its chart data (JSON for static/metrics/charts.js). Both read only the
mirror; query counts do not depend on the number of points or series."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, render_page, role_required
from metrics import queries


def _resource(kind: str, pk: int) -> Any:
    model = queries.KINDS.get(kind)
    if model is None:
        raise BadRequest(f"unknown kind {kind!r}")
    return get_object_or_404(model.objects.select_related("account"), pk=pk)


def _range(request: HttpRequest) -> str:
    value = request.GET.get("range", queries.DEFAULT_RANGE)
    if value not in queries.RANGES:
        raise BadRequest(f"unknown range {value!r}: use one of {', '.join(queries.RANGES)}")
    return value


def frame_context(obj: Any, range_key: str) -> dict[str, Any]:
    """What templates/metrics/_charts.html needs (also used by the template tag).

    The range's chart data rides along in a data- attribute: the page (or the range
    switch's swap) draws without a second request, which measured cheaper than the
    separate JSON request (its middleware alone cost as much as building the data).
    """
    charts = queries.charts_for(obj)
    return {
        "object": obj,
        "kind": queries.SLUGS[type(obj)],
        "charts": charts,
        "range": range_key,
        "ranges": list(queries.RANGE_LABELS.items()),
        "payload": json.dumps(queries.chart_data(obj, range_key, charts=charts)),
    }


@require_GET
@role_required(VIEW_ESTATE)
def charts(request: HtmxRequest, kind: str, pk: int) -> HttpResponse:
    """The charts of one resource for a range: the frame partial on an HTMX swap, a
    small page of its own otherwise (so the range links work without JavaScript)."""
    obj = _resource(kind, pk)
    context = frame_context(obj, _range(request))
    return render_page(request, "metrics/charts_page.html", context, partial="charts")


@require_GET
@role_required(VIEW_ESTATE)
def data(request: HttpRequest, kind: str, pk: int) -> JsonResponse:
    obj = _resource(kind, pk)
    return JsonResponse(queries.chart_data(obj, _range(request)))
