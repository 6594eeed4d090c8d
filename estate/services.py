"""Estate inventory services: things with side effects that views and tasks call.

Besides syncs on demand, the debounced *targeted resync*: what an operation changed is
mirrored again soon after it succeeds (once per burst and scope, see
``schedule_resync``); the operations app asks for it, the mirror owns it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from estate.models import SyncRun
from estate.sync import resolve_scope, scope_dict
from estate.sync.leases import lease_seconds

log = logging.getLogger(__name__)


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


# --- targeted resync -----------------------------------------------------------------


def _resync_key(account_id: str, region: str, kinds: list[str]) -> str:
    return f"operations:resync:{account_id}:{region}:{','.join(sorted(kinds))}"


def schedule_resync(account_id: str, region: str, kinds: list[str], op_id: int) -> None:
    """Resync ``kinds`` of one account/region soon, once per burst.

    The first request schedules a sync ``OPERATIONS_RESYNC_DELAY_SECONDS`` later (a
    single operation's result shows within seconds). Requests made before it starts ride
    along, and each pushes it back by that delay while they keep coming (a sync in the
    middle of a burst would be stale at once, and it would take a worker slot from the
    burst's own operations), but never more than ``OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS``
    after the first. One scope is not synced more often than that interval either: so
    hundreds of operations finishing together cost a sync per scope, not hundreds."""
    from estate.tasks import resync_scope_task

    delay = float(getattr(settings, "OPERATIONS_RESYNC_DELAY_SECONDS", 1))
    interval = resync_interval()
    key = _resync_key(account_id, region, kinds)
    now = time.time()
    keep = max(1, int(delay + interval) + 60)
    if not cache.add(key, now, timeout=keep):
        # A sync of this scope is pending (it has not started: a started one deletes
        # the key before reading AWS, so it sees this operation's change): push it
        # back, unless this process just did. In a burst, one cache round trip per
        # operation instead of three; the sync starts at most QUIET_SLACK early.
        if time.monotonic() - _quiet_pushed.get(key, float("-inf")) >= QUIET_SLACK_SECONDS:
            _push_quiet(key, now + delay, keep)
        return
    _push_quiet(key, now + delay, keep)
    last = cache.get(f"{key}:last")
    if last is not None:
        delay = max(delay, float(last) + interval - now)
    resync_scope_task.apply_async((account_id, region, sorted(kinds), op_id), countdown=delay)


# How stale a pending sync's "quiet" time may be left by one process during a burst.
QUIET_SLACK_SECONDS = 0.1
_quiet_pushed: dict[str, float] = {}


def _push_quiet(key: str, until: float, keep: int) -> None:
    cache.set(f"{key}:quiet", until, timeout=keep)
    _quiet_pushed[key] = time.monotonic()


# A targeted resync skipped because another sync held its scope is tried again, every
# interval, this many times (a dead worker's sync lease lasts SYNC_LEASE_SECONDS).
RESYNC_ATTEMPTS = 60


def resync_interval() -> float:
    return float(getattr(settings, "OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS", 15))


def resync_again(run: Any, attempt: int) -> bool:
    """Whether a targeted resync that ended as ``run`` should be tried again."""
    from estate.models import SyncRun

    skipped = run is not None and getattr(run, "status", None) == SyncRun.Status.SKIPPED
    if skipped and attempt + 1 >= RESYNC_ATTEMPTS:
        log.warning(
            "resync of %s gave up after %d attempts: %s", run.scope, attempt + 1, run.message
        )
        return False
    return skipped


def resync_postponed(account_id: str, region: str, kinds: list[str]) -> float:
    """Seconds the scheduled resync of this scope should still wait: requests kept coming
    (the burst goes on), and the first one is less than the interval old. 0: sync now."""
    interval = resync_interval()
    key = _resync_key(account_id, region, kinds)
    first, quiet = cache.get(key), cache.get(f"{key}:quiet")
    if first is None or quiet is None:
        return 0.0
    until = min(float(quiet), float(first) + interval)
    return max(0.0, until - time.time())


def resync_scope(account_id: str, region: str, kinds: list[str], op_id: int | None) -> Any:
    key = _resync_key(account_id, region, kinds)
    # Later requests must schedule a new sync: this one may already have read AWS.
    cache.delete_many([key, f"{key}:quiet"])
    cache.set(f"{key}:last", time.time(), timeout=3600)
    from estate import sync

    return sync.sync_scope(
        account_ids=[account_id],
        regions=[region],
        kinds=kinds,
        triggered_by=f"operation #{op_id}" if op_id else "operation",
    )
