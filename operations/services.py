"""Starting, cancelling and reaping operations (everything with side effects).

``start_operation`` validates in this order and stops at the first problem, creating
nothing and calling nothing mutating: permission, kind, target, the parameter form
(against the mirror), a fresh describe (against AWS), then the database's one-active-
operation-per-target constraint.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from estate import aws
from estate.roles import RUN_DESTRUCTIVE_OPERATIONS
from operations import engine, registry
from operations.kinds.base import Kind, LiveContext, json_params
from operations.models import ACTIVE, Operation, State, event

log = logging.getLogger(__name__)


class OperationRefused(Exception):
    """The request was refused before anything happened. ``errors`` maps a form field
    (or ``"__all__"``) to messages, for showing inline."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {"__all__": [message]}


class OperationConflict(OperationRefused):
    """Another mutating operation is already active on the target."""

    def __init__(self, running: Operation) -> None:
        self.running = running
        super().__init__(
            f"Operation #{running.pk} ({running.kind_label}, {running.get_state_display()}, "
            f"requested by {running.requester_name}) is already running on "
            f"{running.target_label or running.target_arn}. Wait for it to end or cancel it."
        )


def kind_for(name: str) -> type[Kind]:
    kind = registry.get(name)
    if kind is None:
        raise OperationRefused(f"Unknown operation kind {name!r}.")
    return kind


def check_permission(user: Any, kind: type[Kind]) -> None:
    if user is None:
        return  # the system itself (a schedule) starts it
    if not user.has_perm(kind.permission()):
        raise PermissionDenied(
            f"{kind.label} needs the permission {kind.permission()} "
            f"({'Admin' if kind.destructive else 'Operator'} role)."
        )


def resolve_target(kind: type[Kind], target: Any) -> Any:
    """The mirrored row the operation targets (given the row itself or its ARN)."""
    if isinstance(target, kind.target_model):
        row = target
    else:
        row = kind.target_model.objects.select_related("account").filter(arn=str(target)).first()
        if row is None:
            raise OperationRefused(
                f"{target} is not a known {kind.target_model._meta.verbose_name}; "
                "sync the account first."
            )
    if row.gone_at is not None:
        raise OperationRefused(f"{row.identifier} no longer exists in AWS (gone since sync).")
    return row


def validate(kind: type[Kind], target: Any, params: dict[str, Any]) -> tuple[dict, LiveContext]:
    """Validate parameters against the mirror, then against a fresh describe."""
    form = kind.form_class(params, target=target, kind=kind)
    if not form.is_valid():
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        first = next(iter(errors.values()))[0]
        raise OperationRefused(first, errors)
    cleaned = json_params(form.cleaned_data)
    live = LiveContext(target.account, target.region)
    try:
        kind.check_live(target, cleaned, live)
    except ValidationError as exc:
        messages = exc.messages
        raise OperationRefused(messages[0], {"__all__": messages}) from exc
    except aws.AwsError as exc:
        message = f"AWS said {exc.code}: {exc.message}"
        if exc.hint:
            message += f" — {exc.hint}"
        raise OperationRefused(message) from exc
    return cleaned, live


