"""Detail pages of RDS/Aurora resources and their topology diagrams."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET

from estate import models, queries, topology
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def cluster_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    cluster = queries.get_cluster(pk)
    context = {"object": cluster, **queries.cluster_context(cluster)}
    return render_page(request, "estate/cluster_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def instance_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    instance = queries.get_instance(pk)
    context = {"object": instance, **queries.instance_context(instance)}
    return render_page(request, "estate/instance_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def global_cluster_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    gc = queries.get_global_cluster(pk)
    context = {"object": gc, **queries.global_context(gc)}
    return render_page(request, "estate/global_cluster_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def proxy_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    proxy = get_object_or_404(models.DbProxy.objects.select_related("account"), pk=pk)
    context = {
        "object": proxy,
        "targets": list(proxy.targets.select_related("cluster", "instance")),
        "endpoints": list(proxy.endpoints.all()),
    }
    return render_page(request, "estate/proxy_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def topology_global(request: HtmxRequest, pk: int) -> HttpResponse:
    gc = queries.get_global_cluster(pk)
    return _topology(request, gc, topology.for_global(gc), reverse("global_cluster", args=[pk]))


@require_GET
@role_required(VIEW_ESTATE)
def topology_cluster(request: HtmxRequest, pk: int) -> HttpResponse:
    cluster = queries.get_cluster(pk)
    return _topology(request, cluster, topology.for_cluster(cluster), reverse("cluster", args=[pk]))


@require_GET
@role_required(VIEW_ESTATE)
def topology_instance(request: HtmxRequest, pk: int) -> HttpResponse:
    instance = queries.get_instance(pk)
    if instance.cluster_id:
        # An Aurora member's family is its cluster.
        return redirect("topology_cluster", pk=instance.cluster_id)
    return _topology(
        request, instance, topology.for_instance(instance), reverse("instance", args=[pk])
    )


def _topology(
    request: HtmxRequest, subject: object, diagram: topology.Diagram, back_url: str
) -> HttpResponse:
    context = {
        "object": subject,
        "back_url": back_url,
        "diagram": diagram,
        "node_w": topology.NODE_W,
        "node_h": topology.NODE_H,
    }
    return render_page(request, "estate/topology.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def topology_index(request: HtmxRequest) -> HttpResponse:
    """Where diagrams start: global databases, replication families, and clusters."""
    clusters = paginate(
        request,
        models.DbCluster.objects.live()
        .filter(global_cluster__isnull=True)
        .select_related("account")
        .annotate(member_count=Count("instances", filter=Q(instances__gone_at__isnull=True)))
        .order_by("identifier", "region"),
    )
    context = {
        "globals": list(
            models.GlobalCluster.objects.live()
            .select_related("account")
            .annotate(cluster_count=Count("clusters"))
            .order_by("identifier")
        ),
        "families": list(
            models.DbInstance.objects.live()
            .filter(cluster__isnull=True, replica_source__isnull=True)
            .annotate(replica_count=Count("replicas", filter=Q(replicas__gone_at__isnull=True)))
            .filter(replica_count__gt=0)
            .select_related("account")
            .order_by("identifier")
        ),
        "page": clusters,
        "has_accounts": models.Account.objects.exists(),
    }
    return render_page(request, "estate/topology_index.html", context)
