"""Relations that cross account/region units, resolved after every unit is written:
read replicas (in-region by identifier, cross-region by ARN; also a replica listed
before its source in the same page), clusters -> their global cluster, and clones ->
the cluster they were cloned from.

Both compare before writing, so a resync of an unchanged estate writes nothing here."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db import transaction
from django.db.models import Q

from estate.models import DbCluster, DbInstance, GlobalCluster
from estate.sync.store import ID_BATCH, UPDATE_BATCH, chunked

UnitKey = tuple[int, str]  # (Account pk, region)


def _in_units(units: Iterable[UnitKey]) -> Q:
    return reduce(or_, (Q(account_id=a, region=r) for a, r in units), Q(pk__in=[]))


def link_replicas(units: list[UnitKey]) -> int:
    """Set ``DbInstance.replica_source`` from ``replica_source_identifier``."""
    rows = list(
        DbInstance.objects.filter(_in_units(units))
        .filter(~Q(replica_source_identifier="") | Q(replica_source__isnull=False))
        .values_list("id", "account_id", "region", "replica_source_identifier", "replica_source_id")
    )
    if not rows:
        return 0
    arns = {src for *_, src, _ in rows if src.startswith("arn:")}
    idents = {src for *_, src, _ in rows if src and not src.startswith("arn:")}
    by_arn: dict[str, int] = {}
    for batch in chunked(sorted(arns), ID_BATCH):
        by_arn.update(
            DbInstance.objects.filter(arn__in=batch, gone_at__isnull=True).values_list("arn", "id")
        )
    by_ident: dict[tuple[int, str, str], int] = {}
    for batch in chunked(sorted(idents), ID_BATCH):
        for pk, account_id, region, ident in DbInstance.objects.filter(
            identifier__in=batch, gone_at__isnull=True
        ).values_list("id", "account_id", "region", "identifier"):
            by_ident[(account_id, region, ident)] = pk
    changed = []
    for pk, account_id, region, source, current in rows:
        if source.startswith("arn:"):
            wanted = by_arn.get(source)
        else:
            wanted = by_ident.get((account_id, region, source)) if source else None
        if wanted != current:
            changed.append(DbInstance(id=pk, replica_source_id=wanted))
    if changed:
        with transaction.atomic():
            DbInstance.objects.bulk_update(changed, ["replica_source_id"], batch_size=UPDATE_BATCH)
    return len(changed)


def link_global_clusters(units: list[UnitKey]) -> int:
    """Set ``DbCluster.global_cluster`` and ``is_global_writer`` from the global
    clusters' member lists (the global cluster may live in another unit)."""
    accounts = {a for a, _ in units}
    membership: dict[str, tuple[int, bool]] = {}
    for pk, members in GlobalCluster.objects.filter(
        account_id__in=accounts, gone_at__isnull=True
    ).values_list("id", "members"):
        for member in members or []:
            membership[member.get("cluster_arn", "")] = (pk, bool(member.get("is_writer")))
    changed = []
    for pk, arn, current, writer in DbCluster.objects.filter(_in_units(units)).values_list(
        "id", "arn", "global_cluster_id", "is_global_writer"
    ):
        wanted, wanted_writer = membership.get(arn, (None, False))
        if (wanted, wanted_writer) != (current, writer):
            changed.append(
                DbCluster(id=pk, global_cluster_id=wanted, is_global_writer=wanted_writer)
            )
    if changed:
        with transaction.atomic():
            DbCluster.objects.bulk_update(
                changed, ["global_cluster_id", "is_global_writer"], batch_size=UPDATE_BATCH
            )
    return len(changed)


def link_clones(units: list[UnitKey]) -> int:
    """Set ``DbCluster.clone_source``. AWS only says which clusters share storage (the
    same ``CloneGroupId``), not who cloned whom; the group's oldest live cluster is the
    source (a clone cannot predate what it copies), and the others are its clones."""
    rows = list(
        DbCluster.objects.filter(_in_units(units))
        .filter(~Q(clone_group_id="") | Q(clone_source__isnull=False))
        .values_list("id", "clone_group_id", "clone_source_id")
    )
    groups = {group for _, group, _ in rows if group}
    oldest: dict[str, int] = {}
    if groups:
        members = (
            DbCluster.objects.filter(clone_group_id__in=groups, gone_at__isnull=True)
            .order_by("clone_group_id", "created_time", "id")
            .values_list("clone_group_id", "id")
        )
        for group, pk in members:
            oldest.setdefault(group, pk)
    changed = []
    for pk, group, current in rows:
        source = oldest.get(group) if group else None
        wanted = None if source == pk else source
        if wanted != current:
            changed.append(DbCluster(id=pk, clone_source_id=wanted))
    if changed:
        with transaction.atomic():
            DbCluster.objects.bulk_update(changed, ["clone_source_id"], batch_size=UPDATE_BATCH)
    return len(changed)