def start_operation(
    kind: str,
    target: Any,
    params: dict[str, Any] | None,
    *,
    requested_by: Any,
    requested_by_label: str = "",
    request: Any = None,
) -> Operation:
    """Validate and queue an operation; raises ``PermissionDenied``,
    ``OperationRefused`` (bad input, with per-field errors) or ``OperationConflict``.
    Nothing is created and AWS is only described when it refuses."""
    kind_class = kind_for(kind)
    check_permission(requested_by, kind_class)
    row = resolve_target(kind_class, target)
    cleaned, live = validate(kind_class, row, dict(params or {}))
    if kind_class.mutating:
        running = Operation.objects.active().filter(target_arn=row.arn, mutating=True).first()
        if running is not None:
            raise OperationConflict(running)
    op = Operation(
        kind=kind_class.name,
        target_arn=row.arn,
        target_label=row.identifier,
        account=row.account,
        region=row.region,
        target_model=row._meta.label,
        target_pk=row.pk,
        mutating=kind_class.mutating,
        destructive=kind_class.destructive,
        params=cleaned,
        memory=live.memory,
        requested_by=requested_by,
        requested_by_label=requested_by_label,
        next_run_at=timezone.now(),
    )
    needs_approval = needs_four_eyes(kind_class, row)
    if needs_approval:
        # Not due until a second Admin approves: the reaper and workers leave it alone.
        op.state = State.AWAITING_APPROVAL
        op.next_run_at = None
        op.approval_expires_at = timezone.now() + timedelta(seconds=approval_ttl_seconds())
    try:
        with transaction.atomic():
            op.save()
    except IntegrityError as exc:
        # Lost the race to a simultaneous request: the constraint decided.
        running = Operation.objects.active().filter(target_arn=row.arn, mutating=True).first()
        if running is None:
            raise
        raise OperationConflict(running) from exc
    who = requested_by.get_username() if requested_by is not None else requested_by_label
    event(op, f"Requested by {who or 'the system'}.", step="")
    engine.audit(op, "requested", actor=requested_by, request=request)
    if needs_approval:
        event(op, "Waiting for a second Admin's approval", step="", level="warning")
        engine.audit(op, "approval_requested", actor=requested_by, request=request)
        return op
    enqueue(op.pk)
    return op


# --- four-eyes approval (issue 6) ----------------------------------------------------


def approval_ttl_seconds() -> float:
    return float(getattr(settings, "OPERATIONS_APPROVAL_TTL_SECONDS", 86400))


def needs_four_eyes(kind_class: type[Kind], row: Any) -> bool:
    """A destructive or data-losing operation on a production account's resource waits
    for a second Admin."""
    account = getattr(row, "account", None)
    return bool(
        kind_class.destructive and account is not None and account.environment == "production"
    )


def _check_decision(op: Operation, by: Any, comment: str, verb: str) -> str:
    if by is None or not by.has_perm(RUN_DESTRUCTIVE_OPERATIONS):
        raise PermissionDenied(
            f"Only an Admin ({RUN_DESTRUCTIVE_OPERATIONS}) may {verb} an operation."
        )
    if op.state != State.AWAITING_APPROVAL:
        raise OperationRefused(
            f"Operation #{op.pk} is not awaiting approval ({op.get_state_display()})."
        )
    if op.approval_expires_at is not None and op.approval_expires_at <= timezone.now():
        raise OperationRefused(f"Operation #{op.pk}'s approval request has expired.")
    if op.requested_by_id is not None and op.requested_by_id == by.pk:
        raise OperationRefused(
            f"You requested operation #{op.pk}: a different Admin must {verb} it (four eyes)."
        )
    comment = (comment or "").strip()
    if not comment:
        raise OperationRefused(
            f"Say why you {verb} it: a comment is required.", {"comment": ["Required."]}
        )
    return comment


