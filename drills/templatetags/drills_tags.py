"""``{% drill_summary resource %}``: the last failover and restore drill of a resource,
its schedules and links, for resource detail pages (three small queries)."""

from __future__ import annotations

from typing import Any

from django import template

from drills.models import DrillRun, DrillSchedule, DrillType
from estate.roles import MANAGE_DRILLS

register = template.Library()


@register.inclusion_tag("drills/_summary.html", takes_context=True)
def drill_summary(context: dict[str, Any], resource: Any) -> dict[str, Any]:
    arn = getattr(resource, "arn", "")
    runs = DrillRun.objects.filter(target_arn=arn).exclude(status="skipped")
    request = context.get("request")
    user = getattr(request, "user", None)
    return {
        "resource": resource,
        "last_failover": runs.filter(drill_type=DrillType.FAILOVER).first(),
        "last_restore": runs.filter(drill_type=DrillType.RESTORE).first(),
        "schedules": list(DrillSchedule.objects.filter(target_arn=arn, enabled=True)[:5]),
        "can_manage": bool(user and user.has_perm(MANAGE_DRILLS)),
    }
