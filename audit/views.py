"""The audit page: filters, free-text search, pagination, CSV export.

Viewers may read the audit trail (``VIEW_ESTATE``): it records who did what to
the estate they can already see, and a team that shares a console benefits from seeing
each other's actions. Nobody can change it (see audit.models).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit import queries
from audit.forms import AuditFilterForm
from audit.models import AuditEvent
from estate.roles import VIEW_ESTATE
from estate.web import paginate, render_page, role_required

CSV_COLUMNS = ["at", "username", "action", "target", "outcome", "source_ip", "details"]


def _query_without(request: HttpRequest, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()


@require_GET
@role_required(VIEW_ESTATE)
def audit_list(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    context: dict[str, Any] = {"form": form, "page": None, "events": []}
    if not form.is_valid():
        return render_page(request, "audit/list.html", context, partial="table", status=400)
    qs = form.apply(queries.events())
    page = paginate(request, qs)
    context.update(
        page=page,
        events=queries.with_links(page.object_list),
        page_query=_query_without(request, "page"),
        filtered=any(v for k, v in request.GET.items() if k != "page"),
    )
    return render_page(request, "audit/list.html", context, partial="table")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell must not start with a formula character.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


@require_GET
@role_required(VIEW_ESTATE)
def audit_csv(request: HttpRequest) -> HttpResponse:
    """The whole filtered trail (not one page) as CSV, streamed in chunks."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        # Name the fields only: the values stay out of the response.
        return HttpResponse(
            f"Invalid filter ({', '.join(sorted(form.errors))}): open the audit page for details.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    qs = form.apply(queries.events())
    writer = csv.writer(_Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        event: AuditEvent
        for event in qs.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    _cell(event.at.isoformat()),
                    _cell(event.username),
                    _cell(event.action),
                    _cell(event.target),
                    _cell(event.outcome),
                    _cell(event.source_ip),
                    _cell(json.dumps(event.details, sort_keys=True, default=str)),
                ]
            )

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="estate-audit-{stamp}.csv"'
    return response
