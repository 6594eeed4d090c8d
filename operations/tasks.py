"""Thin Celery tasks: they take ids and call the engine or a service, nothing else.

``acks_late`` (settings) means a worker killed mid-step leaves its message to be
redelivered; the engine's lease and idempotent steps make the redelivery harmless, and
the reaper covers messages the broker only redelivers after its visibility timeout.
"""

from __future__ import annotations

from celery import shared_task

from operations import engine, services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_operation_task(op_id: int) -> str | None:
    return engine.advance(op_id)


@shared_task(ignore_result=True)
def reap_overdue_operations_task() -> int:
    return len(services.reap_overdue())


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


@shared_task(ignore_result=True)
def expire_clones_task() -> int:
    return len(services.expire_clones())
