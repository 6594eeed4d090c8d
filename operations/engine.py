"""The step machine that advances an Operation.

``advance(op_id)`` is all a worker does: claim the operation with a conditional update
(a lease, so two workers never run the same step, and a dead worker's lease runs out),
run its current step (and the next ones while they finish at once, within a short
budget), record events, and either finish, fail, or schedule itself again with a
countdown. No worker ever sleeps while AWS works.

Crash safety comes from three things together: a step saves what it saw before a
mutating call and re-describes before making it (so a re-run skips the call), the task
is acknowledged late (a killed worker's message is redelivered), and the reaper
re-enqueues any operation whose next step is overdue.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from estate import aws
from operations import registry, rows
from operations.kinds.base import Done, Fail, Kind, LeaseLost, Outcome, Step, StepContext, Wait
from operations.models import ACTIVE, TERMINAL, Operation, OperationEvent, State

log = logging.getLogger(__name__)

# Fields a worker writes back after a step (never cancel_requested: a user sets that
# while the worker runs, and the worker must not overwrite it).
_SAVED_FIELDS = (
    "state",
    "started_at",
    "finished_at",
    "step_index",
    "current_step",
    "step_started_at",
    "step_attempts",
    "next_run_at",
    "mutation_started",
    "progress",
    "memory",
    "result",
    "error",
)


def lease_seconds() -> float:
    return float(getattr(settings, "OPERATIONS_STEP_LEASE_SECONDS", 300))


def chain_seconds() -> float:
    return float(getattr(settings, "OPERATIONS_CHAIN_SECONDS", 5))


def backoff(attempt: int) -> float:
    """Seconds before retrying a throttled/unavailable call: 2, 4, 8 ... capped at 60."""
    return float(min(60, 2 ** max(1, attempt)))


# --- enqueueing ----------------------------------------------------------------------


def enqueue(op_id: int, countdown: float = 0) -> None:
    """Schedule ``advance_operation_task(op_id)`` once the current transaction commits.

    With ``CELERY_TASK_ALWAYS_EAGER`` (unit tests) nothing is enqueued: eager mode would
    ignore the countdown and recurse; tests drive operations with ``drive()``."""
    from estate.celery import app

    if app.conf.task_always_eager:
        return
    from operations.tasks import advance_operation_task

    transaction.on_commit(
        lambda: advance_operation_task.apply_async((op_id,), countdown=max(0.0, countdown))
    )


# --- claiming ------------------------------------------------------------------------


def claim(op_id: int, *, force: bool = False) -> tuple[Operation, str] | None:
    """Take the operation's lease if it is active, due and not held by a live worker."""
    token = uuid.uuid4().hex
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds())
    # An operation awaiting approval is never run, whatever wakes it (four-eyes).
    runnable = ACTIVE - {State.AWAITING_APPROVAL}
    if rows.single_statement():
        op = rows.claim(op_id, token, until, now, runnable, due=not force)
        return None if op is None else (op, token)
    due = Q() if force else Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    taken = Operation.objects.filter(due & free, pk=op_id, state__in=runnable).update(
        lease_token=token, lease_until=until
    )
    if not taken:
        return None
    op = Operation.objects.select_related("account", "requested_by").get(pk=op_id)
    return op, token


def _note(
    op: Operation, message: str, *, step: str | None = None, level: str = "info", **data: Any
) -> None:
    """Add a timeline event, written with the operation's next save (one insert for
    all of a run's events: at hundreds of concurrent operations, writes add up)."""
    pending: list[OperationEvent] = op.__dict__.setdefault("_pending_events", [])
    pending.append(
        OperationEvent(
            operation_id=op.pk,
            step=op.current_step if step is None else step,
            level=level,
            message=message,
            data=data,
        )
    )


