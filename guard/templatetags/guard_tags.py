"""``{% load guard_tags %}``

* ``{% resource_findings object.arn %}`` on a resource page: the posture findings of
  that resource (evaluates only its account: bounded queries).
* ``{{ finding.evidence|evidence }}``: the evidence as (label, text) pairs
  (``guard.evidence.readable``), for ``{% for label, value in ... %}``.
* ``{% posture_counts as posture %}`` on the overview: open findings by severity
  (``guard.rules.finding_counts``, cached). A tag rather than the overview view's
  context, so that estate's views do not import guard (a higher layer).
"""

from __future__ import annotations

from typing import Any

from django import template

from guard import evidence as evidence_text
from guard.rules import finding_counts, findings_for

register = template.Library()


@register.inclusion_tag("guard/_resource_findings.html")
def resource_findings(arn: str) -> dict:
    return {"resource_findings": findings_for(arn)}


@register.simple_tag
def posture_counts() -> dict[str, Any]:
    return finding_counts()


@register.filter
def evidence(value: dict[str, Any]) -> list[tuple[str, str]]:
    return evidence_text.readable(value or {})
