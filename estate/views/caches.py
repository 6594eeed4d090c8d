"""ElastiCache: the list and the three kinds of detail page."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from estate import models, queries, tls
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def cache_list(request: HtmxRequest) -> HttpResponse:
    context = {**queries.cache_lists(), "has_accounts": models.Account.objects.exists()}
    return render_page(request, "estate/caches.html", context)


def _session_context(resource: models.CacheReplicationGroup | models.CacheCluster) -> dict:
    return {
        "session_store": queries.looks_like_session_store(resource),
        "eviction_policy": queries.eviction_policy(resource),
    }


@require_GET
@role_required(VIEW_ESTATE)
def cache_group_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(models.CacheReplicationGroup.objects.select_related("account"), pk=pk)
    context = {
        "object": group,
        # The same answer the posture rule CACHE-TRANSIT-ENCRYPTION gives.
        "transit": tls.cache_transit(group.transit_encryption, group.transit_encryption_mode),
        **_session_context(group),
    }
    return render_page(request, "estate/cache_group_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def cache_cluster_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    cluster = get_object_or_404(
        models.CacheCluster.objects.select_related("account", "replication_group"), pk=pk
    )
    context = {"object": cluster, **_session_context(cluster)}
    return render_page(request, "estate/cache_cluster_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def serverless_cache_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    cache = get_object_or_404(models.ServerlessCache.objects.select_related("account"), pk=pk)
    return render_page(request, "estate/serverless_cache_detail.html", {"object": cache})
