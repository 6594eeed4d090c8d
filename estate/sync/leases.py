"""Leases: two syncs of the same account, region and kind never run at once.

A lease is a ``SyncLease`` row per (account, region, kind), claimed with a conditional
``UPDATE ... WHERE holder IS NULL OR expires_at <= now``. That single statement is
atomic on SQLite and PostgreSQL alike, so the claim holds across threads, processes and
machines without advisory locks. Leases are claimed one row at a time in a fixed order,
each in its own statement, so two claimers never deadlock on PostgreSQL; a run that
cannot claim its whole scope gives back what it got and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from estate.models import SyncLease, SyncRun

LeaseKey = tuple[str, str, str]  # (account id, region, kind)


def lease_seconds() -> int:
    """How long a claim lasts without renewal: the longest a dead worker blocks a scope."""
    return int(getattr(settings, "SYNC_LEASE_SECONDS", 900))


def claim(run: SyncRun, keys: Iterable[LeaseKey]) -> SyncLease | None:
    """Claim every key for ``run``. Returns None on success, or the lease that another
    live run holds (and then ``run`` holds nothing)."""
    ordered = sorted(set(keys))
    now = timezone.now()
    SyncLease.objects.bulk_create(
        [SyncLease(account_id=a, region=r, kind=k, expires_at=now) for a, r, k in ordered],
        ignore_conflicts=True,
    )
    expires = now + timedelta(seconds=lease_seconds())
    for account_id, region, kind in ordered:
        claimed = (
            SyncLease.objects.filter(account_id=account_id, region=region, kind=kind)
            .filter(Q(holder__isnull=True) | Q(expires_at__lte=now) | Q(holder=run))
            .update(holder=run, expires_at=expires)
        )
        if not claimed:
            release(run)
            return (
                SyncLease.objects.filter(account_id=account_id, region=region, kind=kind)
                .select_related("holder")
                .first()
            )
    return None


def renew(run: SyncRun) -> None:
    expires = timezone.now() + timedelta(seconds=lease_seconds())
    SyncLease.objects.filter(holder=run).update(expires_at=expires)


def record_success(run: SyncRun, failed: Iterable[LeaseKey]) -> int:
    """Mark every scope ``run`` holds, except ``failed``, as last seen by ``run`` (at its
    start: sync read AWS after that instant, so the claim never overstates freshness).
    One UPDATE on the lease rows, which are bookkeeping: a resync of an unchanged estate
    still writes no mirror row."""
    leases = SyncLease.objects.filter(holder=run)
    for account_id, region, kind in set(failed):
        leases = leases.exclude(account_id=account_id, region=region, kind=kind)
    return leases.update(last_succeeded_run=run, last_succeeded_at=run.started_at)


def release(run: SyncRun) -> None:
    SyncLease.objects.filter(holder=run).update(holder=None, expires_at=timezone.now())
