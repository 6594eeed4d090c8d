"""Topology diagrams as server-side SVG geometry.

A diagram is a small layered graph: columns are layers (global cluster -> regional
clusters -> writer/readers -> cluster endpoints -> proxies), horizontal bands are
regions. Layout is computed here in Python (no JS, testable, CSP-friendly) and drawn by
``templates/estate/_topology_svg.html``. Edges between layers run left to right;
edges inside one layer (read replicas, clone lineage) are drawn as arcs on the layer's
left side, labelled, cross-region ones saying so.

Loading is bounded: a handful of queries per diagram whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.urls import reverse

from estate import models
from estate.status import badge

NODE_W = 216
NODE_H = 34
ROW = 42  # vertical pitch of nodes in a column
COL = 256  # horizontal pitch of layers
LEFT = 112  # room for region labels and replica/clone arcs
TOP = 36  # room for column headings
BAND_GAP = 22

LAYERS = ["global", "cluster", "instance", "endpoint", "proxy"]
LAYER_TITLES = {
    "global": "Global database",
    "cluster": "Clusters",
    "instance": "Writer / readers",
    "endpoint": "Endpoints",
    "proxy": "RDS Proxies",
}


@dataclass
class Node:
    key: str
    layer: str
    region: str
    label: str
    sub: str
    status: str
    url: str
    gone: bool = False
    emphasis: bool = False  # writer / the diagram's subject
    detail: str = ""  # extra facts for the hover title only
    x: float = 0
    y: float = 0

    @property
    def tone(self) -> str:
        return badge(self.status, gone=self.gone)["tone"]

    @property
    def short_label(self) -> str:
        return self.label if len(self.label) <= 28 else self.label[:26] + "…"

    @property
    def short_sub(self) -> str:
        return self.sub if len(self.sub) <= 36 else self.sub[:34] + "…"


@dataclass
class Edge:
    src: str
    dst: str
    label: str = ""
    kind: str = "member"  # member / replica / clone / proxy / global
    cross_region: bool = False
    title: str = ""  # hover text of the label
    path: str = ""
    label_x: float = 0
    label_y: float = 0


@dataclass
class Band:
    region: str
    y: float
    height: float


@dataclass
class Diagram:
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)
    width: float = 0
    height: float = 0

    def add(self, node: Node) -> Node:
        self.nodes.setdefault(node.key, node)
        return self.nodes[node.key]

    def link(self, src: str, dst: str, **kw: Any) -> None:
        if src in self.nodes and dst in self.nodes and src != dst:
            self.edges.append(Edge(src, dst, **kw))

    @property
    def node_list(self) -> list[Node]:
        return list(self.nodes.values())


def _cluster_node(c: models.DbCluster, subject: bool = False) -> Node:
    # The global role goes into the node, not on the edge: the gap between layers is
    # too narrow for edge labels to stay readable.
    role = ""
    if c.global_cluster_id:
        role = "global primary" if c.is_global_writer else "global secondary"
    size = (
        f"Serverless v2 {c.serverless_v2_min_acu:g}–{c.serverless_v2_max_acu:g} ACU"
        if c.is_serverless_v2
        else ""
    )
    return Node(
        key=f"cluster:{c.pk}",
        layer="cluster",
        region=c.region,
        label=c.identifier,
        sub=" · ".join(p for p in (role, size, f"{c.engine} {c.engine_version}") if p),
        detail=c.engine_mode,
        status=c.status,
        url=reverse("cluster", args=[c.pk]),
        gone=c.is_gone,
        emphasis=subject,
    )


def _instance_node(i: models.DbInstance) -> Node:
    if i.cluster_id:
        role = "writer" if i.is_cluster_writer else f"reader · tier {i.promotion_tier}"
    elif i.is_replica:
        role = "read replica"
    else:
        role = "primary" + (" · Multi-AZ" if i.multi_az else "")
    return Node(
        key=f"instance:{i.pk}",
        layer="instance",
        region=i.region,
        label=i.identifier,
        sub=f"{role} · {i.availability_zone}",
        detail=i.instance_class,
        status=i.status,
        url=reverse("instance", args=[i.pk]),
        gone=i.is_gone,
        emphasis=bool(i.cluster_id and i.is_cluster_writer),
    )


def _endpoint_node(e: models.DbEndpoint, owner_url: str) -> Node:
    if e.kind == models.EndpointKind.CUSTOM:
        members = e.static_members or (
            ["all except " + ", ".join(e.excluded_members)] if e.excluded_members else ["any"]
        )
        sub = f"custom {e.custom_type or ''}: {', '.join(members)}"
        label = e.identifier
    else:
        sub = e.address
        label = e.get_kind_display()
    return Node(
        key=f"endpoint:{e.pk}",
        layer="endpoint",
        region=e.region,
        label=label,
        sub=sub,
        status=e.status,
        url=owner_url,
        gone=e.is_gone,
    )


def _proxy_node(p: models.DbProxy) -> Node:
    facts = [p.engine_family.lower()]
    if p.require_tls:
        facts.append("TLS")
    if p.iam_auth_required:
        facts.append("IAM auth")
    return Node(
        key=f"proxy:{p.pk}",
        layer="proxy",
        region=p.region,
        label=p.identifier,
        sub=" · ".join(facts),
        status=p.status,
        url=reverse("proxy", args=[p.pk]),
        gone=p.is_gone,
    )


def _add_clusters(d: Diagram, clusters: list[models.DbCluster], subject_pk: int | None) -> None:
    """Clusters with their instances, endpoints and proxies (three queries)."""
    ids = [c.pk for c in clusters]
    by_id = {c.pk: c for c in clusters}
    for c in clusters:
        d.add(_cluster_node(c, subject=c.pk == subject_pk))
    instances = list(
        models.DbInstance.objects.filter(cluster_id__in=ids).order_by(
            "cluster_id", "-is_cluster_writer", "promotion_tier", "identifier"
        )
    )
    for i in instances:
        d.add(_instance_node(i))
        d.link(f"cluster:{i.cluster_id}", f"instance:{i.pk}", kind="member")
    writers: dict[int, list[int]] = {}
    readers: dict[int, list[int]] = {}
    by_identifier: dict[tuple[int, str], int] = {}
    for i in instances:
        (writers if i.is_cluster_writer else readers).setdefault(i.cluster_id, []).append(i.pk)
        by_identifier[(i.cluster_id, i.identifier)] = i.pk
    rank = {models.EndpointKind.CLUSTER_WRITER: 0, models.EndpointKind.CLUSTER_READER: 1}
    endpoints = sorted(
        models.DbEndpoint.objects.filter(cluster_id__in=ids).exclude(
            kind=models.EndpointKind.INSTANCE
        ),
        # Writer, reader, then custom endpoints: the order of the instances they serve.
        key=lambda e: (e.cluster_id, rank.get(e.kind, 2), e.identifier),
    )
    writer_endpoint: dict[int, str] = {}
    for e in endpoints:
        node = d.add(_endpoint_node(e, reverse("cluster", args=[e.cluster_id])))
        if e.kind == models.EndpointKind.CLUSTER_WRITER:
            writer_endpoint[e.cluster_id] = node.key
            members = writers.get(e.cluster_id, [])
        elif e.kind == models.EndpointKind.CLUSTER_READER:
            members = readers.get(e.cluster_id, []) or writers.get(e.cluster_id, [])
        elif e.static_members:
            members = [
                by_identifier[(e.cluster_id, m)]
                for m in e.static_members
                if (e.cluster_id, m) in by_identifier
            ]
        else:
            excluded = set(e.excluded_members)
            pool = (
                readers.get(e.cluster_id, [])
                if e.custom_type == "READER"
                else writers.get(e.cluster_id, []) + readers.get(e.cluster_id, [])
            )
            members = [
                pk
                for (cid, ident), pk in by_identifier.items()
                if cid == e.cluster_id and ident not in excluded and pk in pool
            ]
        for pk in members:
            d.link(f"instance:{pk}", node.key, kind="member")
    targets = models.DbProxyTarget.objects.filter(
        Q(cluster_id__in=ids) | Q(instance__cluster_id__in=ids)
    ).select_related("proxy")
    for t in targets:
        pnode = d.add(_proxy_node(t.proxy))
        if t.cluster_id and t.target_type == "TRACKED_CLUSTER":
            src = writer_endpoint.get(t.cluster_id, f"cluster:{t.cluster_id}")
            d.link(src, pnode.key, kind="proxy")
    # Clone lineage and cross-region replica clusters among the drawn clusters.
    arns = {c.arn: c for c in clusters}
    idents = {(c.account_id, c.region, c.identifier): c for c in clusters}
    for c in clusters:
        if c.clone_source_id and c.clone_source_id in by_id:
            d.link(f"cluster:{c.clone_source_id}", f"cluster:{c.pk}", kind="clone", label="clone")
        ref = c.replication_source_identifier
        src = arns.get(ref) or idents.get((c.account_id, c.region, ref))
        if src is not None:
            cross = src.region != c.region
            d.link(
                f"cluster:{src.pk}",
                f"cluster:{c.pk}",
                kind="replica",
                cross_region=cross,
                label="cross-region" if cross else "replica",
                title=f"replica {src.region} → {c.region}",
            )


def _add_instance_family(d: Diagram, instances: list[models.DbInstance], subject_pk: int) -> None:
    ids = [i.pk for i in instances]
    for i in instances:
        n = d.add(_instance_node(i))
        n.emphasis = i.pk == subject_pk
    for i in instances:
        if i.replica_source_id and i.replica_source_id in ids:
            src = next(s for s in instances if s.pk == i.replica_source_id)
            cross = src.region != i.region
            d.link(
                f"instance:{src.pk}",
                f"instance:{i.pk}",
                kind="replica",
                cross_region=cross,
                label="cross-region" if cross else "replica",
                title=f"replica {src.region} → {i.region}",
            )
    for t in models.DbProxyTarget.objects.filter(instance_id__in=ids).select_related("proxy"):
        pnode = d.add(_proxy_node(t.proxy))
        d.link(f"instance:{t.instance_id}", pnode.key, kind="proxy")


def for_global(gc: models.GlobalCluster) -> Diagram:
    d = Diagram(title=f"Global database {gc.identifier}")
    d.add(
        Node(
            key=f"global:{gc.pk}",
            layer="global",
            region=gc.writer_region or gc.region,
            label=gc.identifier,
            sub=f"{gc.engine} {gc.engine_version}",
            status=gc.status,
            url=reverse("global_cluster", args=[gc.pk]),
            gone=gc.is_gone,
            emphasis=True,
        )
    )
    clusters = list(gc.clusters.order_by("-is_global_writer", "region"))
    _add_clusters(d, clusters, None)
    for c in clusters:
        d.link(
            f"global:{gc.pk}",
            f"cluster:{c.pk}",
            kind="global",
            title="primary" if c.is_global_writer else "secondary",
        )
        if c.is_global_writer:
            d.nodes[f"cluster:{c.pk}"].emphasis = True
    return layout(d)


def for_cluster(cluster: models.DbCluster) -> Diagram:
    """A cluster with its clone source, clones and replica clusters (and its global
    cluster as context when it belongs to one)."""
    d = Diagram(title=f"Cluster {cluster.identifier}")
    related = list(
        models.DbCluster.objects.filter(
            Q(pk=cluster.pk)
            | Q(pk=cluster.clone_source_id or 0)
            | Q(clone_source=cluster)
            | Q(replication_source_identifier__in=[cluster.arn, cluster.identifier])
            | Q(arn=cluster.replication_source_identifier or "-")
        ).order_by("region", "identifier")
    )
    gc = cluster.global_cluster
    if gc is not None:
        d.add(
            Node(
                key=f"global:{gc.pk}",
                layer="global",
                region=cluster.region,
                label=gc.identifier,
                sub=f"global · writer in {gc.writer_region or '?'}",
                status=gc.status,
                url=reverse("global_cluster", args=[gc.pk]),
                gone=gc.is_gone,
            )
        )
    _add_clusters(d, related, cluster.pk)
    if gc is not None:
        d.link(
            f"global:{gc.pk}",
            f"cluster:{cluster.pk}",
            kind="global",
            title="primary" if cluster.is_global_writer else "secondary",
        )
    return layout(d)


def for_instance(instance: models.DbInstance) -> Diagram:
    """A standalone instance's replication family: its root source and all replicas
    (two levels of cascading replicas, as RDS allows for MySQL/MariaDB)."""
    root = instance
    for _ in range(3):  # bounded walk up to the root source
        if root.replica_source_id is None:
            break
        root = models.DbInstance.objects.get(pk=root.replica_source_id)
    family = [root]
    frontier = [root.pk]
    for _ in range(3):
        children = list(models.DbInstance.objects.filter(replica_source_id__in=frontier))
        if not children:
            break
        family.extend(children)
        frontier = [c.pk for c in children]
    d = Diagram(title=f"Replication family of {root.identifier}")
    _add_instance_family(d, family, instance.pk)
    return layout(d)


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return f"M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"


def layout(d: Diagram) -> Diagram:
    """Place nodes: one column per layer in use, one band per region (the global node
    sits beside all bands); route edges."""
    layers = [name for name in LAYERS if any(n.layer == name for n in d.nodes.values())]
    col_x = {name: LEFT + idx * COL for idx, name in enumerate(layers)}
    d.columns = [{"title": LAYER_TITLES[name], "x": col_x[name]} for name in layers]
    # Writer region first, then alphabetical: the primary reads at the top.
    regions: list[str] = []
    for n in sorted(
        (n for n in d.nodes.values() if n.layer != "global"),
        key=lambda n: (not n.emphasis, n.layer != "cluster", n.region),
    ):
        if n.region not in regions:
            regions.append(n.region)
    y = TOP
    for region in regions:
        rows = 0
        for name in layers:
            if name == "global":
                continue
            members = [n for n in d.nodes.values() if n.layer == name and n.region == region]
            for idx, n in enumerate(members):
                n.x = col_x[name]
                n.y = y + 8 + idx * ROW
            rows = max(rows, len(members))
        height = max(rows, 1) * ROW + 8
        d.bands.append(Band(region=region, y=y, height=height))
        y += height + BAND_GAP
    total_h = y
    for n in d.nodes.values():
        if n.layer == "global":
            n.x = col_x["global"]
            n.y = max(TOP + 8, (TOP + total_h) / 2 - NODE_H / 2 - BAND_GAP / 2)
    for e in d.edges:
        a, b = d.nodes[e.src], d.nodes[e.dst]
        if a.layer == b.layer:
            # Arc on the column's left side, bulging by the distance it spans.
            x = a.x
            y1, y2 = a.y + NODE_H / 2, b.y + NODE_H / 2
            bulge = min(110.0, 30 + abs(y2 - y1) / 6)
            e.path = f"M{x:.0f},{y1:.0f} C{x - bulge:.0f},{y1:.0f} {x - bulge:.0f},{y2:.0f} {x:.0f},{y2:.0f}"
            e.label_x = max(34.0, x - bulge * 0.6)
            e.label_y = (y1 + y2) / 2
        else:
            left, right = (a, b) if a.x < b.x else (b, a)
            x1, y1 = left.x + NODE_W, left.y + NODE_H / 2
            x2, y2 = right.x, right.y + NODE_H / 2
            e.path = _curve(x1, y1, x2, y2)
            # Labels sit near the far end: edges fanning out of one node (a global
            # cluster's secondaries) would otherwise stack their labels at the start.
            e.label_x = x1 + (x2 - x1) * 0.72
            e.label_y = y1 + (y2 - y1) * 0.9 - 4
    d.width = LEFT + len(layers) * COL
    d.height = total_h
    return d
