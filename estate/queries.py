"""List querysets and object loaders for the pages. Views read only the mirror, and a
list page's query count never grows with the estate: every list here is one query (or a
fixed handful), never a query per row.

The inventory is one table across kinds: a UNION ALL of one ``values()`` queryset per
model, each filtered *before* the union (SQL cannot filter a compound query portably,
and Django refuses to), with the same column names and order everywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import (
    CharField,
    Count,
    F,
    Model,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.shortcuts import get_object_or_404
from django.utils import timezone

from estate import models, tls
from estate.status import HEALTHY

# --- Inventory -----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    model: type[Model]
    url_name: str
    engine: Any  # expression for the "engine" column
    version: Any
    size: Any  # instance class / node type / migration type
    base_filter: Q = field(default_factory=Q)


def _text(value: str) -> Value:
    return Value(value, output_field=CharField())


KINDS: dict[str, Kind] = {
    k.key: k
    for k in (
        Kind(
            "global-cluster",
            "Global cluster",
            models.GlobalCluster,
            "global_cluster",
            F("engine"),
            F("engine_version"),
            _text(""),
        ),
        Kind(
            "cluster",
            "DB cluster",
            models.DbCluster,
            "cluster",
            F("engine"),
            F("engine_version"),
            F("cluster_instance_class"),
        ),
        Kind(
            "instance",
            "DB instance",
            models.DbInstance,
            "instance",
            F("engine"),
            F("engine_version"),
            F("instance_class"),
        ),
        Kind(
            "proxy",
            "RDS Proxy",
            models.DbProxy,
            "proxy",
            F("engine_family"),
            _text(""),
            _text(""),
        ),
        Kind(
            "cache-group",
            "Cache replication group",
            models.CacheReplicationGroup,
            "cache_group",
            F("engine"),
            F("engine_version"),
            F("node_type"),
        ),
        Kind(
            "cache-cluster",
            "Cache cluster",
            models.CacheCluster,
            "cache_cluster",
            F("engine"),
            F("engine_version"),
            F("node_type"),
            # Members of a replication group are shown through their group.
            Q(replication_group__isnull=True),
        ),
        Kind(
            "serverless-cache",
            "Serverless cache",
            models.ServerlessCache,
            "serverless_cache",
            F("engine"),
            F("major_engine_version"),
            _text("serverless"),
        ),
        Kind(
            "dms-task",
            "DMS task",
            models.DmsReplicationTask,
            "dms_task",
            _text("dms"),
            _text(""),
            F("migration_type"),
        ),
    )
}

# Columns that sorting may use (the union's column names), and their labels.
SORTABLE = {
    "identifier": "Identifier",
    "kind": "Kind",
    "account_name": "Account",
    "region": "Region",
    "engine_name": "Engine",
    "status": "Status",
    # When sync last wrote (changed) the row, not when it last saw it: see "last seen".
    "last_synced_at": "Changed",
}
DEFAULT_SORT = "identifier"

LIFECYCLES = {"live": "Live", "gone": "Gone from AWS", "all": "Live and gone"}


@dataclass(frozen=True)
class InventoryFilters:
    kinds: tuple[str, ...] = ()
    account_ids: tuple[int, ...] = ()
    regions: tuple[str, ...] = ()
    environment: str = ""
    engine: str = ""
    status: str = ""
    tag_key: str = ""
    tag_value: str | None = None  # None: the key is present with any value
    lifecycle: str = "live"
    q: str = ""
    sort: str = DEFAULT_SORT
    # Only these ARNs (the metrics app's "past a threshold" set); None: no such filter.
    arns: frozenset[str] | None = None
    # Only resources with changes waiting for a reboot or maintenance window (AWS's
    # PendingModifiedValues, mirrored for DB instances and clusters).
    pending_changes: bool = False


# The models whose rows carry AWS's PendingModifiedValues (``pending_modified_values``).
PENDING_CHANGES_MODELS: tuple[type[Model], ...] = (models.DbInstance, models.DbCluster)


def _kind_rows(kind: Kind, f: InventoryFilters) -> QuerySet:
    qs = kind.model.objects.filter(kind.base_filter).annotate(
        kind=_text(kind.key),
        engine_name=Coalesce(kind.engine, _text(""), output_field=CharField()),
        version=Coalesce(kind.version, _text(""), output_field=CharField()),
        size=Coalesce(kind.size, _text(""), output_field=CharField()),
        account_name=F("account__name"),
        aws_account_id=F("account__account_id"),
        environment=F("account__environment"),
    )
    if f.lifecycle == "live":
        qs = qs.filter(gone_at__isnull=True)
    elif f.lifecycle == "gone":
        qs = qs.filter(gone_at__isnull=False)
    if f.account_ids:
        qs = qs.filter(account_id__in=f.account_ids)
    if f.regions:
        qs = qs.filter(region__in=f.regions)
    if f.environment:
        qs = qs.filter(account__environment=f.environment)
    if f.engine:
        qs = qs.filter(engine_name=f.engine)
    if f.status:
        qs = qs.filter(status__iexact=f.status)
    if f.tag_key:
        # A key lookup via KeyTextTransform works on SQLite and PostgreSQL alike and
        # takes any key text (``tags__<key>`` would parse "__" in a key as a lookup).
        # Cast to text so the comparison is plain text, not JSON (SQLite would try to
        # parse the value as JSON).
        qs = qs.alias(tag_match=Cast(KeyTextTransform(f.tag_key, "tags"), TextField()))
        matches = Q(tag_match__isnull=False) if f.tag_value is None else Q(tag_match=f.tag_value)
        # A resource whose tags could not be read may match: it stays in, and the table
        # marks it "tags not read" (dropping it would treat "not read" as "no tags").
        qs = qs.filter(matches | ~Q(tags_error=""))
    if f.q:
        qs = qs.filter(Q(identifier__icontains=f.q) | Q(arn__icontains=f.q))
    if f.arns is not None:
        qs = qs.filter(arn__in=f.arns)
    if f.pending_changes:
        # Other kinds have no pending changes that AWS reports: they leave the UNION
        # (Django drops an empty part) rather than costing a query.
        if kind.model in PENDING_CHANGES_MODELS:
            qs = qs.exclude(pending_modified_values={})
        else:
            qs = qs.none()
    return qs.values(
        "id",
        "identifier",
        "arn",
        "region",
        "status",
        "tags",
        "tags_error",
        "gone_at",
        "last_synced_at",
        "kind",
        "engine_name",
        "version",
        "size",
        "account_name",
        "aws_account_id",
        "environment",
    ).order_by()  # the model's default ordering is not allowed inside a UNION


def inventory_rows(f: InventoryFilters) -> QuerySet:
    """Every matching resource as dicts with the same keys, sorted. One SQL query."""
    kinds = [KINDS[k] for k in (f.kinds or KINDS.keys())]
    parts = [_kind_rows(k, f) for k in kinds]
    qs = parts[0] if len(parts) == 1 else parts[0].union(*parts[1:], all=True)
    sort = f.sort if f.sort.lstrip("-") in SORTABLE else DEFAULT_SORT
    tiebreak = ["identifier", "kind", "id"]
    order = [sort, *(c for c in tiebreak if c != sort.lstrip("-"))]
    return qs.order_by(*order)


def with_urls(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their detail URL and kind label (no queries)."""
    from django.urls import reverse

    out = []
    for row in rows:
        kind = KINDS[row["kind"]]
        out.append(
            {**row, "kind_label": kind.label, "url": reverse(kind.url_name, args=[row["id"]])}
        )
    return out


