"""Read-side helpers for audit pages: the list queryset and links from events to the
resources and operations they are about (a bounded number of queries per page)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from django.urls import NoReverseMatch, reverse

from audit.models import AuditEvent
from estate import models as mirror

# ARN "<service>:<resource type>" -> (mirror model, URL name of its detail page).
ARN_KINDS: dict[tuple[str, str], tuple[type, str]] = {
    ("rds", "cluster"): (mirror.DbCluster, "cluster"),
    ("rds", "db"): (mirror.DbInstance, "instance"),
    ("rds", "global-cluster"): (mirror.GlobalCluster, "global_cluster"),
    ("rds", "db-proxy"): (mirror.DbProxy, "proxy"),
    ("rds", "pg"): (mirror.ParameterGroup, "parameter_group"),
    ("rds", "cluster-pg"): (mirror.ParameterGroup, "parameter_group"),
    ("rds", "og"): (mirror.OptionGroup, "option_group"),
    ("rds", "snapshot"): (mirror.DbSnapshot, "snapshot"),
    ("rds", "cluster-snapshot"): (mirror.DbSnapshot, "snapshot"),
    ("elasticache", "replicationgroup"): (mirror.CacheReplicationGroup, "cache_group"),
    ("elasticache", "cluster"): (mirror.CacheCluster, "cache_cluster"),
    ("elasticache", "serverlesscache"): (mirror.ServerlessCache, "serverless_cache"),
    ("dms", "task"): (mirror.DmsReplicationTask, "dms_task"),
}
# URL names the operations app may use for an operation's page, tried in order.
OPERATION_URL_NAMES = ("operations:detail", "operation")


def events() -> QuerySet[AuditEvent]:
    """Newest first. ``username`` is denormalised, so no join is needed."""
    return AuditEvent.objects.order_by("-at", "-id")


def events_for_target(target: str, limit: int = 20) -> list[AuditEvent]:
    """The latest events about one resource (for its detail page)."""
    return list(events().filter(target=target)[:limit])


def arn_kind(arn: str) -> tuple[str, str] | None:
    parts = arn.split(":", 6)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return parts[2], parts[5].split("/", 1)[0]


def _reverse(name: str, pk: Any) -> str:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:  # that page does not exist (yet): show the ARN without a link
        return ""


def operation_url(operation_id: Any) -> str:
    if operation_id in (None, ""):
        return ""
    for name in OPERATION_URL_NAMES:
        url = _reverse(name, operation_id)
        if url:
            return url
    return ""


def with_links(page_events: Iterable[AuditEvent]) -> list[AuditEvent]:
    """Annotate each event with ``resource_url`` and ``operation_url``: one query per
    resource kind present on the page (at most len(ARN_KINDS)), whatever its size."""
    page_events = list(page_events)
    arns_by_kind: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in page_events:
        kind = arn_kind(event.target)
        if kind in ARN_KINDS:
            arns_by_kind[kind].add(event.target)
    urls: dict[str, str] = {}
    for kind, arns in arns_by_kind.items():
        model, url_name = ARN_KINDS[kind]
        for pk, arn in model.objects.filter(arn__in=arns).values_list("pk", "arn"):
            urls[arn] = _reverse(url_name, pk)
    for event in page_events:
        details = event.details if isinstance(event.details, dict) else {}
        # operations.engine records {"operation": pk}; others may say "operation_id".
        event.operation_url = operation_url(details.get("operation_id", details.get("operation")))
        # The mirror's page for an ARN first; else the URL the recorder gave, unless that
        # is the operation's page (already linked).
        given = event.target_url if event.target_url != event.operation_url else ""
        event.resource_url = urls.get(event.target, "") or given
    return page_events
