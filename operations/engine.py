"""The step machine that advances an Operation.

``advance(op_id)`` is all a worker does: claim the operation with a conditional update
(a lease, so two workers never run the same step, and a dead worker's lease runs out),
run its current step (and the next ones while they finish at once, within a short
budget), record events, and either finish or fail, or say when it should run again.
It returns what should happen next (``Advanced``): the task re-enqueues itself with
that countdown and asks the mirror for a resync; the engine itself imports neither
tasks nor other apps' services. No worker ever sleeps while AWS works.

Crash safety comes from three things together: a step saves what it saw before a
mutating call and re-describes before making it (so a re-run skips the call), the task
is acknowledged late (a killed worker's message is redelivered), and the reaper
re-enqueues any operation whose next step is overdue.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from estate import aws
from operations import registry, rows
from operations.kinds.base import (
    AMBIGUOUS,
    CALLING,
    Done,
    Fail,
    Kind,
    LeaseLost,
    Outcome,
    Step,
    StepContext,
    StepInterrupted,
    Wait,
    poll_interval,
    unanswered,
)
from operations.models import ACTIVE, Operation, OperationEvent, State

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


# --- what a run leaves to do --------------------------------------------------------


@dataclass(frozen=True)
class Resync:
    """Mirror these kinds of one account/region again (the operation changed them)."""

    account_id: str
    region: str
    kinds: tuple[str, ...]
    op_id: int


@dataclass(frozen=True)
class Advanced:
    """What a run of ``advance`` left: the operation's state, when it should run again
    (seconds; None once it has ended), and the resyncs its success asks for."""

    state: str
    run_again_in: float | None = None
    resyncs: tuple[Resync, ...] = ()


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


def call_lease_seconds() -> float:
    """The lease a checkpoint takes before a mutating call: long enough for the call's
    one attempt to time out (connect + read) with room to save, whatever the configured
    step lease, so that no other worker takes the operation over while AWS may still be
    applying the call."""
    longest_call = float(settings.AWS_CONNECT_TIMEOUT) + float(settings.AWS_READ_TIMEOUT)
    # A few seconds to record the answer once it came.
    return max(lease_seconds(), longest_call + 5.0)


def _checkpoint(op: Operation, token: str) -> bool:
    """Before a mutating call: one UPDATE of ``_CHECKPOINT_FIELDS``, renewing the lease,
    if we still hold it. (It is on every mutating step's path: at hundreds of concurrent
    operations the round trips add up.)"""
    fields: dict[str, Any] = {name: getattr(op, name) for name in _CHECKPOINT_FIELDS}
    fields["lease_until"] = timezone.now() + timedelta(seconds=call_lease_seconds())
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


def advance(op_id: int, *, force: bool = False) -> Advanced | None:
    """Run the operation's due step(s). Returns what is left to do (``Advanced``), or
    None when it was not ours to run (not due, held by another worker, finished) or
    another worker took it over meanwhile."""
    claimed = claim(op_id, force=force)
    if claimed is None:
        return None
    op, token = claimed
    kind_class = registry.get(op.kind)
    if kind_class is None:
        op.error = f"Unknown operation kind {op.kind!r}: this Estate version cannot run it."
        _finish(op, State.FAILED)
        return _ended(op, token)
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
    _interrupted_run(op, kind)
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
            op.memory.pop(AMBIGUOUS, None)
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
        op.memory.pop(CALLING, None)
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
            return Advanced(op.state, 0.0) if _save(op, token) else None
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
            return Advanced(op.state, outcome.seconds) if _save(op, token) else None
        # Fail
        op.error = outcome.reason + (f" — {outcome.hint}" if outcome.hint else "")
        _note(op, op.error, step=step.name, level="error")
        _finish(op, State.FAILED)
        break
    return _ended(op, token, kind)


def _ended(op: Operation, token: str, kind: Kind | None = None) -> Advanced | None:
    """Save an operation that reached a terminal state; a success asks for a resync of
    what it changed."""
    if not _save(op, token):
        return None
    resyncs: tuple[Resync, ...] = ()
    if op.state == State.SUCCEEDED and kind is not None:
        resyncs = resyncs_after(op, kind)
    return Advanced(op.state, None, resyncs)


def _interrupted_run(op: Operation, kind: Kind) -> None:
    """A run that died after checkpointing a mutating call (``memory[CALLING]``) may or
    may not have reached AWS: the step's re-run treats that call like one that got no
    answer (it re-describes, and does not send the call again)."""
    calling = op.memory.get(CALLING)
    if not calling or op.step_index >= len(kind.steps):
        return
    if kind.steps[op.step_index].name != calling.get("step") or op.memory.get(AMBIGUOUS):
        return
    op.memory[AMBIGUOUS] = unanswered(
        calling, "the worker sending it stopped before it recorded AWS's answer"
    )


def _run_step(op: Operation, kind: Kind, step: Step, ctx: StepContext) -> Outcome:
    op.step_attempts += 1
    try:
        return kind.run(step, ctx)
    except LeaseLost:
        raise
    except StepInterrupted as interruption:
        return interruption.outcome
    except aws.AwsAmbiguous as exc:
        # StepContext.call recorded it: the step's re-run re-describes and never sends
        # the call again.
        _note(
            op,
            f"No usable answer from AWS to {exc.operation or 'the call'} ({exc.code}). AWS "
            "may have applied it: Estate re-describes the target to find out and does not "
            "send it again.",
            step=step.name,
            level="warning",
        )
        return Wait(min(poll_interval(op), 2.0))
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


def resyncs_after(op: Operation, kind: Kind) -> tuple[Resync, ...]:
    """The targeted resyncs of what a succeeded operation changed (the mirror debounces
    them per scope, so a burst of operations in one region costs one sync)."""
    if not kind.resync_kinds or op.account_id is None:
        return ()
    return tuple(
        Resync(op.account.account_id, region, tuple(kind.resync_kinds), op.pk)
        for region in kind.resync_regions(op)
    )


def timeline(op: Operation) -> list[OperationEvent]:
    return list(op.events.all())