def _decide(op: Operation, *, by: Any, comment: str, state: str) -> bool:
    """Move an awaiting, unexpired operation to ``state``; only one decision wins."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": state,
        "approved_by": by,
        "decided_at": now,
        "decision_comment": comment,
    }
    if state == State.QUEUED:
        fields["next_run_at"] = now
    else:
        fields.update(finished_at=now, next_run_at=None)
    won = (
        Operation.objects.filter(pk=op.pk, state=State.AWAITING_APPROVAL)
        .filter(Q(approval_expires_at__isnull=True) | Q(approval_expires_at__gt=now))
        .update(**fields)
    )
    op.refresh_from_db()
    return bool(won)


def _audit_refused_decision(
    op: Operation, by: Any, verb: str, exc: Exception, request: Any, *, denied: bool
) -> None:
    """A refused approval or rejection changed nothing, but the attempt (a requester
    approving their own operation, a non-Admin, a stale form) belongs on the record."""
    from audit.services import record

    record(
        f"operation.{verb}_refused",
        actor=by,
        target=op.target_arn,
        outcome="denied" if denied else "failure",
        details={
            "operation": op.pk,
            "kind": op.kind,
            "state": op.state,
            "reason": getattr(exc, "message", None) or str(exc),
        },
        target_url=op.get_absolute_url(),
        request=request,
    )


def _decision_allowed(op: Operation, by: Any, comment: str, verb: str, request: Any) -> str:
    """``_check_decision``, with a refusal audited before it is raised."""
    try:
        return _check_decision(op, by, comment, verb)
    except PermissionDenied as exc:
        _audit_refused_decision(op, by, verb, exc, request, denied=True)
        raise
    except OperationRefused as exc:
        # Deciding one's own operation breaks four eyes: denied, not a mere failure.
        own = by is not None and op.requested_by_id == getattr(by, "pk", None)
        _audit_refused_decision(op, by, verb, exc, request, denied=own)
        raise


def _lost_decision(op: Operation, by: Any, verb: str, request: Any) -> OperationRefused:
    exc = OperationRefused(
        f"Operation #{op.pk} was decided or expired meanwhile ({op.get_state_display()})."
    )
    _audit_refused_decision(op, by, verb, exc, request, denied=False)
    return exc


def approve_operation(op: Operation, *, by: Any, comment: str, request: Any = None) -> Operation:
    """A second Admin approves a waiting operation: it is queued and runs. A refusal
    (``PermissionDenied``, ``OperationRefused``) changes nothing and is audited."""
    comment = _decision_allowed(op, by, comment, "approve", request)
    if not _decide(op, by=by, comment=comment, state=State.QUEUED):
        raise _lost_decision(op, by, "approve", request)
    event(op, f"Approved by {by.get_username()}: {comment}", step="", level="success")
    engine.audit(op, "approved", actor=by, request=request)
    enqueue(op.pk)
    return op


def reject_operation(op: Operation, *, by: Any, comment: str, request: Any = None) -> Operation:
    """A second Admin rejects a waiting operation: it is cancelled, nothing ran. A
    refusal changes nothing and is audited."""
    comment = _decision_allowed(op, by, comment, "reject", request)
    if not _decide(op, by=by, comment=comment, state=State.CANCELLED):
        raise _lost_decision(op, by, "reject", request)
    event(op, f"Rejected by {by.get_username()}: {comment}", step="", level="warning")
    engine.audit(op, "rejected", actor=by, request=request)
    return op


def expire_approvals(now: Any = None) -> list[int]:
    """Cancel operations whose approval request ran out. Returns their ids."""
    now = now or timezone.now()
    expired: list[int] = []
    candidates = Operation.objects.filter(
        state=State.AWAITING_APPROVAL, approval_expires_at__lte=now
    ).values_list("pk", flat=True)[:1000]
    for pk in list(candidates):
        done = Operation.objects.filter(
            pk=pk, state=State.AWAITING_APPROVAL, approval_expires_at__lte=now
        ).update(state=State.CANCELLED, finished_at=now, next_run_at=None)
        if not done:
            continue  # decided meanwhile
        op = Operation.objects.get(pk=pk)
        event(op, "Approval expired", step="", level="warning")
        engine.audit(op, "approval_expired", actor=None, outcome="failure")
        expired.append(pk)
    return expired


def cancel_operation(op: Operation, *, by: Any, request: Any = None) -> Operation:
    """Ask an active operation to stop. A queued one that no worker holds is cancelled
    at once; otherwise the engine stops it between steps (and, where AWS cannot stop
    what it started, once AWS is done), saying so in the timeline."""
    kind_class = registry.get(op.kind)
    if kind_class is not None:
        check_permission(by, kind_class)
    if op.state not in ACTIVE:
        raise OperationRefused(f"Operation #{op.pk} has already ended ({op.get_state_display()}).")
    now = timezone.now()
    label = by.get_username() if by is not None else "the system"
    # Queued and not held by a worker: nothing has happened yet, cancel right here.
    done = (
        Operation.objects.filter(
            pk=op.pk,
            state__in=[State.QUEUED, State.AWAITING_APPROVAL],
            started_at__isnull=True,
            # A worker that died after a checkpoint left a queued operation whose AWS
            # call may have been made: only the engine may decide what happened.
            mutation_started=False,
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            state=State.CANCELLED,
            cancel_requested=True,
            cancel_requested_by=by,
            finished_at=now,
            next_run_at=None,
        )
    )
    if done:
        op.refresh_from_db()
        event(op, f"Cancelled by {label} before it started.", step="", level="warning")
        engine.audit(op, "cancelled", actor=by, request=request)
        return op
    Operation.objects.filter(pk=op.pk, state__in=ACTIVE).update(
        cancel_requested=True, cancel_requested_by=by, next_run_at=now
    )
    op.refresh_from_db()
    event(op, f"Cancel requested by {label}.", step=op.current_step, level="warning")
    engine.audit(op, "cancel_requested", actor=by, request=request)
    enqueue(op.pk)
    return op


# --- running ------------------------------------------------------------------------


def enqueue(op_id: int, countdown: float = 0) -> None:
    """Schedule ``advance_operation_task(op_id)`` once the current transaction commits.

    With ``CELERY_TASK_ALWAYS_EAGER`` (unit tests) nothing is enqueued: eager mode would
    ignore the countdown and recurse; tests drive operations in-process instead."""
    from estate.celery import app
    from operations.tasks import advance_operation_task

    if app.conf.task_always_eager:
        return
    transaction.on_commit(
        lambda: advance_operation_task.apply_async((op_id,), countdown=max(0.0, countdown))
    )


def follow_up(op_id: int, ran: engine.Advanced | None) -> None:
    """After a worker's run: enqueue the next one when it is due, and ask the mirror to
    resync what a succeeded operation changed."""
    if ran is None:
        return
    if ran.run_again_in is not None:
        enqueue(op_id, ran.run_again_in)
    if ran.resyncs:
        from estate.services import schedule_resync

        for resync in ran.resyncs:
            schedule_resync(resync.account_id, resync.region, list(resync.kinds), resync.op_id)


# --- the reaper ----------------------------------------------------------------------


def reap_overdue(now: Any = None) -> list[int]:
    """Re-enqueue active operations whose next step is overdue by more than the grace
    period and that no live worker holds (the worker died, the broker lost the
    message). Returns their ids. Running it twice is harmless: claims are exclusive."""
    from operations.tasks import advance_operation_task

    now = now or timezone.now()
    # Approval requests that ran out are cancelled here too (the same periodic task).
    expire_approvals(now)
    grace = timedelta(seconds=float(getattr(settings, "OPERATIONS_REAPER_GRACE_SECONDS", 60)))
    overdue = list(
        Operation.objects.filter(state__in=ACTIVE, next_run_at__lt=now - grace)
        .exclude(state=State.AWAITING_APPROVAL)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", "next_run_at")[:1000]
    )
    for pk, due in overdue:
        late = (now - due).total_seconds()
        Operation.objects.filter(pk=pk).update(next_run_at=now)
        event(
            Operation(pk=pk),
            f"Overdue by {late:.0f} s (worker or broker lost?): re-enqueued by the reaper.",
            step="",
            level="warning",
        )
        advance_operation_task.apply_async((pk,))
    return [pk for pk, _ in overdue]


# --- clone expiry --------------------------------------------------------------------


def expire_clones(now: Any = None) -> list[Operation]:
    """Start a delete operation for each clone whose expiry has passed (once)."""
    now = now or timezone.now()
    started: list[Operation] = []
    # (expiry_handled is checked in Python: a JSON key that is absent compares as NULL,
    # which an exclude() would silently drop on some databases.)
    clones = Operation.objects.filter(
        kind="clone_cluster", state=State.SUCCEEDED, result__has_key="expires_at"
    )
    for op in clones:
        if op.result.get("expiry_handled"):
            continue
        expires = op.result.get("expires_at")
        if not expires or datetime.fromisoformat(expires) > now:
            continue
        clone_arn = op.result.get("clone_arn", "")
        try:
            started.append(
                start_operation(
                    "delete_clone",
                    clone_arn,
                    {
                        "final_snapshot": bool(op.params.get("final_snapshot_on_expiry")),
                        "confirm": op.result.get("clone_identifier", ""),
                    },
                    requested_by=None,
                    requested_by_label=f"schedule: expiry of clone from operation #{op.pk}",
                )
            )
        except OperationRefused as exc:
            event(op, f"Clone expired but its deletion was refused: {exc.message}", level="error")
            continue
        op.result["expiry_handled"] = True
        Operation.objects.filter(pk=op.pk).update(result=op.result)
    return started
