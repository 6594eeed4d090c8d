"""Inventory tasks: thin, take ids, call a service."""

from __future__ import annotations

from celery import shared_task

from estate import services
from estate.sync import sync_scope


@shared_task
def sync_run_task(sync_run_id: int) -> None:
    """Execute a SyncRun queued by ``services.sync_now``."""
    services.run_sync(sync_run_id)


@shared_task
def sync_all_task() -> None:
    """The periodic full sync (CELERY_BEAT_SCHEDULE); skipped when one is running."""
    sync_scope(triggered_by="schedule")


@shared_task(bind=True, ignore_result=True)
def resync_scope_task(
    self, account_id: str, region: str, kinds: list[str], op_id: int | None, attempt: int = 0
) -> None:
    # A burst is still going on: wait for it to quiet down (bounded), then sync once.
    # (Eager tasks run at once: they cannot wait.)
    later = 0.0 if self.request.is_eager else services.resync_postponed(account_id, region, kinds)
    if later > 0.05:
        self.apply_async((account_id, region, kinds, op_id, attempt), countdown=later)
        return
    run = services.resync_scope(account_id, region, kinds, op_id)
    if services.resync_again(run, attempt) and not self.request.is_eager:
        # Another sync held the scope (it may have read AWS before the operation's
        # change, or its worker died holding the lease): try again later.
        self.apply_async(
            (account_id, region, kinds, op_id, attempt + 1),
            countdown=services.resync_interval(),
        )
