"""Operations: long, risky AWS work run as resumable step machines, with a timeline.

The state machine lives here, in one place (``TRANSITIONS``): four-eyes approval
(issue 6) will add an ``awaiting_approval`` state in front of ``queued`` by adding it to
``State``, ``ACTIVE`` and ``TRANSITIONS`` (and to the partial unique constraint, so an
operation waiting for approval already holds its target).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class State(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for AWS"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Awaiting approval counts as active: a request waiting for its second Admin already
# holds its target, so a second request on it is refused.
ACTIVE: frozenset[str] = frozenset(
    {State.AWAITING_APPROVAL, State.QUEUED, State.RUNNING, State.WAITING, State.CANCELLING}
)
TERMINAL: frozenset[str] = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})

# Which state may follow which. Anything else is a bug and raises.
TRANSITIONS: dict[str, frozenset[str]] = {
    # Approved -> queued; rejected or expired -> cancelled.
    State.AWAITING_APPROVAL: frozenset({State.QUEUED, State.CANCELLED}),
    State.QUEUED: frozenset({State.RUNNING, State.CANCELLED, State.CANCELLING, State.FAILED}),
    State.RUNNING: frozenset(
        {State.WAITING, State.RUNNING, State.SUCCEEDED, State.FAILED, State.CANCELLING}
    ),
    State.WAITING: frozenset({State.RUNNING, State.SUCCEEDED, State.CANCELLING, State.FAILED}),
    State.CANCELLING: frozenset({State.CANCELLING, State.CANCELLED, State.FAILED}),
    State.SUCCEEDED: frozenset(),
    State.FAILED: frozenset(),
    State.CANCELLED: frozenset(),
}


# The page of each kind of mirrored resource an operation can target (by model label).
RESOURCE_PAGES = {
    "estate.DbInstance": "instance",
    "estate.DbCluster": "cluster",
    "estate.GlobalCluster": "global_cluster",
    "estate.DbProxy": "proxy",
    "estate.CacheReplicationGroup": "cache_group",
    "estate.DmsReplicationTask": "dms_task",
}


class OperationQuerySet(models.QuerySet):
    def active(self) -> OperationQuerySet:
        return self.filter(state__in=ACTIVE)

    def for_target(self, arn: str) -> OperationQuerySet:
        return self.filter(target_arn=arn)

    def running_first(self) -> OperationQuerySet:
        """Active operations first, then the newest."""
        return self.annotate(
            _active=models.Case(
                models.When(state__in=ACTIVE, then=models.Value(0)),
                default=models.Value(1),
                output_field=models.IntegerField(),
            )
        ).order_by("_active", "-created_at", "-id")


class Operation(models.Model):
    # Indexed in Meta.indexes (plain btrees: no LIKE-pattern twins on a hot table).
    kind = models.CharField(max_length=64)
    target_arn = models.CharField(max_length=1024)
    # A human label for the target (its identifier) and where it lives.
    target_label = models.CharField(max_length=255, blank=True)
    account = models.ForeignKey(
        "estate.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    region = models.CharField(max_length=32, blank=True)
    # The mirrored row, when the target is one (kept loose: sync owns those rows).
    target_model = models.CharField(max_length=64, blank=True)
    target_pk = models.BigIntegerField(null=True, blank=True)
    mutating = models.BooleanField(default=True)
    destructive = models.BooleanField(default=False)
    params = models.JSONField(default=dict, blank=True)
    # Indexed with next_run_at (op_state_due), which serves lookups by state alone.
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operations",
    )
    # Who asked when no person did ("schedule: clone expiry").
    requested_by_label = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    step_index = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=64, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    step_attempts = models.PositiveIntegerField(default=0)
    # When the next step is due; the reaper re-enqueues operations left overdue.
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the operation while it runs a step; a lease that ran out means
    # the worker died and another may take over.
    lease_token = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Whether AWS has been asked to change something yet (decides what cancel means).
    mutation_started = models.BooleanField(default=False)
    cancel_requested = models.BooleanField(default=False)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # never looked up by; a user's deletion may scan
    )
    # Four-eyes (issue 6): who approved (or rejected), when, why, and until when a
    # request may wait for that decision.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # never looked up by; a user's deletion may scan
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)
    approval_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    progress = models.FloatField(null=True, blank=True)  # 0..100 where known
    # Scratch the steps keep between runs (what they saw before acting).
    memory = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    objects = OperationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one active mutating operation per target: the database, not a
            # check-then-insert, decides between two simultaneous requests.
            models.UniqueConstraint(
                fields=["target_arn"],
                condition=Q(mutating=True, state__in=sorted(ACTIVE)),
                name="one_active_mutating_operation_per_target",
            )
        ]
        # Every step rewrites the row and a change of state cannot be a HOT update: each
        # index is written again, so there are no more of them than the lookups need
        # (the list's filters, a resource's operations, the reaper's due scan).
        indexes = [
            models.Index(fields=["state", "next_run_at"], name="op_state_due"),
            models.Index(fields=["kind"], name="op_kind"),
            models.Index(fields=["target_arn"], name="op_target"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.target_label or self.target_arn} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("operations:detail", args=[self.pk])

    @property
    def target_url(self) -> str:
        """The mirrored target's page, where it has one ("" otherwise)."""
        name = RESOURCE_PAGES.get(self.target_model)
        return reverse(name, args=[self.target_pk]) if name and self.target_pk else ""

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def can_cancel(self) -> bool:
        return self.state in ACTIVE and not self.cancel_requested

    @property
    def is_awaiting_approval(self) -> bool:
        return self.state == State.AWAITING_APPROVAL

    @property
    def requester_name(self) -> str:
        if self.requested_by_id:
            return self.requested_by.get_username()
        return self.requested_by_label or "system"

    @property
    def kind_label(self) -> str:
        from operations import registry

        kind = registry.get(self.kind)
        return kind.label if kind else self.kind

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()

    def can_become(self, state: str) -> bool:
        return state in TRANSITIONS.get(self.state, frozenset())


class OperationEvent(models.Model):
    class Level(models.TextChoices):
        INFO = "info", "Info"
        SUCCESS = "success", "Success"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    step = models.CharField(max_length=64, blank=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.step} {self.message}"


def event(
    op: Operation, message: str, *, step: str = "", level: str = "info", **data: Any
) -> OperationEvent:
    return OperationEvent.objects.create(
        operation=op, step=step or op.current_step, level=level, message=message, data=data
    )
