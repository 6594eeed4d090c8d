"""Template tags for the Actions menu and a resource's recent operations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.db.models import Count, Q
from django.utils import timezone

from operations import registry
from operations.models import ACTIVE, Operation, State

register = template.Library()

RECENT = 5


@register.simple_tag(takes_context=True)
def resource_actions(context: template.Context, resource: Any) -> list[Any]:
    """The kinds valid for ``resource`` in its current state that the user may run."""
    user = context.get("user")
    if resource is None or user is None or not user.is_authenticated:
        return []
    return [
        kind
        for kind in sorted(registry.applicable_to(resource), key=lambda k: k.label)
        if user.has_perm(kind.permission())
    ]


@register.simple_tag
def resource_operations(resource: Any, limit: int = RECENT) -> list[Operation]:
    """The resource's recent operations, active ones first (one query)."""
    arn = getattr(resource, "arn", "")
    if not arn:
        return []
    return list(
        Operation.objects.filter(target_arn=arn)
        .select_related("requested_by")
        .running_first()[:limit]
    )


@register.filter
def op_tone(state: str) -> str:
    """A badge tone for an operation state (the CSS classes of estate.css)."""
    return {
        "queued": "tone-unknown",
        "running": "tone-busy",
        "waiting": "tone-busy",
        "cancelling": "tone-warn",
        "succeeded": "tone-ok",
        "failed": "tone-bad",
        "cancelled": "tone-off",
    }.get(state, "tone-unknown")


@register.filter
def level_tone(level: str) -> str:
    return {"success": "tone-ok", "warning": "tone-warn", "error": "tone-bad"}.get(level, "")


# The overview's window for failed operations.
FAILED_DAYS = 7


@register.inclusion_tag("operations/_overview.html")
def operations_overview(limit: int = RECENT) -> dict[str, Any]:
    """The overview's Operations section: what runs now (active first, up to ``limit``)
    and counts of the active, the awaiting approval and the recently failed (two
    queries)."""
    since = timezone.now() - timedelta(days=FAILED_DAYS)
    counts = Operation.objects.aggregate(
        active=Count("pk", filter=Q(state__in=ACTIVE)),
        awaiting=Count("pk", filter=Q(state=State.AWAITING_APPROVAL)),
        failed=Count("pk", filter=Q(state=State.FAILED, finished_at__gte=since)),
    )
    active = (
        list(Operation.objects.active().select_related("requested_by").running_first()[:limit])
        if counts["active"]
        else []
    )
    return {
        "counts": counts,
        "active": active,
        "failed_days": FAILED_DAYS,
        "failed_from": since.date().isoformat(),
    }
