"""Inventory: one table across all kinds, filterable, sortable, paginated, exportable."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.http import require_GET

from estate import models, queries
from estate.forms import InventoryFilterForm
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required

CSV_COLUMNS = [
    ("kind", "kind"),
    ("identifier", "identifier"),
    ("arn", "arn"),
    ("account", "account_name"),
    ("environment", "environment"),
    ("region", "region"),
    ("engine", "engine_name"),
    ("version", "version"),
    ("class", "size"),
    ("status", "status"),
    ("gone_at", "gone_at"),
    ("last_synced_at", "last_synced_at"),
]


def _form(request: HtmxRequest) -> tuple[InventoryFilterForm, list[models.Account]]:
    accounts = list(models.Account.objects.order_by("name"))
    regions = queries.regions_in_use()
    return InventoryFilterForm(request.GET, accounts=accounts, regions=regions), accounts


@require_GET
@role_required(VIEW_ESTATE)
def inventory(request: HtmxRequest) -> HttpResponse:
    form, accounts = _form(request)
    context: dict[str, Any] = {
        "form": form,
        "facets": queries.inventory_facets(),
        "has_accounts": bool(accounts),
        "sortable": queries.SORTABLE,
    }
    if not form.is_valid():
        context.update(page=None, rows=[], sort=queries.DEFAULT_SORT, filtered=True)
        return render_page(request, "estate/inventory.html", context, partial="table", status=400)
    filters = form.filters()
    page = paginate(request, queries.inventory_rows(filters))
    context.update(
        page=page,
        rows=queries.with_last_seen(queries.with_urls(page.object_list)),
        sort=filters.sort,
        filtered=any(k != "page" and v for k, v in request.GET.items()),
        export_query=_without(request, "page"),
    )
    return render_page(request, "estate/inventory.html", context, partial="table")


def _without(request: HtmxRequest, *keys: str) -> str:
    params = request.GET.copy()
    for key in keys:
        params.pop(key, None)
    return params.urlencode()


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@role_required(VIEW_ESTATE)
def inventory_csv(request: HtmxRequest) -> HttpResponse:
    """The whole filtered set (not just one page) as CSV, streamed."""
    form, _ = _form(request)
    if not form.is_valid():
        # Escaped although it is text/plain: the messages quote the bad values, and a
        # browser that sniffs content must never find markup from the query string here.
        errors = escape("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return HttpResponse(
            f"Bad filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    rows = queries.inventory_rows(form.filters())
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([name for name, _ in CSV_COLUMNS])
        for row in rows.iterator(chunk_size=500):
            yield writer.writerow(["" if row[key] is None else row[key] for _, key in CSV_COLUMNS])

    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="estate-inventory-{stamp}.csv"'
    return response