# What a checkpoint writes: what the step saw and is about to do. Not the state, the
# start time, the timeline or the audit records: those are written by the save that
# ends the run, so a worker that dies in between leaves the operation looking as it did
# before the run, and the re-run records its start (and audits it) once.
_CHECKPOINT_FIELDS = ("memory", "result", "progress", "mutation_started")


def _checkpoint(op: Operation, token: str) -> bool:
    """Before a mutating call: one UPDATE of ``_CHECKPOINT_FIELDS``, renewing the lease,
    if we still hold it. (It is on every mutating step's path: at hundreds of concurrent
    operations the round trips add up.)"""
    fields: dict[str, Any] = {name: getattr(op, name) for name in _CHECKPOINT_FIELDS}
    fields["lease_until"] = timezone.now() + timedelta(seconds=lease_seconds())
    saved = rows.update_if_leased(op.pk, token, fields)
    if not saved:
        log.warning("operation %s: lease lost at a checkpoint; another worker took over", op.pk)
    return saved


def _save(op: Operation, token: str) -> bool:
    """At the end of a run: every field, the pending timeline events and audit records,
    all or nothing, releasing the lease, if we still hold it (one statement on
    PostgreSQL, a transaction elsewhere)."""
    fields: dict[str, Any] = {name: getattr(op, name) for name in _SAVED_FIELDS}
    fields.update(lease_token="", lease_until=None)
    pending: list[OperationEvent] = op.__dict__.get("_pending_events", [])
    audits = [
        event
        for record in op.__dict__.get("_pending_audits", [])
        if (event := audit_event(op, **record)) is not None
    ]
    if rows.single_statement():
        saved = rows.save_with_rows(op.pk, token, fields, [pending, audits])
    else:
        with transaction.atomic():
            saved = rows.update_if_leased(op.pk, token, fields)
            if saved:
                OperationEvent.objects.bulk_create(pending)
                for event in audits:
                    event.save()
    if not saved:
        log.warning("operation %s: lease lost before saving; another worker took over", op.pk)
        return False
    op.__dict__.pop("_pending_events", None)
    op.__dict__.pop("_pending_audits", None)
    return True


def _audit_later(op: Operation, transition: str, **kwargs: Any) -> None:
    """Record a transition with the operation's next save (same transaction)."""
    op.__dict__.setdefault("_pending_audits", []).append({"transition": transition, **kwargs})


def _set_state(op: Operation, state: str) -> None:
    if state != op.state and not op.can_become(state):
        raise RuntimeError(f"operation {op.pk}: {op.state} -> {state} is not allowed")
    op.state = state


# --- audit ---------------------------------------------------------------------------


def audit(op: Operation, transition: str, **kwargs: Any) -> None:
    """One audit event per operation transition (the audit app records it)."""
    event = audit_event(op, transition, **kwargs)
    if event is not None:
        event.save()


def audit_event(
    op: Operation,
    transition: str,
    *,
    actor: Any = None,
    outcome: str = "success",
    request: Any = None,
) -> Any:
    """The audit event of a transition, unsaved (None without the audit app)."""
    try:
        from audit.services import build
    except ImportError:  # the audit app is optional in this module's own tests
        return None
    return build(
        f"operation.{transition}",
        actor=actor if actor is not None else op.requested_by,
        target=op.target_arn,
        outcome=outcome,
        details={
            "operation": op.pk,
            "kind": op.kind,
            "params": op.params,
            "state": op.state,
            **({"error": op.error} if op.error else {}),
        },
        target_url=op.get_absolute_url(),
        request=request,
    )


# --- running -------------------------------------------------------------------------


