"""Estate inventory services: things with side effects that views and tasks call."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from estate.models import SyncRun
from estate.sync import resolve_scope, scope_dict
from estate.sync.leases import lease_seconds


def _overlaps(a: dict, b: dict) -> bool:
    """Two stored scopes overlap when every dimension intersects (empty = all)."""
    for key in ("accounts", "regions", "kinds"):
        left, right = set(a.get(key) or []), set(b.get(key) or [])
        if left and right and not left & right:
            return False
    return True


def sync_now(
    *,
    triggered_by: str,
    account_ids: list[str] | None = None,
    regions: list[str] | None = None,
    kinds: list[str] | None = None,
) -> SyncRun:
    """Queue a sync of the scope and return its SyncRun (status ``queued``; poll it for
    progress). If a queued or running sync already covers an overlapping scope, return
    that one instead of starting another. Raises ``estate.sync.ScopeError`` for an
    unknown account, region or kind."""
    from estate.tasks import sync_run_task

    resolve_scope(account_ids, regions, kinds)  # validate before creating anything
    scope = scope_dict(account_ids, regions, kinds)
    # A run active for longer than a lease is presumed dead (its worker crashed).
    recent = timezone.now() - timedelta(seconds=lease_seconds())
    for active in SyncRun.objects.filter(status__in=SyncRun.ACTIVE, started_at__gte=recent):
        if _overlaps(active.scope or {}, scope):
            return active
    run = SyncRun.objects.create(
        status=SyncRun.Status.QUEUED, scope=scope, triggered_by=triggered_by
    )
    sync_run_task.delay_on_commit(run.pk)
    return run


def run_sync(sync_run_id: int) -> SyncRun | None:
    """Execute a queued SyncRun (the body of ``sync_run_task``). A run that is no longer
    queued (already picked up by another worker, or finished) is left alone."""
    from estate.sync import run_queued

    claimed = SyncRun.objects.filter(pk=sync_run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    return run_queued(SyncRun.objects.get(pk=sync_run_id))