def inventory_facets() -> dict[str, list[str]]:
    """The engines and statuses present in the mirror (one query), for filter choices."""
    parts = [
        k.model.objects.filter(k.base_filter)
        .annotate(engine_name=Coalesce(k.engine, _text(""), output_field=CharField()))
        .values("engine_name", "status")
        .distinct()
        .order_by()
        for k in KINDS.values()
    ]
    rows = list(parts[0].union(*parts[1:]))
    return {
        "engines": sorted({r["engine_name"] for r in rows if r["engine_name"]}),
        "statuses": sorted({r["status"] for r in rows if r["status"]}),
    }


def regions_in_use() -> list[str]:
    parts = [k.model.objects.values("region").order_by() for k in KINDS.values()]
    return sorted({r["region"] for r in parts[0].union(*parts[1:])})


# --- Freshness: "last seen by sync" ---------------------------------------------------

# The sync kind (``estate.sync.KINDS``) that mirrors each model: a row was last seen
# by sync when that kind of its account and region last synced without an error.
SYNC_KIND_OF_MODEL: dict[type[Model], str] = {
    models.GlobalCluster: "global_clusters",
    models.DbCluster: "clusters",
    models.DbInstance: "instances",
    models.DbProxy: "proxies",
    models.DbEndpoint: "endpoints",
    models.DbSnapshot: "snapshots",
    models.ParameterGroup: "parameter_groups",
    models.OptionGroup: "option_groups",
    models.CacheReplicationGroup: "caches",
    models.CacheCluster: "caches",
    models.ServerlessCache: "caches",
    models.DmsReplicationInstance: "dms",
    models.DmsEndpoint: "dms",
    models.DmsReplicationTask: "dms",
}
SYNC_KIND_OF_INVENTORY_KIND: dict[str, str] = {
    key: SYNC_KIND_OF_MODEL[kind.model] for key, kind in KINDS.items()
}

