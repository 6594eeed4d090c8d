"""``{% load guard_tags %}{% resource_findings object.arn %}`` on a resource page: the
posture findings of that resource (evaluates only its account: bounded queries)."""

from __future__ import annotations

from django import template

from estate.checks import findings_for

register = template.Library()


@register.inclusion_tag("guard/_resource_findings.html")
def resource_findings(arn: str) -> dict:
    return {"resource_findings": findings_for(arn)}
