"""Thin Celery tasks: they take ids and call the engine or a service, nothing else.

``acks_late`` (settings) means a worker killed mid-step leaves its message to be
redelivered; the engine's lease and idempotent steps make the redelivery harmless, and
the reaper covers messages the broker only redelivers after its visibility timeout.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from operations import engine, services

# PostgreSQL restarting (connections cut, new ones refused): the run is retried with
# backoff rather than dropped; whatever it had not saved is redone from the last
# checkpoint. (The reaper is the backstop if even that runs out.)
_DATABASE_DOWN = (OperationalError, InterfaceError)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=_DATABASE_DOWN,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=20,
)
def advance_operation_task(op_id: int) -> str | None:
    ran = engine.advance(op_id)
    services.follow_up(op_id, ran)
    return None if ran is None else ran.state


@shared_task(ignore_result=True)
def reap_overdue_operations_task() -> int:
    return len(services.reap_overdue())


@shared_task(ignore_result=True)
def expire_clones_task() -> int:
    return len(services.expire_clones())