ScopeKey = tuple[str, str, str]  # (AWS account id, region, sync kind)


@dataclass(frozen=True)
class LastSeen:
    """The latest successful sync of a row's scope: when it started reading AWS."""

    at: datetime
    run_id: int | None


def last_seen_by_sync(keys: Iterable[ScopeKey]) -> dict[ScopeKey, LastSeen]:
    """The latest successful SyncRun of each (account id, region, kind) scope, in one
    query whatever the number of rows or scopes asked about. A scope that no run has
    synced without an error is absent."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = models.SyncLease.objects.filter(
        account_id__in={k[0] for k in wanted},
        region__in={k[1] for k in wanted},
        kind__in={k[2] for k in wanted},
        last_succeeded_at__isnull=False,
    ).values_list("account_id", "region", "kind", "last_succeeded_at", "last_succeeded_run_id")
    return {(a, r, k): LastSeen(at, run_id) for a, r, k, at, run_id in rows if (a, r, k) in wanted}


def last_seen_of(resource: Model) -> LastSeen | None:
    """``last_seen_by_sync`` for one mirrored row: one query (the account's AWS id is
    read in a subquery, whether or not the page's loader joined the account)."""
    kind = SYNC_KIND_OF_MODEL.get(type(resource))
    if kind is None:
        return None
    row = (
        models.SyncLease.objects.filter(
            account_id__in=models.Account.objects.filter(
                pk=resource.account_id  # type: ignore[attr-defined]
            ).values("account_id"),
            region=resource.region,  # type: ignore[attr-defined]
            kind=kind,
            last_succeeded_at__isnull=False,
        )
        .values_list("last_succeeded_at", "last_succeeded_run_id")
        .first()
    )
    return LastSeen(*row) if row else None


def with_last_seen(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inventory rows (from ``inventory_rows``) with ``last_seen`` (a LastSeen or None):
    one query for the whole page."""
    keys = {
        (r["aws_account_id"], r["region"], SYNC_KIND_OF_INVENTORY_KIND[r["kind"]]) for r in rows
    }
    seen = last_seen_by_sync(keys)
    return [
        {
            **r,
            "last_seen": seen.get(
                (r["aws_account_id"], r["region"], SYNC_KIND_OF_INVENTORY_KIND[r["kind"]])
            ),
        }
        for r in rows
    ]


# --- Overview ------------------------------------------------------------------------


def overview_totals() -> dict[str, Any]:
    """Live resources counted by kind, engine, account, region and environment: one
    UNION of per-kind GROUP BYs, so its cost follows the number of distinct groups,
    never the number of rows."""
    parts = [
        k.model.objects.live()
        .filter(k.base_filter)
        .annotate(
            kind=_text(k.key),
            engine_name=Coalesce(k.engine, _text(""), output_field=CharField()),
            account_name=F("account__name"),
            environment=F("account__environment"),
        )
        .values("region", "kind", "engine_name", "account_name", "environment")
        .annotate(n=Count("id"))
        .order_by()
        for k in KINDS.values()
    ]
    rows = list(parts[0].union(*parts[1:], all=True))
    by: dict[str, Counter[str]] = {
        "kind": Counter(),
        "engine": Counter(),
        "account": Counter(),
        "region": Counter(),
        "environment": Counter(),
    }
    for r in rows:
        by["kind"][KINDS[r["kind"]].label] += r["n"]
        if r["engine_name"] and r["kind"] not in ("dms-task", "proxy"):
            by["engine"][r["engine_name"]] += r["n"]
        by["account"][r["account_name"]] += r["n"]
        by["region"][r["region"]] += r["n"]
        by["environment"][r["environment"]] += r["n"]
    return {
        "total": sum(by["kind"].values()),
        **{key: sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) for key, c in by.items()},
    }


def attention_rows(limit: int = 50) -> list[dict[str, Any]]:
    """Live resources whose status is not healthy, most recently changed first."""
    healthy = sorted(HEALTHY)
    parts = [
        _kind_rows(k, InventoryFilters()).exclude(status__in=healthy)
        for k in KINDS.values()
        if k.key != "dms-task"
    ]
    # A DMS task that is stopped after a full load is the normal end, so only failed
    # or errored tasks need attention.
    parts.append(
        _kind_rows(KINDS["dms-task"], InventoryFilters()).filter(
            status__in=["failed", "error", "stopped"]
        )
    )
    qs = parts[0].union(*parts[1:], all=True).order_by("-last_synced_at", "identifier")
    return with_urls(qs[:limit])


def findings_teaser() -> dict[str, int]:
    """Counts of the two most common gaps, straight from the mirror (the full rules
    live in guard.rules; backup retention is judged there, by each environment's
    backup policy, and the overview shows that count)."""
    inst = models.DbInstance.objects.live().aggregate(
        unencrypted=Count("id", filter=Q(storage_encrypted=False, cluster__isnull=True)),
        public=Count("id", filter=Q(publicly_accessible=True)),
    )
    clus = models.DbCluster.objects.live().aggregate(
        unencrypted=Count("id", filter=Q(storage_encrypted=False)),
    )
    cache = models.CacheReplicationGroup.objects.live().aggregate(
        unencrypted=Count("id", filter=Q(at_rest_encryption=False) | Q(transit_encryption=False))
    )
    public_snapshots = models.DbSnapshot.objects.live().filter(is_public=True).count()
    return {
        "unencrypted": inst["unencrypted"] + clus["unencrypted"] + cache["unencrypted"],
        "public": inst["public"] + public_snapshots,
    }


# --- Object loaders ------------------------------------------------------------------


def get_cluster(pk: int) -> models.DbCluster:
    return get_object_or_404(
        models.DbCluster.objects.select_related("account", "global_cluster", "clone_source"),
        pk=pk,
    )


def cluster_context(cluster: models.DbCluster) -> dict[str, Any]:
    """Everything the cluster page shows, in a fixed number of queries."""
    instances = list(
        cluster.instances.order_by("-is_cluster_writer", "promotion_tier", "identifier")
    )
    rank = {models.EndpointKind.CLUSTER_WRITER: 0, models.EndpointKind.CLUSTER_READER: 1}
    endpoints = sorted(
        models.DbEndpoint.objects.filter(
            Q(cluster=cluster) | Q(instance__cluster=cluster)
        ).select_related("instance"),
        key=lambda e: (rank.get(e.kind, 2), e.identifier),
    )
    targets = list(
        models.DbProxyTarget.objects.filter(Q(cluster=cluster) | Q(instance__cluster=cluster))
        .select_related("proxy", "instance")
        .order_by("proxy__identifier", "target_type", "rds_resource_id")
    )
    proxies: dict[int, dict[str, Any]] = {}
    for t in targets:
        entry = proxies.setdefault(t.proxy_id, {"proxy": t.proxy, "targets": []})
        entry["targets"].append(t)
    snapshots = list(cluster.snapshots.order_by("-created_time")[:20])
    snapshot_count = cluster.snapshots.count()
    clones = list(cluster.clones.all())
    parameter_group = tls.parameter_group(
        cluster.account_id,
        cluster.region,
        models.ParameterGroup.Scope.CLUSTER,
        cluster.parameter_group_name,
    )
    tls_verdict = tls.for_cluster(cluster, parameter_group)
    pending = [
        m["identifier"]
        for m in cluster.members
        if m.get("parameter_group_status") == "pending-reboot"
    ]
    return {
        "instances": instances,
        "writer": next((i for i in instances if i.is_cluster_writer), None),
        "endpoints": [e for e in endpoints if e.kind != models.EndpointKind.INSTANCE],
        "instance_endpoints": [e for e in endpoints if e.kind == models.EndpointKind.INSTANCE],
        "proxies": list(proxies.values()),
        "snapshots": snapshots,
        "snapshot_count": snapshot_count,
        "clones": clones,
        "parameter_group": parameter_group,
        "pending_reboot": pending,
        "tls": tls_verdict,
        "tls_enforced": tls_verdict.enforced,
        "restore_window": restore_window(
            cluster.earliest_restorable_time, cluster.latest_restorable_time
        ),
        "replication_source": _by_arn_or_identifier(
            models.DbCluster, cluster.replication_source_identifier
        ),
    }


def _by_arn_or_identifier(model: type[Model], ref: str) -> Any:
    """AWS names a replication source by identifier in-region and by ARN across
    regions; find the mirrored row either way."""
    if not ref:
        return None
    if ref.startswith("arn:"):
        return model.objects.filter(arn=ref).first()
    return model.objects.filter(identifier=ref).first()


def restore_window(
    earliest: datetime | None, latest: datetime | None, now: datetime | None = None
) -> dict[str, Any] | None:
    """Geometry of the restorable-window bar: the window (earliest..latest) placed on a
    scale that ends now and starts at the earliest point or 35 days ago (AWS's maximum
    retention), as percentages an SVG can use without inline styles."""
    if earliest is None or latest is None:
        return None
    now = now or timezone.now()
    start = min(earliest, now - timedelta(days=35))
    span = (now - start).total_seconds() or 1.0

    def pct(t: datetime) -> float:
        return round(max(0.0, min(100.0, (t - start).total_seconds() / span * 100)), 2)

    return {
        "earliest": earliest,
        "latest": latest,
        "scale_start": start,
        "x": pct(earliest),
        "width": max(0.5, round(pct(latest) - pct(earliest), 2)),
        "latest_x": pct(latest),
        "gap": now - latest,
        "length": latest - earliest,
    }


def get_instance(pk: int) -> models.DbInstance:
    return get_object_or_404(
        models.DbInstance.objects.select_related("account", "cluster", "replica_source"),
        pk=pk,
    )


# Who does each job, by management model. The page highlights the instance's column.
RESPONSIBILITY_MODELS = ("RDS (AWS-managed)", "RDS Custom", "Self-managed (EC2)")
RESPONSIBILITY = (
    (
        "OS and database patching",
        (
            "AWS, in the maintenance window",
            "You: AWS publishes engine versions, you apply OS and database patches",
            "You",
        ),
    ),
    (
        "Backups and point-in-time restore",
        (
            "AWS: automated backups and PITR",
            "RDS Custom automation (stops while automation is paused)",
            "You",
        ),
    ),
    (
        "High availability",
        (
            "AWS: Multi-AZ failover",
            "RDS Custom automation replaces failed hosts (stops while paused)",
            "You",
        ),
    ),
    (
        "Monitoring",
        (
            "AWS metrics and events; the alarms are yours",
            "Shared: AWS watches the support perimeter, you watch the database",
            "You",
        ),
    ),
)


def responsibility(instance: models.DbInstance) -> dict[str, Any]:
    """The responsibility matrix with this instance's column marked, and whether RDS
    Custom automation is paused (then its automated jobs are, in effect, yours)."""
    return {
        "models": RESPONSIBILITY_MODELS,
        "current": 1 if instance.is_custom else 0,
        "rows": RESPONSIBILITY,
        "paused": instance.is_custom and instance.automation_mode == "all-paused",
    }


def instance_context(instance: models.DbInstance) -> dict[str, Any]:
    replicas = list(instance.replicas.select_related("account").order_by("region", "identifier"))
    pg_names = [pg.get("name") for pg in instance.parameter_groups if pg.get("name")]
    groups: dict[str, models.ParameterGroup] = {
        g.identifier: g
        for g in models.ParameterGroup.objects.filter(
            account_id=instance.account_id,
            region=instance.region,
            # DB parameter groups (a cluster parameter group may bear the same name)
            scope=models.ParameterGroup.Scope.INSTANCE,
            identifier__in=pg_names,
        ).only("id", "identifier")
    }
    endpoints = list(instance.endpoints.all())
    targets = list(instance.proxy_targets.select_related("proxy"))
    ca_days = (
        (instance.ca_certificate_valid_till - timezone.now()).days
        if instance.ca_certificate_valid_till
        else None
    )
    tls_verdict = tls.for_instance(instance, groups)
    return {
        "tls": tls_verdict,
        "tls_enforced": tls_verdict.enforced,
        "replicas": replicas,
        "unmirrored_replicas": sorted(
            set(instance.read_replica_identifiers)
            - {r.identifier for r in replicas}
            - {r.arn for r in replicas}
        ),
        "parameter_groups": [
            {
                "name": pg.get("name"),
                "status": pg.get("status"),
                "group": groups.get(pg.get("name")),
            }
            for pg in instance.parameter_groups
        ],
        "endpoints": endpoints,
        "proxy_targets": targets,
        "snapshots": list(instance.snapshots.order_by("-created_time")[:20]),
        "responsibility": responsibility(instance),
        "ca_days_left": ca_days,
        "restore_window": restore_window(
            (instance.latest_restorable_time - timedelta(days=instance.backup_retention_period))
            if instance.latest_restorable_time and instance.backup_retention_period
            else None,
            instance.latest_restorable_time,
        ),
    }


def get_global_cluster(pk: int) -> models.GlobalCluster:
    return get_object_or_404(models.GlobalCluster.objects.select_related("account"), pk=pk)


def get_sync_run(pk: int) -> models.SyncRun:
    return get_object_or_404(models.SyncRun, pk=pk)


def global_context(gc: models.GlobalCluster) -> dict[str, Any]:
    clusters = list(gc.clusters.select_related("account").prefetch_related("instances"))
    by_arn = {c.arn: c for c in clusters}
    regions = []
    for member in sorted(gc.members, key=lambda m: (not m.get("is_writer"), m.get("region", ""))):
        cluster = by_arn.pop(member.get("cluster_arn", ""), None)
        regions.append({"member": member, "cluster": cluster})
    # Mirrored clusters that point at this global cluster but AWS's member list (as
    # last synced) does not name: shown so a mid-switchover state is visible.
    for cluster in by_arn.values():
        regions.append(
            {
                "member": {"region": cluster.region, "is_writer": cluster.is_global_writer},
                "cluster": cluster,
            }
        )
    return {"regions": regions}


# --- Caches --------------------------------------------------------------------------


def cache_lists() -> dict[str, list[Any]]:
    return {
        "groups": list(
            models.CacheReplicationGroup.objects.live()
            .select_related("account")
            .order_by("identifier")
        ),
        "clusters": list(
            models.CacheCluster.objects.live()
            .filter(replication_group__isnull=True)
            .select_related("account")
            .order_by("identifier")
        ),
        "serverless": list(
            models.ServerlessCache.objects.live().select_related("account").order_by("identifier")
        ),
    }


SESSION_HINTS = ("session",)


def looks_like_session_store(resource: Any) -> bool:
    """A cache is treated as a session store when its name or a tag value says so
    (e.g. ``purpose=sessions``): AWS has no such attribute."""
    text = " ".join([resource.identifier, *map(str, resource.tags.values())]).lower()
    return any(h in text for h in SESSION_HINTS)


# ElastiCache's default maxmemory-policy for Redis OSS and Valkey parameter groups.
DEFAULT_EVICTION_POLICY = "volatile-lru"


def eviction_policy(resource: Any) -> str | None:
    """The cache's maxmemory-policy from its mirrored parameter group. A default group
    is never modified (sync skips its hundreds of engine defaults), so its policy is
    ElastiCache's documented default."""
    if not resource.parameter_group_name:
        return None
    mirrored = (
        models.Parameter.objects.filter(
            group__account_id=resource.account_id,
            group__region=resource.region,
            group__identifier=resource.parameter_group_name,
            name="maxmemory-policy",
        )
        .values_list("value", flat=True)
        .first()
    )
    engine = (getattr(resource, "engine", "") or "").lower()
    if mirrored is None and resource.parameter_group_name.startswith("default."):
        return DEFAULT_EVICTION_POLICY if engine in ("redis", "valkey") else None
    return mirrored


# --- DMS -----------------------------------------------------------------------------


def dms_lists() -> dict[str, list[Any]]:
    return {
        "instances": list(
            models.DmsReplicationInstance.objects.live()
            .select_related("account")
            .annotate(task_count=Count("tasks"))
            .order_by("identifier")
        ),
        "endpoints": list(
            models.DmsEndpoint.objects.live()
            .select_related("account")
            .order_by("endpoint_type", "identifier")
        ),
        "tasks": list(
            models.DmsReplicationTask.objects.live()
            .select_related("account", "source_endpoint", "target_endpoint", "replication_instance")
            .order_by("identifier")
        ),
    }


# --- Parameter and option groups -----------------------------------------------------


def parameter_groups() -> QuerySet:
    return (
        models.ParameterGroup.objects.live()
        .select_related("account")
        .annotate(
            modified_count=Count("parameters", filter=Q(parameters__source="user")),
        )
        .order_by("scope", "identifier", "region")
    )


def group_usage(groups: list[models.ParameterGroup]) -> dict[int, list[dict[str, Any]]]:
    """Which resources use each group, matched by (account, region, name): three
    queries whatever the page size. Instances list their groups in a JSON column, so
    they are matched in Python."""
    keys = {(g.account_id, g.region, g.identifier): g.pk for g in groups}
    names = {g.identifier for g in groups}
    usage: dict[int, list[dict[str, Any]]] = {g.pk: [] for g in groups}
    if not groups:
        return usage
    from django.urls import reverse

    for c in (
        models.DbCluster.objects.live()
        .filter(parameter_group_name__in=names)
        .values("id", "identifier", "account_id", "region", "parameter_group_name")
    ):
        pk = keys.get((c["account_id"], c["region"], c["parameter_group_name"]))
        if pk:
            usage[pk].append(
                {"identifier": c["identifier"], "url": reverse("cluster", args=[c["id"]])}
            )
    for i in models.DbInstance.objects.live().values(
        "id", "identifier", "account_id", "region", "parameter_groups"
    ):
        for pg in i["parameter_groups"] or []:
            pk = keys.get((i["account_id"], i["region"], pg.get("name")))
            if pk:
                usage[pk].append(
                    {"identifier": i["identifier"], "url": reverse("instance", args=[i["id"]])}
                )
    for r in (
        models.CacheReplicationGroup.objects.live()
        .filter(parameter_group_name__in=names)
        .values("id", "identifier", "account_id", "region", "parameter_group_name")
    ):
        pk = keys.get((r["account_id"], r["region"], r["parameter_group_name"]))
        if pk:
            usage[pk].append(
                {"identifier": r["identifier"], "url": reverse("cache_group", args=[r["id"]])}
            )
    return usage


def default_group_for(group: models.ParameterGroup) -> models.ParameterGroup | None:
    """The engine family's default group (``default.<family>``), preferring the same
    account and region."""
    if group.is_default:
        return None
    candidates = models.ParameterGroup.objects.filter(
        family=group.family, scope=group.scope, identifier__startswith="default."
    ).order_by()
    return (
        candidates.filter(account_id=group.account_id, region=group.region).first()
        or candidates.first()
    )


def parameter_diff(a: models.ParameterGroup, b: models.ParameterGroup) -> list[dict[str, Any]]:
    """Parameters whose values differ between two groups (missing counts as differing),
    sorted by name. Two queries."""
    left = {p.name: p for p in a.parameters.all()}
    right = {p.name: p for p in b.parameters.all()}
    rows = []
    for name in sorted(left.keys() | right.keys()):
        lp, rp = left.get(name), right.get(name)
        lv = lp.value if lp else None
        rv = rp.value if rp else None
        if lv != rv or (lp is None) != (rp is None):
            rows.append({"name": name, "left": lp, "right": rp})
    return rows


def option_groups() -> QuerySet:
    return models.OptionGroup.objects.live().select_related("account").order_by("identifier")


def option_usage(groups: list[models.OptionGroup]) -> dict[int, list[dict[str, Any]]]:
    from django.urls import reverse

    keys = {(g.account_id, g.region, g.identifier): g.pk for g in groups}
    usage: dict[int, list[dict[str, Any]]] = {g.pk: [] for g in groups}
    if not groups:
        return usage
    for i in models.DbInstance.objects.live().values(
        "id", "identifier", "account_id", "region", "option_groups"
    ):
        for og in i["option_groups"] or []:
            pk = keys.get((i["account_id"], i["region"], og.get("name")))
            if pk:
                usage[pk].append(
                    {"identifier": i["identifier"], "url": reverse("instance", args=[i["id"]])}
                )
    return usage


def option_diff(a: models.OptionGroup, b: models.OptionGroup) -> list[dict[str, Any]]:
    """Options that differ between two option groups (present in one only, or with a
    different version, port or settings), sorted by name. No queries."""
    left = {o.get("name"): o for o in a.options}
    right = {o.get("name"): o for o in b.options}
    keys = ("version", "port", "settings", "persistent", "permanent")
    rows = []
    for name in sorted(n for n in left.keys() | right.keys() if n):
        lo, ro = left.get(name), right.get(name)
        if lo is None or ro is None or any(lo.get(k) != ro.get(k) for k in keys):
            rows.append({"name": name, "left": lo, "right": ro})
    return rows


# --- Snapshots -----------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotFilters:
    resource: str = ""
    snapshot_type: str = ""
    older_than_days: int | None = None
    newer_than_days: int | None = None
    encrypted: str = ""  # "yes" / "no" / ""
    exposure: str = ""  # "shared" / "public" / ""
    region: str = ""


def snapshots(f: SnapshotFilters) -> QuerySet:
    """Source snapshots (not copies of a mirrored snapshot) matching the filters; their
    copies are loaded per page by ``snapshot_copies``."""
    qs = models.DbSnapshot.objects.live().select_related("account", "cluster", "instance")
    qs = qs.exclude(source_snapshot_arn__in=models.DbSnapshot.objects.values("arn"))
    if f.resource:
        qs = qs.filter(
            Q(source_identifier__icontains=f.resource) | Q(identifier__icontains=f.resource)
        )
    if f.snapshot_type:
        qs = qs.filter(snapshot_type=f.snapshot_type)
    now = timezone.now()
    if f.older_than_days is not None:
        qs = qs.filter(created_time__lt=now - timedelta(days=f.older_than_days))
    if f.newer_than_days is not None:
        qs = qs.filter(created_time__gte=now - timedelta(days=f.newer_than_days))
    if f.encrypted == "yes":
        qs = qs.filter(encrypted=True)
    elif f.encrypted == "no":
        qs = qs.filter(encrypted=False)
    if f.exposure == "public":
        qs = qs.filter(is_public=True)
    elif f.exposure == "shared":
        qs = qs.exclude(shared_with=[])
    if f.region:
        qs = qs.filter(region=f.region)
    return qs.order_by("-created_time", "identifier")


def snapshot_copies(sources: list[models.DbSnapshot]) -> dict[str, list[models.DbSnapshot]]:
    copies: dict[str, list[models.DbSnapshot]] = {s.arn: [] for s in sources}
    if not sources:
        return copies
    for c in (
        models.DbSnapshot.objects.live()
        .filter(source_snapshot_arn__in=list(copies))
        .select_related("account")
        .order_by("region")
    ):
        copies[c.source_snapshot_arn].append(c)
    return copies


def get_snapshot(pk: int) -> models.DbSnapshot:
    """One snapshot with what its page shows beside it (account, source resource)."""
    return get_object_or_404(
        models.DbSnapshot.objects.select_related("account", "cluster", "instance"), pk=pk
    )


def snapshot_context(snapshot: models.DbSnapshot) -> dict[str, Any]:
    """The snapshot page's surroundings, in a fixed number of queries: the snapshot it
    was copied from (when that one is mirrored) and its own copies, in any region or
    account (a copy names its source by ARN)."""
    source = (
        models.DbSnapshot.objects.filter(arn=snapshot.source_snapshot_arn)
        .select_related("account")
        .first()
        if snapshot.source_snapshot_arn
        else None
    )
    copies = list(
        models.DbSnapshot.objects.filter(source_snapshot_arn=snapshot.arn)
        .select_related("account")
        # Live copies first (NULL first on PostgreSQL and SQLite alike).
        .order_by(F("gone_at").asc(nulls_first=True), "region", "identifier")
    )
    return {"copied_from": source, "copies": copies}


# --- Sync history --------------------------------------------------------------------


def sync_runs() -> QuerySet:
    return models.SyncRun.objects.order_by("-started_at")


def count_by(qs: QuerySet, field_name: str) -> dict[str, int]:
    return dict(qs.values_list(field_name).annotate(n=Count("id")).order_by())