def advance(op_id: int, *, force: bool = False) -> str | None:
    """Run the operation's due step(s). Returns its state afterwards, or None when it
    was not ours to run (not due, held by another worker, already finished)."""
    claimed = claim(op_id, force=force)
    if claimed is None:
        return None
    op, token = claimed
    kind_class = registry.get(op.kind)
    if kind_class is None:
        op.error = f"Unknown operation kind {op.kind!r}: this Estate version cannot run it."
        _finish(op, State.FAILED)
        _save(op, token)
        return op.state
    kind = kind_class()
    ctx = StepContext(
        op,
        checkpoint=lambda: _checkpoint(op, token),
        note=lambda message, level, data: _note(op, message, level=level, **data),
    )
    if op.started_at is None:
        op.started_at = timezone.now()
        _set_state(op, State.RUNNING)
        _note(op, f"Started by a worker ({kind.label}).", step="")
        _audit_later(op, "started")
    chain_until = time.monotonic() + chain_seconds()
    while True:
        if op.step_index >= len(kind.steps):
            _succeed(op, kind)
            break
        if op.cancel_requested and _handle_cancel(op, kind):
            break
        step = kind.steps[op.step_index]
        if op.current_step != step.name:
            op.current_step = step.name
            op.step_started_at = timezone.now()
            op.step_attempts = 0
            op.memory.pop("_last_wait", None)
            _note(op, f"{step.label}", step=step.name)
        if op.state == State.WAITING:
            _set_state(op, State.RUNNING)
        try:
            outcome = _run_step(op, kind, step, ctx)
        except LeaseLost:
            # Another worker runs it now; this run's unsaved work is dropped.
            return None
        # The step's run ended normally and will be saved: it was not interrupted.
        op.memory.pop("_mutating_step", None)
        if isinstance(outcome, Done):
            if outcome.message:
                _note(op, outcome.message, step=step.name, level="success")
            op.result.update(outcome.result)
            op.step_index += 1
            # Steps done, where the kind reports no finer progress of its own.
            op.progress = max(op.progress or 0.0, 100.0 * op.step_index / len(kind.steps))
            if op.cancel_requested and step.settles and op.state == State.CANCELLING:
                _cancelled(
                    op, "AWS finished what it had started; the remaining steps were skipped."
                )
                break
            if time.monotonic() < chain_until:
                continue
            op.next_run_at = timezone.now()
            if op.state == State.RUNNING:
                _set_state(op, State.WAITING)
            _save(op, token)
            enqueue(op.pk, 0)
            return op.state
        if isinstance(outcome, Wait):
            waited = (timezone.now() - op.step_started_at).total_seconds()
            if waited > step.budget_seconds:
                op.error = (
                    f"{step.label}: still not done after {waited:.0f} s "
                    f"(the step allows {step.budget_seconds:.0f} s). Last state: "
                    f"{outcome.message or 'unknown'}. Check the resource in the AWS console."
                )
                _note(op, op.error, step=step.name, level="error")
                _finish(op, State.FAILED)
                break
            if outcome.progress is not None:
                op.progress = outcome.progress
            if outcome.message and op.memory.get("_last_wait") != outcome.message:
                # Log a wait once per distinct message, not on every poll.
                op.memory["_last_wait"] = outcome.message
                _note(op, outcome.message, step=step.name)
            op.next_run_at = timezone.now() + timedelta(seconds=outcome.seconds)
            if op.state == State.RUNNING:
                _set_state(op, State.WAITING)
            _save(op, token)
            enqueue(op.pk, outcome.seconds)
            return op.state
        # Fail
        op.error = outcome.reason + (f" — {outcome.hint}" if outcome.hint else "")
        _note(op, op.error, step=step.name, level="error")
        _finish(op, State.FAILED)
        break
    _save(op, token)
    return op.state


