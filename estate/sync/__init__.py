"""AWS -> the mirror. ``sync_scope`` is the one entry point.

Kinds (``KINDS``, in the order each account/region syncs them):

=================  ==========================================================================
global_clusters    Aurora global databases (mirrored under their writer's region)
clusters           Aurora and Multi-AZ DB clusters (members, writer flags, promotion tiers)
instances          DB instances, linked to their cluster and read-replica source
proxies            RDS Proxies, default target group pool settings and targets
endpoints          cluster writer/reader/custom endpoints, instance endpoints, proxy
                   default and additional endpoints
snapshots          instance and cluster snapshots (manual/automated/awsbackup; sharing
                   of manual ones)
parameter_groups   DB and cluster parameter groups; parameters of custom groups
option_groups      option groups with their options
caches             ElastiCache replication groups, cache clusters, serverless caches,
                   cache parameter groups
dms                DMS replication instances, endpoints, tasks (+ table statistics summary)
=================  ==========================================================================

Guarantees: every list pages; rows are upserted in bulk by ARN and only when they
changed (a resync of an unchanged estate writes no mirror row); resources AWS stopped
reporting get ``gone_at`` (cleared if they come back); one failing listing is recorded in
``SyncRun.errors`` and the rest goes on; accounts and regions run concurrently (at most
``SYNC_MAX_WORKERS`` threads), paced per account/region by ``estate.aws``; two runs never
sync the same account/region/kind at once (see ``estate.sync.leases``). Every kind carries
its tags: from its describe answer's ``TagList`` where AWS includes one, otherwise from one
Resource Groups Tagging API pass per account/region, and a resource whose tags could not be
read is marked so (``tags_error``), never shown as untagged (see ``estate.sync.tagging``).
"""

from __future__ import annotations

from django.utils import timezone

from estate.models import Account, SyncRun
from estate.sync.engine import KIND_FETCHERS, Unit, execute

KINDS: tuple[str, ...] = tuple(KIND_FETCHERS)


class ScopeError(ValueError):
    """The requested scope names an account, region or kind Estate does not know."""


def scope_dict(
    account_ids: list[str] | None, regions: list[str] | None, kinds: list[str] | None
) -> dict[str, list[str]]:
    """The scope as stored on a SyncRun (an empty list means all)."""
    return {
        "accounts": sorted(set(account_ids or [])),
        "regions": sorted(set(regions or [])),
        "kinds": [k for k in KINDS if k in set(kinds or [])],
    }


def resolve_scope(
    account_ids: list[str] | None = None,
    regions: list[str] | None = None,
    kinds: list[str] | None = None,
) -> tuple[list[Unit], list[str]]:
    """The (account, region) units and kinds a scope covers; ScopeError if it names
    anything unknown. No accounts named = every enabled account."""
    unknown_kinds = sorted(set(kinds or []) - set(KINDS))
    if unknown_kinds:
        raise ScopeError(
            f"Unknown kind(s): {', '.join(unknown_kinds)}. Known kinds: {', '.join(KINDS)}"
        )
    chosen_kinds = [k for k in KINDS if not kinds or k in kinds]
    if account_ids:
        accounts = list(Account.objects.filter(account_id__in=account_ids))
        missing = sorted(set(account_ids) - {a.account_id for a in accounts})
        if missing:
            raise ScopeError(f"Unknown account(s): {', '.join(missing)}")
        disabled = sorted(a.account_id for a in accounts if not a.enabled)
        if disabled:
            raise ScopeError(f"Account(s) disabled in Estate: {', '.join(disabled)}")
    else:
        accounts = list(Account.objects.filter(enabled=True))
    accounts.sort(key=lambda a: a.account_id)
    if regions:
        configured = {r for a in accounts for r in a.regions or []}
        unknown_regions = sorted(set(regions) - configured)
        if unknown_regions:
            raise ScopeError(
                f"Region(s) not configured for the selected account(s): "
                f"{', '.join(unknown_regions)}. Configured: {', '.join(sorted(configured)) or 'none'}"
            )
    units = [
        Unit(account, region)
        for account in accounts
        for region in dict.fromkeys(account.regions or [])
        if not regions or region in regions
    ]
    return units, chosen_kinds


def sync_scope(
    *,
    account_ids: list[str] | None = None,
    regions: list[str] | None = None,
    kinds: list[str] | None = None,
    triggered_by: str = "",
    wait_seconds: float = 0.0,
) -> SyncRun:
    """Sync the scope now, in this thread, and return the finished SyncRun (status
    succeeded / partial / failed, or skipped when another run holds part of the scope).
    ``wait_seconds`` > 0 waits up to that long for such a run to finish instead of
    being skipped at once (e.g. a targeted resync after an operation).
    Raises ScopeError, before creating any run, for an unknown account/region/kind."""
    units, chosen = resolve_scope(account_ids, regions, kinds)
    run = SyncRun.objects.create(
        status=SyncRun.Status.RUNNING,
        scope=scope_dict(account_ids, regions, kinds),
        triggered_by=triggered_by,
    )
    return execute(run, units, chosen, wait_seconds=wait_seconds)


def run_queued(run: SyncRun) -> SyncRun:
    """Execute a run created earlier (``services.sync_now``) with its stored scope. A
    scope that no longer resolves (an account was removed) fails the run with why."""
    scope = run.scope or {}
    try:
        units, chosen = resolve_scope(
            scope.get("accounts") or None, scope.get("regions") or None, scope.get("kinds") or None
        )
    except ScopeError as exc:
        run.status = SyncRun.Status.FAILED
        run.message = str(exc)
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "message", "finished_at"])
        return run
    return execute(run, units, chosen)


__all__ = ["KINDS", "ScopeError", "resolve_scope", "run_queued", "scope_dict", "sync_scope"]
