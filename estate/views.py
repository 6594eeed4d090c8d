from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from estate import models


@login_required
def home(request: HttpRequest) -> HttpResponse:
    kinds = {
        "DB clusters": models.DbCluster,
        "DB instances": models.DbInstance,
        "Global clusters": models.GlobalCluster,
        "RDS proxies": models.DbProxy,
        "Cache replication groups": models.CacheReplicationGroup,
        "DMS tasks": models.DmsReplicationTask,
    }
    counts = {label: model.objects.live().count() for label, model in kinds.items()}
    by_engine = (
        models.DbInstance.objects.live().values("engine").annotate(n=Count("id")).order_by("engine")
    )
    not_available = (
        models.DbInstance.objects.live().exclude(status="available").select_related("account")[:50]
    )
    last_sync = models.SyncRun.objects.first()
    return render(
        request,
        "estate/home.html",
        {
            "counts": counts,
            "by_engine": by_engine,
            "not_available": not_available,
            "last_sync": last_sync,
        },
    )
