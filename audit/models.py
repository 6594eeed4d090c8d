"""The audit trail: one append-only row per thing someone did or tried to do.

Append-only is enforced in three layers: the model refuses ``save()`` of an existing
row and ``delete()``; its queryset refuses ``update()`` and ``delete()``; and on
PostgreSQL a trigger (migration 0002) rejects UPDATE and DELETE on the table, so not
even raw SQL from the application can rewrite history.

The one change the trigger allows is the database setting ``actor_id`` to NULL when the
user is deleted (``on_delete=SET_NULL``): the event keeps ``username``, so the record of
who did it survives while the user row does not have to live forever.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnlyError(Exception):
    """Someone tried to change or delete an audit event."""


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"
    DENIED = "denied", "Denied"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")

    # bulk_update goes through update(); bulk_create is allowed (it only appends).


class AuditEvent(models.Model):
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    # Kept even when the user row is deleted, and for failed logins of unknown users.
    username = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=100, db_index=True)
    # An ARN or an object label ("account 111111111111", "user alice").
    target = models.CharField(max_length=1024, blank=True, db_index=True)
    target_url = models.CharField(max_length=1024, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS, db_index=True
    )
    details = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["-at", "-id"], name="audit_event_recent")]

    def __str__(self) -> str:
        who = self.username or "anonymous"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.target} ({self.outcome})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be changed once written")
        # force_insert: never let Django fall back to an UPDATE for an explicit pk.
        kwargs["force_insert"] = True
        kwargs.pop("force_update", None)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")
