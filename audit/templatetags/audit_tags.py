"""``{% load audit_tags %}{% audit_trail object.arn %}`` on a resource page: its latest
audit events (one query) and a link to the filtered audit page."""

from __future__ import annotations

from django import template

from audit.queries import events_for_target

register = template.Library()


@register.inclusion_tag("audit/_resource_events.html")
def audit_trail(target: str, limit: int = 20) -> dict:
    return {"audit_events": events_for_target(target, limit), "audit_target": target}