def _run_step(op: Operation, kind: Kind, step: Step, ctx: StepContext) -> Outcome:
    op.step_attempts += 1
    try:
        return kind.run(step, ctx)
    except LeaseLost:
        raise
    except (aws.AwsThrottled, aws.AwsUnavailable) as exc:
        waited = (timezone.now() - op.step_started_at).total_seconds()
        delay = backoff(op.step_attempts)
        if waited + delay > step.budget_seconds:
            return Fail(f"AWS kept answering {exc.code}: {exc.message}", exc.hint)
        _note(
            op,
            f"AWS answered {exc.code}: {exc.message}. Retrying in {delay:.0f} s.",
            step=step.name,
            level="warning",
        )
        return Wait(delay)
    except aws.AwsError as exc:
        hint = exc.hint or "Check the resource in the AWS console, then start a new operation."
        return Fail(f"AWS refused {exc.operation or 'the call'}: {exc.code}: {exc.message}", hint)
    except Exception as exc:  # a bug must fail the operation, not wedge it
        log.exception("operation %s step %s crashed", op.pk, step.name)
        return Fail(f"Estate error in step {step.name}: {exc!r}", "Report this to the Estate team.")


def _finish(op: Operation, state: str) -> None:
    _set_state(op, state)
    op.finished_at = timezone.now()
    op.next_run_at = None
    transition = {State.SUCCEEDED: "finished", State.FAILED: "failed"}.get(state, "cancelled")
    _audit_later(op, transition, outcome="success" if state != State.FAILED else "failure")


def _succeed(op: Operation, kind: Kind) -> None:
    op.progress = 100.0
    _note(op, "Operation succeeded.", step="", level="success")
    _finish(op, State.SUCCEEDED)
    request_resync(op, kind)


def _cancelled(op: Operation, message: str) -> None:
    if op.state != State.CANCELLING:
        _set_state(op, State.CANCELLING)
    _note(op, message, step=op.current_step, level="warning")
    _finish(op, State.CANCELLED)


def _handle_cancel(op: Operation, kind: Kind) -> bool:
    """Act on a cancel request between steps. True when the operation is now over."""
    if not op.mutation_started:
        _cancelled(op, "Cancelled before any change was made in AWS.")
        return True
    step = kind.steps[op.step_index] if op.step_index < len(kind.steps) else None
    if step is not None and op.memory.get("_mutating_step") == step.name:
        # A worker died inside this step after its checkpoint: it may or may not have
        # reached AWS, and re-running the step could make the call the user cancelled.
        _cancelled(
            op,
            f'Cancelled. A worker stopped during "{step.label}" after it was about to call '
            f"AWS: AWS may have accepted that call. Check {op.target_label} in the AWS "
            "console; Estate asked nothing more.",
        )
        return True
    if step is not None and step.settles:
        if op.state != State.CANCELLING:
            _set_state(op, State.CANCELLING)
            _note(
                op,
                f"Cancel requested: {kind.cannot_stop}. Estate waits until AWS is done, "
                "then stops without running the remaining steps.",
                step=step.name,
                level="warning",
            )
        return False
    _cancelled(
        op,
        "Cancelled between steps. What AWS already did stays done; the remaining steps "
        "were skipped.",
    )
    return True


# --- resync after success ------------------------------------------------------------


def request_resync(op: Operation, kind: Kind) -> None:
    """Ask for a targeted resync of what the operation changed (debounced per scope,
    so a burst of operations in one region costs one sync, not hundreds)."""
    if not kind.resync_kinds or op.account_id is None:
        return
    from operations.services import schedule_resync

    for region in kind.resync_regions(op):
        schedule_resync(op.account.account_id, region, list(kind.resync_kinds), op.pk)


# --- driving without a broker (tests, management commands) ---------------------------


def drive(op_id: int, *, timeout: float = 20.0, interval: float = 0.01) -> Operation:
    """Advance an operation in this process until it ends (or ``timeout``), ignoring
    countdowns: what a worker would do, minus the waiting between polls."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        advance(op_id, force=True)
        op = Operation.objects.get(pk=op_id)
        if op.state in TERMINAL:
            return op
        if time.monotonic() > deadline:
            raise TimeoutError(f"operation {op_id} still {op.state} after {timeout}s: {op.error}")
        pause.wait(interval)


def timeline(op: Operation) -> list[OperationEvent]:
    return list(op.events.all())
